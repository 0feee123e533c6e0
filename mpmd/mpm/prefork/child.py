"""The serving loop of a prefork child (imported only inside the child).

One connection at a time: wait in epoll for a listener (see
:mod:`mpmd.mpm.acceptor` for how several children and several listeners
share the work), pause the listeners, serve the connection to its end with
the blocking driver, resume.  An idle child wakes once a second to check that
its master still lives.
"""

from __future__ import annotations

import select
import time
from typing import NoReturn

import structlog

from mpmd.errors import ChildExit
from mpmd.http.blocking import ConnectionSettings, serve_connection
from mpmd.http.exchange import Handler
from mpmd.logs.access import open_access_logs
from mpmd.mpm.acceptor import PROBE_INTERVAL, Accepted, Acceptor
from mpmd.mpm.base import ChildContext
from mpmd.mpm.child import ChildControl, enter_child, exit_child, load_handler, master_alive
from mpmd.mpm.recorder import SlotRecorder
from mpmd.mpm.recycle import RecycleMonitor
from mpmd.scoreboard.states import State
from mpmd.status.handler import extended_status_enabled

log = structlog.get_logger("mpmd.prefork")

PARENT_CHECK_INTERVAL = 1.0  # seconds an idle child sleeps before re-checking its master
#: connections a stopping child takes over from the listen queue (see mpm.acceptor)
LEFTOVERS = 4


class PreforkChild:
    """The serving loop of one prefork child."""

    def __init__(self, ctx: ChildContext, control: ChildControl, handler: Handler) -> None:
        self.ctx = ctx
        self.control = control
        self.handler = handler
        self.settings = ConnectionSettings.from_config(ctx.config)
        self.recorder = SlotRecorder(
            ctx.scoreboard, ctx.slot, 0, open_access_logs(ctx.config),
            extended_status_enabled(ctx.config),
        )
        self.epoll = select.epoll()
        self.epoll.register(control.wake_r.fileno(), select.EPOLLIN)
        self.acceptor = Acceptor(ctx.listeners, self.epoll)
        self.recycle = RecycleMonitor(ctx)

    def run(self) -> int:
        # Logged before the slot says READY: the master acts on READY (a
        # replacement is ready, the old child may go), so the log keeps that order.
        log.debug("child_ready")
        self.recorder.idle()
        while not (self.control.stopping or self.recycle.exit_now):
            accepted = self._wait_for_connection()
            if accepted is None:
                continue
            self.recycle.connection()
            self._serve(accepted)
            self.recycle.check_memory()
        self.acceptor.pause()
        for accepted in self.acceptor.leftovers(LEFTOVERS):
            self._serve(accepted)
        self.ctx.scoreboard.worker(self.ctx.slot).status = State.GRACEFUL.value
        return ChildExit.OK

    def _wait_for_connection(self) -> Accepted | None:
        self.acceptor.resume()
        events = self.epoll.poll(min(PARENT_CHECK_INTERVAL, PROBE_INTERVAL))
        if not master_alive(self.ctx.master_pid):
            exit_child(ChildExit.OK)
        ready = self.acceptor.probe({fd for fd, _ in events}, time.monotonic())
        if self.control.wake_r.fileno() in ready:
            self.control.drain_wakeups()
        # Accept even when stopping: an exclusive wake-up came here, and no
        # other child is woken for this connection.
        return self.acceptor.accept(ready)

    def _serve(self, accepted: Accepted) -> None:
        self.acceptor.pause()
        self.recorder.connection_started(accepted.client)
        try:
            serve_connection(
                accepted.sock,
                accepted.client,
                accepted.server,
                self.handler,
                self.settings,
                self.recorder,
                lambda: self.control.stopping,
            )
        except Exception:
            log.exception("connection_failed")
        finally:
            accepted.sock.close()
            self.recorder.idle()


def main(ctx: ChildContext) -> NoReturn:
    """The child's whole life after fork: bootstrap, load the application, serve."""
    control = enter_child(ctx, "prefork")
    handler = load_handler(ctx, "prefork", multithread=False)
    exit_child(PreforkChild(ctx, control, handler).run())
