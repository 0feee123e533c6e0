"""Socket activation (sd_listen_fds(3)): listening sockets handed over by systemd.

systemd (or ``systemd-socket-activate``) binds the sockets of ``mpmd.socket``,
then starts the master with them open at file descriptors 3, 4, … and the
environment ``LISTEN_PID`` (the pid they are meant for), ``LISTEN_FDS`` (how
many) and ``LISTEN_FDNAMES`` (colon-separated ``FileDescriptorName=`` values).
:func:`inherited_sockets` takes them over; :func:`match` pairs them with the
``Listen`` addresses of the configuration by their bound address, so the
configuration stays the single description of where mpmd listens.

Guarantees, as ``sd_listen_fds(1)`` — i.e. with ``unset_environment`` — does:

* the three variables are removed from the environment whatever they held,
  so nothing mpmd starts later takes the sockets for its own;
* the sockets are used only when ``LISTEN_PID`` is this process (a variable
  inherited from a parent is ignored);
* each descriptor gets ``FD_CLOEXEC``.  That does not keep them from mpmd's
  children: children are forked, not executed, and a fork copies every
  descriptor; it keeps them from programs an application executes, exactly
  like the sockets the master binds itself (Python creates those
  non-inheritable);
* each socket is made non-blocking, as :mod:`mpmd.master.listeners` makes
  the ones it binds (children wait for them in a poller).  The flag is on
  the open file description systemd shares; systemd does not accept on a
  ``Accept=no`` socket, so that is harmless.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass

from mpmd.config.model import ListenAddress
from mpmd.errors import StartupError

#: sd-daemon.h SD_LISTEN_FDS_START: the first passed descriptor
LISTEN_FDS_START = 3
_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
#: the name sd_listen_fds_with_names(3) reports when none was given
UNKNOWN_NAME = "unknown"


@dataclass(frozen=True)
class InheritedSocket:
    """One passed descriptor: its number, its ``FileDescriptorName=`` and the socket."""

    fd: int
    name: str
    sock: socket.socket

    @property
    def listening(self) -> bool:
        """A listening stream socket (what ``ListenStream=`` passes)."""
        return (self.sock.type == socket.SOCK_STREAM
                and bool(self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)))

    @property
    def address(self) -> ListenAddress | None:
        """The bound address as a ``Listen`` address (None for an abstract or unbound one)."""
        return bound_address(self.sock)


def inherited_sockets(
    environ: MutableMapping[str, str] = os.environ, pid: int | None = None
) -> list[InheritedSocket]:
    """The sockets systemd passed to this process (none when it passed none).

    Raises :class:`StartupError` when the variables are malformed or a passed
    descriptor is not a socket — systemd never does that; a hand-made
    environment might, and the operator should hear of it.
    """
    values = {name: environ.pop(name, None) for name in _VARIABLES}
    if _pid(values["LISTEN_PID"]) != (os.getpid() if pid is None else pid):
        return []
    count = _count(values["LISTEN_FDS"])
    names = _names(values["LISTEN_FDNAMES"], count)
    return [_adopt(LISTEN_FDS_START + i, names[i]) for i in range(count)]


def _pid(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


def _count(value: str | None) -> int:
    try:
        count = int(value or "0")
    except ValueError:
        raise StartupError(f"LISTEN_FDS={value!r} is not a number") from None
    if count < 0:
        raise StartupError(f"LISTEN_FDS={value!r} is negative")
    return count


def _names(value: str | None, count: int) -> list[str]:
    if value is None:
        return [UNKNOWN_NAME] * count
    names = value.split(":")
    # sd_listen_fds_with_names(3) rejects a count mismatch (-EINVAL).
    if len(names) != count:
        raise StartupError(f"LISTEN_FDNAMES names {len(names)} descriptors, "
                           f"LISTEN_FDS passes {count}")
    return [name or UNKNOWN_NAME for name in names]


def _adopt(fd: int, name: str) -> InheritedSocket:
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        raise StartupError(f"LISTEN_FDS: descriptor {fd} is not open: {exc.strerror}") from exc
    if not stat.S_ISSOCK(mode):
        raise StartupError(f"LISTEN_FDS: descriptor {fd} ({name}) is not a socket")
    os.set_inheritable(fd, False)
    sock = socket.socket(fileno=fd)  # family, type and protocol from the kernel
    sock.setblocking(False)
    return InheritedSocket(fd, name, sock)


def bound_address(sock: socket.socket) -> ListenAddress | None:
    """What a socket is bound to, in the configuration's terms."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        if not name or isinstance(name, bytes) or name.startswith("\0"):
            return None  # unbound or abstract: no Listen line can name it
        return ListenAddress("unix", path=name)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        return ListenAddress("tcp", host=str(name[0]), port=int(name[1]))
    return None


def match(
    inherited: Sequence[InheritedSocket], addresses: tuple[ListenAddress, ...]
) -> tuple[dict[ListenAddress, socket.socket], list[socket.socket]]:
    """Pair ``Listen`` addresses with inherited sockets bound there.

    Returns the socket for each address that has one (the master binds the
    rest itself) and the inherited sockets no address wants (``extras``: the
    caller decides; they are open and owned by the caller).  Exact addresses
    are paired before wildcard ones, so ``Listen 80`` beside
    ``Listen 127.0.0.1:80`` does not take the loopback socket.
    """
    free = [item for item in inherited if item.listening]
    matched: dict[ListenAddress, socket.socket] = {}
    for exact in (True, False):
        for address in addresses:
            if address in matched:
                continue
            found = next((i for i in free if serves(i, address, exact=exact)), None)
            if found is not None:
                matched[address] = found.sock
                free.remove(found)
    used = {id(s) for s in matched.values()}
    return matched, [i.sock for i in inherited if id(i.sock) not in used]


def serves(item: InheritedSocket, address: ListenAddress, *, exact: bool = False) -> bool:
    """Whether ``item`` is bound where ``address`` would bind.

    A wildcard ``Listen 80`` (no host) accepts ``0.0.0.0:80`` and ``[::]:80``
    — ``ListenStream=80`` gives the latter, dual-stack.  With ``exact`` only
    the same host (or path) counts.
    """
    bound = item.address
    if bound is None or bound.kind != address.kind:
        return False
    if address.kind == "unix":
        return os.path.abspath(bound.path) == os.path.abspath(address.path)
    if bound.port != address.port:
        return False
    if not address.host:
        return not exact and _is_unspecified(bound.host)
    return _same_host(bound.host, address.host)


def _is_unspecified(host: str) -> bool:
    return ipaddress.ip_address(host).is_unspecified


def _same_host(bound: str, configured: str) -> bool:
    try:
        return ipaddress.ip_address(bound) == ipaddress.ip_address(configured)
    except ValueError:
        pass  # a host name: what it resolves to is what bind_one would bind
    try:
        infos = socket.getaddrinfo(configured, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return any(ipaddress.ip_address(str(info[4][0])) == ipaddress.ip_address(bound)
               for info in infos)
