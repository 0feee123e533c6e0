"""What commands and child exits do to a running server.

The supervisor's loop hands every command (from a signal or the control
socket: TERM/INT stop, HUP restart, USR1 graceful restart, WINCH graceful
stop, as Apache's) and every reaped child to the :class:`Dispatcher`, which
owns the server's :class:`Phase` and exit status and turns them into a
reload (the :class:`~mpmd.master.reload.Reloader`), a stop or a graceful stop
(the fleet's :class:`~mpmd.master.crew.Crew`), a spawn back-off (the fleet's
throttle), or a stop of the whole server when a child of the current
generation cannot ever start (Apache's APEXIT_CHILDFATAL).
"""

from __future__ import annotations

import enum
import signal
from typing import Any

import structlog

from mpmd.config.model import ServerConfig
from mpmd.errors import ChildExit
from mpmd.logs.failures import ChildFailure
from mpmd.master.children import ExitInfo
from mpmd.master.control import ControlRequest
from mpmd.master.fleet import Fleet
from mpmd.master.generation import Generation, Stage
from mpmd.master.progress import Progress
from mpmd.master.reload import Reloader
from mpmd.master.signals import Command
from mpmd.systemd.notify import Notifier

log = structlog.get_logger("mpmd.master")


class Phase(enum.Enum):
    RUNNING = "running"
    GRACEFUL_STOPPING = "graceful-stopping"
    STOPPING = "stopping"
    DONE = "done"


class Dispatcher:
    """Commands and exits in; the server's phase and exit status out."""

    def __init__(self, config: ServerConfig, fleet: Fleet, reloader: Reloader,
                 notifier: Notifier, progress: Progress) -> None:
        self.config = config  # the first one: what a stop before any generation uses
        self.fleet = fleet
        self.reloader = reloader
        self.notifier = notifier
        self.progress = progress
        self.phase = Phase.RUNNING
        self.exit_code = 0

    def command(self, command: Command, waiter: ControlRequest | None = None) -> None:
        """Act on ``command``; a reload's ``waiter`` is answered when it ends."""
        if command is Command.STOP:
            self.stop()
        elif command is Command.GRACEFUL_STOP:
            self.graceful_stop()
        elif command is Command.GRACEFUL:
            self.reloader.request(waiter, graceful=True)
        elif command is Command.RESTART:
            self.reloader.request(waiter, graceful=False)

    def child_exited(
        self, info: ExitInfo, generation: Generation | None, failure: ChildFailure | None
    ) -> None:
        record = info.record
        expected = info.code == 0 or record.retiring or self.phase is not Phase.RUNNING
        getattr(log, "info" if expected else "warning")(
            "child_exited",
            pid=record.pid,
            slot=record.slot,
            generation=record.generation,
            exit_code=info.code,
            signal=signal.Signals(info.signal).name if info.signal else None,
            lifetime=round(info.lifetime, 3),
        )
        if self.phase is not Phase.RUNNING or record.retiring or generation is None:
            return
        if generation.stage in (Stage.DRAINING, Stage.STOPPING):
            return  # told to go (perhaps by an earlier exit reaped in this same turn)
        if generation.stage is Stage.STAGING:
            self.reloader.child_failed(info, failure)
        elif info.code == ChildExit.CHILDFATAL and not generation.serving():
            # Apache stops on a fatal child error in the current generation; we
            # do only when nothing of it serves (e.g. the app fails at start).
            # Only this first one is logged: the others stop with the server.
            log.critical("child_fatal", pid=record.pid, action="stopping the server",
                         **_failure_keys(failure))
            self.exit_code = 1
            what = "stopping" if self.progress.ready_sent else "failed to start"
            self.stop(f"{what}: {failure.headline}" if failure else what)
        else:
            if info.code == ChildExit.CHILDFATAL:
                # Others of this generation serve (the code on disk changed under
                # it?): keep them, back off from spawning more.
                log.error("child_failed_to_start", pid=record.pid, **_failure_keys(failure))
            self.fleet.throttle.record(info, self.fleet.clock())

    def stop(self, status: str = "stopping") -> None:
        """Stop every generation with the escalation table; ``status`` goes to systemd."""
        if self.phase in (Phase.STOPPING, Phase.DONE):
            return
        log.info("server_stopping", graceful=False, children=self.fleet.child_count())
        self.phase = Phase.STOPPING
        self.notifier.stopping(status)
        self.reloader.abandon("the server is stopping")
        for generation in self.fleet:
            self.fleet.crew.stop(generation)

    def graceful_stop(self) -> None:
        """Drain every generation, bounded by GracefulShutdownTimeout."""
        if self.phase is not Phase.RUNNING:
            # A second WINCH (or one during a stop) cuts a graceful stop short.
            self.stop()
            return
        active = self.fleet.active()
        timeout = (active.config if active else self.config).graceful_shutdown_timeout
        log.info("server_stopping", graceful=True, children=self.fleet.child_count())
        self.phase = Phase.GRACEFUL_STOPPING
        self.notifier.stopping("stopping gracefully")
        self.reloader.abandon("the server is stopping")
        for generation in self.fleet:
            if generation.stage is not Stage.STOPPING:
                self.fleet.crew.drain(generation, timeout)


def _failure_keys(failure: ChildFailure | None) -> dict[str, Any]:
    """``reason`` (one line) and, when there is one, the traceback as ``exception``
    (structlog's key: the console shows it below the event, JSON as a string)."""
    if failure is None:
        return {"reason": None}
    if failure.details:
        return {"reason": failure.headline, "exception": failure.details}
    return {"reason": failure.headline}
