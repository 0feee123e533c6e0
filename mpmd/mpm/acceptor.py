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

The exclusive wake-up has one hazard: it goes to one child, and if that child
then stops (a graceful restart, a recycled child) without accepting, no other
child is woken for that connection until the next one arrives.  So a child
never drops what it was woken for: a stopping child still accepts from the
listeners its last wait reported, and after its final :meth:`Acceptor.pause`
takes over the connections already waiting (:meth:`Acceptor.leftovers`).  And
as a safety net every idle child probes its listeners level-triggered once per
:data:`PROBE_INTERVAL` (:meth:`Acceptor.probe`), so an orphaned connection
waits at most that long whatever happened.
"""

from __future__ import annotations

import select
import socket
from typing import NamedTuple

import structlog

from mpmd.http.exchange import Address

log = structlog.get_logger("mpmd.acceptor")

#: seconds between an idle child's level-triggered looks at its listeners
PROBE_INTERVAL = 0.5


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
        self._probe = select.poll()
        for fd in self._order:
            self._probe.register(fd, select.POLLIN)
        self._probed_at = 0.0

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

    def pending(self) -> set[int]:
        """Listeners with a connection waiting now (level-triggered, no wait)."""
        return {fd for fd, _ in self._probe.poll(0)}

    def probe(self, ready: set[int], now: float) -> set[int]:
        """``ready`` plus, at most once per PROBE_INTERVAL and only while
        listening, any listener with a connection whose wake-up went astray."""
        if not self.listening or now - self._probed_at < PROBE_INTERVAL:
            return ready
        self._probed_at = now
        if any(fd in self._by_fd for fd in ready):
            return ready
        return ready | self.pending()

    def leftovers(self, limit: int) -> list[Accepted]:
        """After the final pause: accept up to ``limit`` connections already
        waiting (their wake-up may have come here; see the module docstring)."""
        taken: list[Accepted] = []
        while len(taken) < limit and (ready := self.pending()):
            accepted = self.accept(ready)
            if accepted is None:
                break  # another child took it
            taken.append(accepted)
        return taken

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
