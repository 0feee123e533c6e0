"""Accepting connections in a child: the listeners in the child's own epoll.

Every listener is registered with ``EPOLLEXCLUSIVE``, so a new connection
wakes one waiting child, not all of them (no thundering herd; Apache needs an
accept mutex for that).  A child that cannot take a connection now (a
prefork child serving one, a worker child with no idle thread, an event
child over its admission limit) *pauses*: it removes the listeners from its
epoll, so the kernel's exclusive wake-up always lands on a child that can
take the connection at once and a busy child never absorbs one.  Among
several ready listeners a child takes them in turn (round-robin from the last
one served), so no listener starves.
"""

from __future__ import annotations

import select
import socket
from typing import NamedTuple

import structlog

from mpmd.http.exchange import Address

log = structlog.get_logger("mpmd.acceptor")


class Accepted(NamedTuple):
    sock: socket.socket
    client: Address
    server: Address


class Acceptor:
    """The listeners of one child, in an epoll the caller owns."""

    def __init__(self, listeners: tuple[socket.socket, ...], epoll: select.epoll) -> None:
        self._epoll = epoll
        self._by_fd = {s.fileno(): s for s in listeners}
        self._order = [s.fileno() for s in listeners]
        # A listener bound to one address always reports that address.
        self._fixed: dict[int, Address] = {
            s.fileno(): _address(s.getsockname())
            for s in listeners
            if s.family == socket.AF_UNIX or _address(s.getsockname())[0] not in ("0.0.0.0", "::")
        }
        self._next = 0
        self.listening = False

    def owns(self, fd: int) -> bool:
        return fd in self._by_fd

    def resume(self) -> None:
        if not self.listening:
            for fd in self._order:
                self._epoll.register(fd, select.EPOLLIN | select.EPOLLEXCLUSIVE)
            self.listening = True

    def pause(self) -> None:
        if self.listening:
            for fd in self._order:
                self._epoll.unregister(fd)
            self.listening = False

    def accept(self, ready: set[int] | frozenset[int]) -> Accepted | None:
        """Accept one connection from the ready listeners, in turn; None if
        another child was faster."""
        n = len(self._order)
        for i in range(n):
            fd = self._order[(self._next + i) % n]
            if fd in ready and (accepted := self._accept_one(fd)) is not None:
                self._next = (self._next + i + 1) % n
                return accepted
        return None

    def _accept_one(self, fd: int) -> Accepted | None:
        try:
            sock, client = self._by_fd[fd].accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return None  # another child was faster, or the client gave up
        except OSError as exc:  # EMFILE and friends: report, keep serving
            log.warning("accept_failed", error=str(exc))
            return None
        server = self._fixed.get(fd) or _address(sock.getsockname())
        return Accepted(sock, _address(client), server)


def _address(addr: object) -> Address:
    if isinstance(addr, tuple):
        return (str(addr[0]), int(addr[1]))
    return addr.decode() if isinstance(addr, bytes) else str(addr or "")
