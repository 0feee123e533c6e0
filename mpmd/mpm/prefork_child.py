"""The serving loop of a prefork child (imported only inside the child).

Accepting with several listeners (Apache serialises with an accept mutex):
each child waits in its own epoll on every listener registered with
``EPOLLEXCLUSIVE``, so a new connection wakes one waiting child, not all of
them (no thundering herd).  A child removes the listeners from its epoll while
it serves a connection and adds them back when it is idle again, so the
kernel's exclusive wake-up always lands on a child that can take the
connection now; a busy child never absorbs a wake-up and leaves the
connection queued.  Among several ready listeners a child takes them in turn
(round-robin from the last one served), so no listener starves.  With one
listener this costs two ``epoll_ctl`` calls per connection.
"""

from __future__ import annotations

import select
import socket

import structlog

from mpmd.errors import ChildExit
from mpmd.http.blocking import ConnectionSettings, serve_connection
from mpmd.http.exchange import Address, Handler
from mpmd.logs.access import open_access_logs
from mpmd.mpm.base import ChildContext
from mpmd.mpm.child import ChildControl, exit_child, master_alive
from mpmd.mpm.recorder import SlotRecorder
from mpmd.scoreboard.states import State

log = structlog.get_logger("mpmd.prefork")

PARENT_CHECK_INTERVAL = 1.0  # seconds an idle child sleeps before re-checking its master


class PreforkChild:
    """The serving loop of one prefork child."""

    def __init__(self, ctx: ChildContext, control: ChildControl, handler: Handler) -> None:
        self.ctx = ctx
        self.control = control
        self.handler = handler
        self.settings = ConnectionSettings.from_config(ctx.config)
        config = ctx.config
        extended = bool(config.extended_status)
        self.recorder = SlotRecorder(
            ctx.scoreboard, ctx.slot, 0, open_access_logs(config), extended
        )
        self.epoll = select.epoll()
        self.epoll.register(control.wake_r.fileno(), select.EPOLLIN)
        self.by_fd = {s.fileno(): s for s in ctx.listeners}
        self.order = [s.fileno() for s in ctx.listeners]
        self.next_index = 0
        self.listening = False
        self.max_connections = ctx.config.mpm_settings.max_connections_per_child

    def run(self) -> int:
        served = 0
        self.recorder.idle()
        log.debug("child_ready")
        while not self.control.stopping:
            conn = self._wait_for_connection()
            if conn is None:
                continue
            self._serve(*conn)
            served += 1
            if self.max_connections and served >= self.max_connections:
                log.info("child_recycling", connections=served)
                break
        self.ctx.scoreboard.worker(self.ctx.slot).status = State.GRACEFUL.value
        return ChildExit.OK

    def _wait_for_connection(self) -> tuple[socket.socket, object, object] | None:
        self._listen(True)
        events = self.epoll.poll(PARENT_CHECK_INTERVAL)
        if not master_alive(self.ctx.master_pid):
            exit_child(ChildExit.OK)
        ready = {fd for fd, _ in events}
        if self.control.wake_r.fileno() in ready:
            self.control.drain_wakeups()
        if self.control.stopping:
            return None
        return self._accept_round_robin(ready)

    def _accept_round_robin(
        self, ready: set[int]
    ) -> tuple[socket.socket, object, object] | None:
        n = len(self.order)
        for i in range(n):
            fd = self.order[(self.next_index + i) % n]
            if fd not in ready:
                continue
            try:
                sock, client = self.by_fd[fd].accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                continue  # another child was faster, or the client gave up
            except OSError as exc:
                log.warning("accept_failed", error=str(exc))
                continue
            self.next_index = (self.next_index + i + 1) % n
            return sock, client, self.by_fd[fd].getsockname()
        return None

    def _listen(self, on: bool) -> None:
        """(Un)register the listeners: see the module docstring for why."""
        if on == self.listening:
            return
        for fd in self.order:
            if on:
                self.epoll.register(fd, select.EPOLLIN | select.EPOLLEXCLUSIVE)
            else:
                self.epoll.unregister(fd)
        self.listening = on

    def _serve(self, sock: socket.socket, client: object, server: object) -> None:
        self._listen(False)
        client_addr = _address(client)
        self.recorder.connection_started(client_addr)
        try:
            serve_connection(
                sock,
                client_addr,
                _address(server),
                self.handler,
                self.settings,
                self.recorder,
                lambda: self.control.stopping,
            )
        except Exception:
            log.exception("connection_failed")
        finally:
            sock.close()
            self.recorder.idle()


def _address(addr: object) -> Address:
    if isinstance(addr, tuple):
        return (str(addr[0]), int(addr[1]))
    return addr.decode() if isinstance(addr, bytes) else str(addr or "")
