"""The system lookups configuration checking needs: host names, users, groups.

Apache resolves these while it reads the configuration (``Listen`` in
``alloc_listener``, ``User``/``Group`` in ``ap_uname2id``/``ap_gname2id``), so
``httpd -t`` already refuses an address it could never bind or a user it
could never become.  mpmd does the same, and with the directive's file and
line (Apache prints none for ``User``).

Resolution stays quick on a machine without DNS:

* IP literals never reach the resolver (the parser has normalised them);
* a dotted all-numeric name is an ``inet_aton`` address (``127.1``) or, like
  ``999.1.1.1``, refused without a lookup: RFC 1123 section 2.1 rules out
  host names of that form;
* a name in the reserved ``.invalid`` domain is refused without a lookup, as
  RFC 6761 section 6.4 asks of name-resolution libraries;
* every other name is resolved with ``getaddrinfo`` once per
  (name, address family) per load (:class:`HostResolver`), for the family
  the master will bind it with.

Guarantees: each check raises :class:`~mpmd.errors.ConfigError` at the
``where`` it is given, in Apache's words; nothing here caches across loads.
"""

from __future__ import annotations

import grp
import pwd
import re
import socket

from mpmd.errors import ConfigError, Location

_NUMERIC_ID = re.compile(r"#\d+")
_ALL_NUMERIC = re.compile(r"[\d.]+")


def _resolve_failure(host: str, reason: str) -> str:
    # Apache: AH00077 in the error log, then "Listen setup failed" as the
    # syntax error of the Listen line; mpmd says both on the one line.
    return (
        f"Listen setup failed: AH00077: alloc_listener: failed to set up sockaddr for {host}: "
        f"Could not resolve host name ({reason})"
    )


class HostResolver:
    """Resolves each distinct host name once (one configuration load)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int], str | None] = {}  # -> None, or why it failed

    def check(self, host: str, family: socket.AddressFamily, where: Location) -> None:
        """Refuse ``host`` unless ``family`` addresses exist for it (``""`` = every interface)."""
        if not host or _is_literal(host):
            return
        key = (host, int(family))
        if key not in self._seen:
            self._seen[key] = _lookup(host, family)
        problem = self._seen[key]
        if problem is not None:
            raise ConfigError(_resolve_failure(host, problem), where)


def _is_literal(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


def _is_inet_aton(host: str) -> bool:
    """The shorthand IPv4 forms getaddrinfo takes without a lookup (``127.1``)."""
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def _lookup(host: str, family: socket.AddressFamily) -> str | None:
    """None when ``host`` resolves for ``family``, else the reason it does not."""
    if _ALL_NUMERIC.fullmatch(host):
        return None if _is_inet_aton(host) else (
            "not a valid IP address, and a host name cannot be all-numeric, RFC 1123 2.1"
        )
    name = host.lower()
    if name == "invalid" or name.endswith(".invalid"):
        return "names under .invalid never resolve, RFC 6761 6.4"
    try:
        found = socket.getaddrinfo(host, None, family=family, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return str(exc.strerror)
    except UnicodeError as exc:  # a label the IDNA codec refuses (e.g. longer than 63)
        return str(exc)
    return None if found else "no addresses"


def check_user(name: str, where: Location) -> None:
    """``User``: a passwd name, or Apache's ``#uid`` (which needs no passwd entry)."""
    if name.startswith("#"):
        _check_numeric("User", name, where)
        return
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise ConfigError(f"AH00543: mpmd: bad user name {name}", where) from None


def check_group(name: str, where: Location) -> None:
    """``Group``: a group name, or Apache's ``#gid``."""
    if name.startswith("#"):
        _check_numeric("Group", name, where)
        return
    try:
        grp.getgrnam(name)
    except KeyError:
        raise ConfigError(f"AH00544: mpmd: bad group name {name}", where) from None


def _check_numeric(directive: str, text: str, where: Location) -> None:
    # Apache reads "#id" with atoi(), so "#www" would silently mean 0 (root);
    # mpmd refuses anything but digits.
    if not _NUMERIC_ID.fullmatch(text):
        raise ConfigError(
            f"{directive} {text}: a numeric id is '#' followed by digits, e.g. #1000", where
        )
