"""The access log: Apache ``LogFormat`` strings compiled once, lines appended atomically.

:func:`compile_format` parses a format into a template and a list of small
callables, one per directive, so logging a request never re-parses anything.
Output follows mod_log_config: request data is escaped as
``ap_escape_logitem`` does (``"`` and ``\\`` backslashed, ``\\n``-style
escapes for common controls, ``\\xhh`` for every other non-printable byte), a
missing value is ``-``, ``%b`` writes ``-`` for an empty body.

:class:`AccessLog` writes each line with a single ``os.write`` on an
``O_APPEND`` descriptor, so lines from many processes and threads never
interleave; :meth:`AccessLog.reopen` swaps the file under the same descriptor
number (``dup2``), so a graceful restart or logrotate never loses a line.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import unquote_to_bytes

import structlog

from mpmd.config.model import ServerConfig
from mpmd.errors import ConfigError, StartupError
from mpmd.http.exchange import Address, Transaction
from mpmd.logs.setup import stderr_stream

Item = Callable[[Transaction], str]
Formatter = Callable[[Transaction], str]

#: Apache's built-in nicknames (docs "Log Files" / the default httpd.conf).
COMMON = '%h %l %u %t "%r" %>s %b'
COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'

_NEEDS_ESCAPE = re.compile(rb'[^\x20\x21\x23-\x5b\x5d-\x7e]')
_NAMED_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\", 8: "\\b", 9: "\\t", 10: "\\n",
                  11: "\\v", 13: "\\r"}
_ESCAPED = [_NAMED_ESCAPES.get(b, f"\\x{b:02x}").encode("ascii") for b in range(256)]
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: Directives Apache knows whose data mpmd does not record: always "-".
_NOT_RECORDED = frozenset({"e", "n", "C", "f", "R", "L", "X", "^ti", "^to"})


def escape(data: bytes) -> str:
    """``ap_escape_logitem``: printable ASCII stays, everything else is escaped."""
    if _NEEDS_ESCAPE.search(data) is None:
        return data.decode("ascii")
    return _NEEDS_ESCAPE.sub(lambda m: _ESCAPED[m[0][0]], data).decode("ascii")


def _host(address: Address) -> str:
    return "-" if isinstance(address, str) else address[0]  # a Unix socket has no IP


def _port(address: Address) -> str:
    return "-" if isinstance(address, str) else str(address[1])


def clf_time(seconds: int) -> str:
    """``[10/Oct/2000:13:55:36 -0700]`` in local time (English months, as Apache)."""
    tm = time.localtime(seconds)
    offset = tm.tm_gmtoff // 60
    sign = "-" if offset < 0 else "+"
    return (f"[{tm.tm_mday:02d}/{_MONTHS[tm.tm_mon - 1]}/{tm.tm_year}:"
            f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} "
            f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}]")


def _clf_time_item() -> Item:
    cache = (-1, "")  # (second, text): one localtime() per second, not per line

    def item(txn: Transaction) -> str:
        nonlocal cache
        second = int(txn.started)
        if cache[0] != second:
            cache = (second, clf_time(second))
        return cache[1]

    return item


_TIME_UNITS = {"sec": (1, 0), "msec": (1_000, 0), "usec": (1_000_000, 0),
               "msec_frac": (1_000, 1_000), "usec_frac": (1_000_000, 1_000_000)}


def _time_item(arg: str) -> Item:
    """``%{[begin:|end:]format}t``: strftime, or sec/msec/usec/msec_frac/usec_frac."""
    end = arg.startswith("end:")
    arg = arg.removeprefix("end:").removeprefix("begin:")

    def when(txn: Transaction) -> float:
        return txn.started + (txn.duration_ns / 1e9 if end else 0.0)

    if not arg:
        return lambda txn: clf_time(int(when(txn)))
    if arg in _TIME_UNITS:
        scale, modulo = _TIME_UNITS[arg]
        width = len(str(modulo)) - 1 if modulo else 0
        if modulo:
            return lambda txn: f"{int(when(txn) * scale) % modulo:0{width}d}"
        return lambda txn: str(int(when(txn) * scale))
    return lambda txn: time.strftime(arg, time.localtime(when(txn)))


def _duration_item(arg: str) -> Item:
    divisor = {"": 1_000_000_000, "s": 1_000_000_000, "ms": 1_000_000, "us": 1_000}.get(arg)
    if divisor is None:
        raise ConfigError(f"LogFormat: unknown time unit %{{{arg}}}T (s, ms, us)")
    return lambda txn: str(txn.duration_ns // divisor)


def _request_header_item(name: str) -> Item:
    key = name.lower().encode("latin-1")

    def item(txn: Transaction) -> str:
        values = [v for k, v in txn.request.headers if k.lower() == key]
        return escape(b", ".join(values)) if values else "-"  # Apache merges repeats

    return item


def _response_header_item(name: str) -> Item:
    key = name.lower()

    def item(txn: Transaction) -> str:
        values = [v for k, v in txn.response_headers if k.lower() == key]
        if not values:
            return "-"
        if key == "content-type":  # Apache logs the type without its parameters
            return escape(values[0].split(";")[0].strip().encode("latin-1", "replace"))
        value = ", ".join(values) if key == "set-cookie" else values[0]
        return escape(value.encode("latin-1", "replace"))

    return item


def _port_item(arg: str, canonical: str | None) -> Item:
    if arg == "remote":
        return lambda txn: _port(txn.client)
    if arg in ("", "canonical") and canonical:
        return lambda txn: canonical
    if arg in ("", "canonical", "local"):
        return lambda txn: _port(txn.server)
    raise ConfigError(f"LogFormat: unknown port type %{{{arg}}}p (canonical, local, remote)")


def _process_item(arg: str) -> Item:
    if arg in ("", "pid"):
        return lambda txn: str(os.getpid())  # per call: the log is opened before fork
    if arg == "tid":
        return lambda txn: str(threading.get_ident())
    if arg == "hextid":
        return lambda txn: f"{threading.get_ident():x}"
    raise ConfigError(f"LogFormat: unknown %{{{arg}}}P (pid, tid, hextid)")


def _virtual_host_item(server_host: str) -> Item:
    def item(txn: Transaction) -> str:  # %V: the Host header (UseCanonicalName Off)
        host = txn.request.header(b"host")
        if not host:
            return server_host
        name = host.partition(b"]")[0][1:] if host.startswith(b"[") else host.partition(b":")[0]
        return escape(name.lower())

    return item


def _request_line(txn: Transaction) -> str:
    """``%r``: the request line as sent (Apache's ``the_request``), "-" if none came."""
    request = txn.request
    if request.request_line:  # refused, or HTTP/1.2 served as 1.1: the bytes as sent
        return escape(request.request_line)
    if not request.method:
        return "-"
    line = b"%s %s HTTP/%s" % (request.method.encode("latin-1"), request.target,
                               request.http_version.encode("latin-1"))
    return escape(line)


def _url_path(txn: Transaction) -> str:
    path = txn.request.path
    return escape(unquote_to_bytes(path) if b"%" in path else path)


def _query(txn: Transaction) -> str:
    query = txn.request.query
    return "?" + escape(query) if query else ""


def split_server_name(server_name: str) -> tuple[str, str]:
    """ServerName ``[scheme://]host[:port]`` -> ``(host, port or "")``."""
    rest = server_name.partition("://")[2] or server_name
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        return host, tail[1:]
    host, _, port = rest.partition(":")
    return host, port


def _directives(server_name: str) -> dict[str, Callable[[str], Item]]:
    """Letter -> factory taking the ``{argument}``; the table of what is supported."""
    host, port = split_server_name(server_name)
    server_host = host or socket.gethostname()  # Apache falls back to the host's name
    return {
        "a": lambda a: lambda t: _host(t.client),
        "h": lambda a: lambda t: _host(t.client),  # HostnameLookups Off: the address
        "A": lambda a: lambda t: _host(t.server),
        "l": lambda a: lambda t: "-",  # identd is never consulted
        "u": lambda a: lambda t: "-",  # no HTTP authentication in the server
        "t": lambda a: _time_item(a) if a else _clf_time_item(),
        "r": lambda a: _request_line,
        "s": lambda a: lambda t: str(t.status),
        "b": lambda a: lambda t: str(t.body_bytes) if t.body_bytes else "-",
        "B": lambda a: lambda t: str(t.body_bytes),
        "O": lambda a: lambda t: str(t.bytes_sent),
        "I": lambda a: lambda t: str(t.bytes_received),
        "S": lambda a: lambda t: str(t.bytes_sent + t.bytes_received),
        "D": lambda a: lambda t: str(t.duration_ns // 1000),
        "T": _duration_item,
        "i": _request_header_item,
        "o": _response_header_item,
        "U": lambda a: _url_path,
        "q": lambda a: _query,
        "m": lambda a: lambda t: escape(t.request.method.encode("latin-1")),
        "H": lambda a: lambda t: "HTTP/" + t.request.http_version,
        "p": lambda a: _port_item(a, port),
        "P": _process_item,
        "k": lambda a: lambda t: str(t.keepalive_count),
        "v": lambda a: lambda t: server_host,
        "V": lambda a: _virtual_host_item(server_host),
        **{name: (lambda a: lambda t: "-") for name in _NOT_RECORDED},
    }


class _Scanner:
    """Splits a LogFormat string into literal text and directive items."""

    def __init__(self, fmt: str, table: dict[str, Callable[[str], Item]]) -> None:
        self.fmt, self.table, self.pos = fmt, table, 0

    def parts(self) -> Iterator[str | Item]:
        fmt = self.fmt
        while self.pos < len(fmt):
            char = fmt[self.pos]
            self.pos += 1
            if char == "\\":
                yield self.backslash()
            elif char == "%":
                yield self.directive()
            else:
                yield char

    def backslash(self) -> str:
        # mod_log_config: \n \t \r \\ in the format; any other pair stays as written
        if self.pos >= len(self.fmt):
            return "\\"
        char = self.fmt[self.pos]
        self.pos += 1
        return {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(char, "\\" + char)

    def directive(self) -> str | Item:
        fmt, start = self.fmt, self.pos - 1
        arg, codes, negate = "", [], False
        while self.pos < len(fmt):
            char = fmt[self.pos]
            self.pos += 1
            if char == "%" and self.pos == start + 2:
                return "%"
            if char in "<>,":  # original/final status: one and the same here
                continue
            if char == "!":
                negate = True
            elif char.isdigit():
                code = fmt[self.pos - 1:self.pos + 2]
                if not (len(code) == 3 and code.isdigit()):
                    raise ConfigError(f"LogFormat: status codes have 3 digits: {fmt[start:]!r}")
                codes.append(int(code))
                self.pos += 2
            elif char == "{":
                arg, brace, _ = fmt[self.pos:].partition("}")
                if not brace:
                    raise ConfigError(f"LogFormat: missing '}}' after {fmt[start:]!r}")
                self.pos += len(arg) + 1
            else:
                name = fmt[self.pos - 1:self.pos + 2] if char == "^" else char
                self.pos += len(name) - 1
                return self.build(name, arg, codes, negate)
        raise ConfigError(f"LogFormat: incomplete directive {fmt[start:]!r}")

    def build(self, name: str, arg: str, codes: list[int], negate: bool) -> Item:
        factory = self.table.get(name)
        if factory is None:
            raise ConfigError(f"Unrecognized LogFormat directive %{name}")
        item = factory(arg)
        if not codes:
            return item
        wanted = frozenset(codes)  # %400,501{X}i / %!200{X}i: only for these statuses
        return lambda txn: item(txn) if (txn.status in wanted) != negate else "-"


def compile_format(fmt: str, *, server_name: str = "") -> Formatter:
    """Compile an Apache LogFormat into ``f(transaction) -> line`` (no newline).

    ``server_name`` is ServerName, for ``%v``, ``%V`` and ``%p``.  Raises
    :class:`ConfigError` for an unknown directive, as Apache does at start-up.
    """
    template: list[str] = []
    items: list[Item] = []
    for part in _Scanner(fmt, _directives(server_name)).parts():
        if isinstance(part, str):
            template.append(part.replace("{", "{{").replace("}", "}}"))
        else:
            template.append("{}")
            items.append(part)
    pattern = "".join(template)
    if not items:
        line = pattern.format()
        return lambda txn: line
    render = pattern.format
    return lambda txn: render(*[item(txn) for item in items])


_STREAMS = {"stdout": 1, "stderr": 2}


def _stream_fd(target: str) -> int:
    # A child's fd 2 is the pipe that turns application output into
    # child_stderr events (mpmd.logs.capture); access lines are not that.
    return stderr_stream().fileno() if target == "stderr" else _STREAMS[target]


def _open_file(path: str) -> int:
    try:
        # Create the log directory like the PidFile's, so a fresh checkout runs.
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:  # Apache AH00649
        raise StartupError(f"could not open transfer log file {path}: {exc.strerror}") from exc


class AccessLog:
    """One ``CustomLog``: a target (file path, ``stdout`` or ``stderr``) and a format."""

    def __init__(self, target: str, formatter: Formatter, fd: int) -> None:
        self.target = target
        self.formatter = formatter
        self._fd = fd
        self._lock = threading.Lock()  # close() must not race a write to a reused fd

    @classmethod
    def open(cls, target: str, fmt: str, *, server_name: str = "") -> AccessLog:
        """Compile ``fmt`` and open ``target`` for appending (created 0644 if missing)."""
        if target.startswith("|"):
            raise ConfigError(f"CustomLog {target}: piped logs are not supported")
        formatter = compile_format(fmt, server_name=server_name)
        fd = _stream_fd(target) if target in _STREAMS else _open_file(target)
        return cls(target, formatter, fd)

    def log(self, txn: Transaction) -> None:
        """Append one line.  A failed write is reported, never raised into a request."""
        data = (self.formatter(txn) + "\n").encode("utf-8", "backslashreplace")
        with self._lock:
            if self._fd < 0:
                return  # closed at shutdown while a request was finishing
            try:
                self._write(data)
            except OSError as exc:
                structlog.get_logger("mpmd.access").error(
                    "access_log_write_failed", target=self.target, error=str(exc))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # one write for a file; a short write only on a pipe or full disk
            view = view[os.write(self._fd, view):]

    def reopen(self) -> None:
        """Point the descriptor at a fresh open of the path (after logrotate moved it)."""
        if self.target in _STREAMS:
            return
        fresh = _open_file(self.target)
        with self._lock:
            try:
                if self._fd >= 0:
                    os.dup2(fresh, self._fd, inheritable=False)
            finally:
                os.close(fresh)

    def close(self) -> None:
        """Close the file (idempotent; stdout and stderr stay open)."""
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0 and self.target not in _STREAMS:
            os.close(fd)


def open_access_logs(config: ServerConfig) -> tuple[AccessLog, ...]:
    """One open :class:`AccessLog` per ``CustomLog`` of ``config``."""
    return tuple(
        AccessLog.open(c.target, c.format, server_name=config.server_name)
        for c in config.custom_logs
    )
