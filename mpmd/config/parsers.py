"""Argument parsers for the directive table: words in, typed values out.

Each parser takes the directive's canonical name and its arguments (arity is
already checked) and returns a plain value, or raises :class:`ArgumentError`
with Apache's wording for that mistake (``KeepAlive must be On or Off``,
``ListenBacklog must be > 0`` …).  The evaluator adds the file and line.

Guarantees: parsers are pure (no filesystem access; relative paths are
resolved later against the final ServerRoot) and never return a mutable value.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from mpmd.config.model import ReadTimeoutStage

Args = tuple[str, ...]
Parser = Callable[[str, Args], object]


class ArgumentError(ValueError):
    """A directive's arguments are unusable; the message is shown as is."""


def text(name: str, args: Args) -> str:
    return args[0]


def words(name: str, args: Args) -> Args:
    return args


def flag(name: str, args: Args) -> bool:
    value = args[0].lower()
    if value not in ("on", "off"):
        raise ArgumentError(f"{name} must be On or Off")
    return value == "on"


def _integer(name: str, arg: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", arg.strip()):
        raise ArgumentError(f"Invalid value for directive {name}, expected integer")
    return int(arg)


def integer(name: str, args: Args) -> int:
    """Any integer; the MPM clamps out-of-range values with a warning."""
    return _integer(name, args[0])


def non_negative(name: str, args: Args) -> int:
    """core.c's LimitRequest* wording, used for every count that cannot be negative."""
    if not re.fullmatch(r"\+?\d+", args[0].strip()):
        raise ArgumentError(f'{name} "{args[0]}" must be a non-negative integer')
    return int(args[0])


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def size(name: str, args: Args) -> int:
    """A byte count with an optional K, M or G suffix (``512M``); 0 disables."""
    match = re.fullmatch(r"\+?(\d+)\s*([KMG]?)B?", args[0].strip(), re.IGNORECASE)
    if not match:
        raise ArgumentError(f'{name} "{args[0]}" must be a size such as 0, 800000, 512M or 2G')
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]


def backlog(name: str, args: Args) -> int:
    try:
        value = _integer(name, args[0])
    except ArgumentError:
        value = 0
    if value < 1:
        raise ArgumentError("ListenBacklog must be > 0")
    return value


def body_limit(name: str, args: Args) -> int:
    if not re.fullmatch(r"\d+", args[0]):
        raise ArgumentError("LimitRequestBody argument is not parsable.")
    return int(args[0])


def positive_number(name: str, args: Args) -> float:
    """event.c set_worker_factor(): a number, fractions allowed, > 0."""
    try:
        value = float(args[0])
    except ValueError:
        raise ArgumentError("error parsing value") from None
    if not math.isfinite(value):
        raise ArgumentError("error parsing value")
    if value <= 0:
        raise ArgumentError(f"{name} argument must be a positive number")
    return value


#: ap_timeout_parameter_parse() units; the default unit is seconds.
_TIME_UNITS = {"": 1.0, "s": 1.0, "ms": 0.001, "mi": 60.0, "h": 3600.0}


def seconds(name: str, args: Args) -> float:
    """A duration: ``5``, ``2.5``, ``500ms``, ``2mi``, ``1h`` (fractions are mpmd's)."""
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)", args[0].strip().lower())
    if match is None or match.group(2) not in _TIME_UNITS:
        raise ArgumentError(f"{name} has wrong format")
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]


_LOG_LEVELS = (
    *("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"),
    *(f"trace{n}" for n in range(1, 9)),
)


def log_level(name: str, args: Args) -> str:
    level = args[0].lower()
    if level not in _LOG_LEVELS:
        raise ArgumentError(
            "LogLevel requires level keyword: one of emerg/alert/crit/error/warn/"
            "notice/info/debug/trace1/trace2/trace3/trace4/trace5/trace6/trace7/trace8"
        )
    return level


def wsgi_app(name: str, args: Args) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", args[0]):
        raise ArgumentError(f"{name} takes module:callable, e.g. hello:app (got {args[0]!r})")
    return args[0]


def error_log(name: str, args: Args) -> str:
    if args[0].startswith("|"):
        raise ArgumentError("ErrorLog: piped logs are not supported; use stderr or a file")
    return args[0]


@dataclass(frozen=True)
class ListenSpec:
    """A parsed ``Listen`` argument; Unix paths are resolved by the builder."""

    kind: str  # "tcp" or "unix"
    host: str = ""
    port: int = 0
    path: str = ""


def _port(text_port: str) -> int:
    if not text_port.isdigit() or int(text_port) > 65535:
        raise ArgumentError("Invalid address or port")
    if int(text_port) == 0:
        # listen.c: apr_parse_addr_port() gives port 0 for "0" as for no port;
        # a kernel-chosen port would be one no client could know.
        raise ArgumentError("Port must be specified")
    return int(text_port)


def _host(host: str) -> str:
    if host in ("", "*"):
        return ""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", host) is None:
        raise ArgumentError("Invalid address or port")
    return host.lower()


def _split_host_port(address: str) -> tuple[str, str]:
    """apr_parse_addr_port(): ``[v6]:port``, ``host:port`` or a bare port."""
    if address.startswith("["):
        host, sep, rest = address[1:].partition("]")
        if not sep or ":" not in host or (rest and not rest.startswith(":")):
            raise ArgumentError("Invalid address or port")
        return host, rest[1:]
    host, sep, port = address.rpartition(":")
    if ":" in host:
        raise ArgumentError("Invalid address or port")
    if sep:
        return host, port
    return ("", address) if address.isdigit() else (address, "")


def listen(name: str, args: Args) -> ListenSpec:
    """``port``, ``host:port``, ``[v6]:port`` or ``unix:/path``, optional protocol."""
    if len(args) == 2 and args[1].lower() != "http":
        raise ArgumentError(f"Listen protocol {args[1]} is not supported; mpmd speaks plain http")
    address = args[0]
    if address.startswith("unix:"):
        if not address[5:]:
            raise ArgumentError("Listen unix: needs a socket path, e.g. unix:/run/mpmd.sock")
        return ListenSpec("unix", path=address[5:])
    host, port = _split_host_port(address)
    if not port:
        raise ArgumentError("Port must be specified")
    return ListenSpec("tcp", host=_host(host), port=_port(port))


def _stage(key: str, value: str) -> ReadTimeoutStage:
    """mod_reqtimeout set_reqtimeout_param(): ``timeout[-max][,MinRate=rate]``."""
    head, sep, rate_text = value.lower().partition(",minrate=")
    rate = _reqtimeout_int(rate_text) if sep else 0
    if sep and rate == 0:
        raise ArgumentError("Minimum data rate must be larger than 0")
    if not sep and "-" in head:
        raise ArgumentError("Must set MinRate option if using timeout range")
    first, dash, last = head.partition("-")
    timeout = _reqtimeout_int(first)
    maximum = _reqtimeout_int(last) if dash else 0
    if maximum and timeout >= maximum:
        raise ArgumentError("Maximum timeout must be larger than initial timeout")
    return ReadTimeoutStage(float(timeout), float(maximum) if maximum else None, rate)


def _reqtimeout_int(value: str) -> int:
    match = re.match(r"-?\d+", value)
    if match is None:
        raise ArgumentError(f"Value '{value}' not numerical")
    if match.end() != len(value):
        raise ArgumentError(f"Cannot parse '{value[match.end() :]}'")
    if int(value) < 0:
        raise ArgumentError("Value must be non-negative")
    return int(value)


def request_read_timeout(name: str, args: Args) -> tuple[tuple[str, ReadTimeoutStage], ...]:
    """``header=20-40,MinRate=500 body=20,MinRate=500``: the stages this directive sets."""
    stages: list[tuple[str, ReadTimeoutStage]] = []
    for word in args:
        key, sep, value = word.partition("=")
        if not sep:
            raise ArgumentError(
                "Invalid RequestReadTimeout parameter. Parameter must be in the form 'key=value'"
            )
        if key.lower() not in ("handshake", "header", "body"):
            raise ArgumentError(
                f"RequestReadTimeout: {key}={value}: Unknown RequestReadTimeout parameter"
            )
        try:
            stages.append((key.lower(), _stage(key, value)))
        except ArgumentError as exc:
            raise ArgumentError(f"RequestReadTimeout: {key}={value}: {exc}") from None
    return tuple(stages)


def _ip_word(word: str) -> None:
    try:
        ipaddress.ip_network(word, strict=False)
    except ValueError:
        # mod_authz_host also accepts a partial address: "10.1" means 10.1.0.0/16.
        if not re.fullmatch(r"\d{1,3}(\.\d{1,3}){0,3}\.?", word):
            raise ArgumentError(f"ip address '{word}' appears to be invalid") from None


def require(name: str, args: Args) -> Args:
    """mod_authz_core ``Require``: ``all granted|denied``, ``local``, ``ip ADDR…``."""
    provider, rest = args[0].lower(), args[1:]
    if provider == "all":
        if len(rest) != 1 or rest[0].lower() not in ("granted", "denied"):
            raise ArgumentError("Require all must be followed by 'granted' or 'denied'")
        return ("all", rest[0].lower())
    if provider == "local":
        if rest:
            raise ArgumentError("Require local does not take arguments")
        return ("local",)
    if provider == "ip":
        if not rest:
            raise ArgumentError("Require ip requires at least one address")
        for word in rest:
            _ip_word(word)
        return ("ip", *rest)
    raise ArgumentError(f"Unknown Authz provider: {args[0]}")


def location_path(path: str) -> str:
    """A ``<Location>`` argument: a URL path (regular expressions are not supported)."""
    if path == "~" or path.startswith("~"):
        raise ArgumentError("<Location ~ regex> is not supported; use a plain URL path")
    if not path.startswith("/"):
        raise ArgumentError(f"<Location> path must start with '/' (got {path!r})")
    return path
