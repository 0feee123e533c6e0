"""The master loop: commands in, children reaped, the MPM's plan applied.

Theory of operation.  The master sleeps in ``select`` on the signal wake-up
socket until a signal arrives or the MPM's maintenance wants to run (at most
once a second when nothing happens).  Each turn it

1. turns queued signals into phase changes (:class:`Phase`),
2. reaps every exited child, right away (SIGCHLD wakes it: a killed child is
   replaced in milliseconds, not on Apache's one-second tick),
3. while running, asks the MPM for a :class:`~mpmd.mpm.base.Plan` from a
   scoreboard snapshot and applies it; while stopping, follows the
   escalation table.

It knows no MPM by name: everything MPM-specific is behind ``self.mpm``.
"""

from __future__ import annotations

import enum
import os
import select
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import setproctitle
import structlog

from mpmd.config.model import ServerConfig
from mpmd.errors import ChildExit
from mpmd.master import listeners as listeners_mod
from mpmd.master.children import ChildTable, ExitInfo, fork_child
from mpmd.master.pidfile import remove_pidfile, write_pidfile
from mpmd.master.shutdown import Escalation
from mpmd.master.signals import Command, SignalInbox
from mpmd.master.throttle import SpawnThrottle
from mpmd.mpm.base import MPM, ChildContext, Plan
from mpmd.mpm.child import GRACEFUL_SIGNAL
from mpmd.scoreboard.board import Scoreboard

if TYPE_CHECKING:
    import socket

    from mpmd.app.runtime import Runtime
    from mpmd.http.exchange import Handler

log = structlog.get_logger("mpmd.master")

IDLE_WAKEUP = 1.0  # seconds: the longest the master sleeps with nothing to do


class Phase(enum.Enum):
    RUNNING = "running"
    GRACEFUL_STOPPING = "graceful-stopping"
    STOPPING = "stopping"
    DONE = "done"


class Supervisor:
    """Runs one server until it is stopped; :meth:`run` returns the exit status."""

    def __init__(
        self,
        config: ServerConfig,
        mpm: MPM,
        make_handler: Callable[[Runtime], Handler],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.mpm = mpm
        self.make_handler = make_handler
        self.clock = clock
        self.generation = 1
        self.phase = Phase.RUNNING
        self.exit_code = 0
        self.children = ChildTable(clock)
        self.inbox = SignalInbox()
        self.throttle = SpawnThrottle()
        self.mpm_state: Any = mpm.initial_state(config.mpm_settings)
        self.wake_at: float | None = None
        self.escalation: Escalation | None = None
        self.graceful_deadline: float | None = None
        self.listeners: tuple[socket.socket, ...] = ()
        self.scoreboard: Scoreboard | None = None

    # -- lifecycle ------------------------------------------------------------

    def run(self) -> int:
        try:
            self._start()
            while self.phase is not Phase.DONE:
                self._wait()
                self._turn()
        finally:
            self._cleanup()
        log.info("server_stopped", exit_code=self.exit_code)
        return self.exit_code

    def _start(self) -> None:
        config = self.config
        settings = config.mpm_settings
        self.listeners = listeners_mod.bind_all(config.listen, config.listen_backlog)
        if config.pid_file:
            write_pidfile(config.pid_file, os.getpid())
        threads = self.mpm.threads_per_child(settings)
        self.scoreboard = Scoreboard(settings.server_limit, threads, config.scoreboard_file)
        self.scoreboard.header.generation = self.generation
        self.inbox.install()
        setproctitle.setproctitle(
            f"mpmd: master [{self.mpm.name}, generation {self.generation}] "
            f"-f {config.config_file}"
        )
        log.info(
            "server_started",
            mpm=self.mpm.name,
            generation=self.generation,
            listen=[str(a) for a in config.listen],
            config=config.config_file,
        )

    def _cleanup(self) -> None:
        for sock in self.listeners:
            sock.close()
        listeners_mod.unlink_unix_sockets(self.config.listen)
        if self.config.pid_file:
            remove_pidfile(self.config.pid_file, os.getpid())
        self.inbox.close()
        if self.scoreboard is not None:
            self.scoreboard.close()

    # -- one turn of the loop -------------------------------------------------

    def _wait(self) -> None:
        now = self.clock()
        deadlines = [d for d in self._deadlines() if d is not None]
        timeout = min([IDLE_WAKEUP, *(max(d - now, 0.0) for d in deadlines)])
        select.select([self.inbox], [], [], timeout)

    def _deadlines(self) -> tuple[float | None, ...]:
        if self.phase is Phase.RUNNING:
            return (self.wake_at, self.throttle.not_before)
        if self.phase is Phase.STOPPING and self.escalation:
            return (self.escalation.next_deadline(),)
        return (self.graceful_deadline,)

    def _turn(self) -> None:
        for command in self.inbox.commands():
            self._on_command(command)
        for info in self.children.reap():
            self._on_exit(info)
        if self.phase is Phase.RUNNING:
            self._maintain()
        elif self.phase is Phase.GRACEFUL_STOPPING:
            self._check_graceful_deadline()
        if self.phase is Phase.STOPPING:
            self._escalate()
        if self.phase is not Phase.RUNNING and not len(self.children):
            self.phase = Phase.DONE

    def _on_command(self, command: Command) -> None:
        if command is Command.STOP:
            self._begin_stop()
        elif command is Command.GRACEFUL_STOP:
            self._begin_graceful_stop()
        elif command in (Command.RESTART, Command.GRACEFUL):
            # Restarts arrive with the reload work; until then say so plainly.
            log.warning("restart_unsupported", command=command.value)

    # -- running --------------------------------------------------------------

    def _maintain(self) -> None:
        assert self.scoreboard is not None
        snapshot = self.scoreboard.snapshot()
        plan, self.mpm_state = self.mpm.maintain(
            self.config.mpm_settings, snapshot, self.mpm_state, self.clock()
        )
        self.wake_at = plan.wake_at
        self._apply(plan)

    def _apply(self, plan: Plan) -> None:
        for event in plan.events:
            getattr(log, event.level)(event.name, **dict(event.data))
        for slot in plan.retire:
            self._retire(slot)
        if plan.spawn and not self.throttle.allows(self.clock()):
            return  # maintenance asks again once the throttle opens
        for slot in plan.spawn:
            self._spawn(slot)

    def _spawn(self, slot: int) -> None:
        assert self.scoreboard is not None
        threads = self.mpm.threads_per_child(self.config.mpm_settings)
        self.scoreboard.claim(slot, self.generation, threads)
        context = self._child_context(slot)
        pid = fork_child(lambda: self.mpm.child_main(context))
        self.scoreboard.assign(slot, pid)
        self.children.add(pid, slot, self.generation)
        log.info("child_started", pid=pid, slot=slot, generation=self.generation)

    def _child_context(self, slot: int) -> ChildContext:
        assert self.scoreboard is not None
        return ChildContext(
            config=self.config,
            generation=self.generation,
            slot=slot,
            master_pid=os.getpid(),
            listeners=self.listeners,
            scoreboard=self.scoreboard,
            make_handler=self.make_handler,
            close_fds=self.inbox.private_fds(),
        )

    def _retire(self, slot: int) -> None:
        assert self.scoreboard is not None
        record = self.children.by_slot(slot)
        if record is None:
            return
        self.scoreboard.process(slot).quiescing = 1
        self.children.mark_retiring(record.pid)
        os.kill(record.pid, GRACEFUL_SIGNAL)

    def _on_exit(self, info: ExitInfo) -> None:
        assert self.scoreboard is not None
        record = info.record
        self.scoreboard.release(record.slot)
        expected = info.code == 0 or record.retiring or self.phase is not Phase.RUNNING
        level = "info" if expected else "warning"
        getattr(log, level)(
            "child_exited",
            pid=record.pid,
            slot=record.slot,
            generation=record.generation,
            exit_code=info.code,
            signal=signal.Signals(info.signal).name if info.signal else None,
            lifetime=round(info.lifetime, 3),
        )
        if self.phase is not Phase.RUNNING or record.retiring:
            return
        if info.code == ChildExit.CHILDFATAL and record.generation == self.generation:
            log.critical("child_fatal", pid=record.pid, action="stopping the server")
            self.exit_code = 1
            self._begin_stop()
            return
        self.throttle.record(info, self.clock())

    # -- stopping -------------------------------------------------------------

    def _begin_stop(self) -> None:
        if self.phase in (Phase.STOPPING, Phase.DONE):
            return
        log.info("server_stopping", graceful=False, children=len(self.children))
        self.phase = Phase.STOPPING
        self.escalation = Escalation(self.clock())

    def _begin_graceful_stop(self) -> None:
        if self.phase is not Phase.RUNNING:
            # A second WINCH (or one during a stop) cuts a graceful stop short.
            self._begin_stop()
            return
        log.info("server_stopping", graceful=True, children=len(self.children))
        self.phase = Phase.GRACEFUL_STOPPING
        timeout = self.config.graceful_shutdown_timeout
        self.graceful_deadline = self.clock() + timeout if timeout > 0 else None
        assert self.scoreboard is not None
        for record in self.children:
            self.scoreboard.process(record.slot).quiescing = 1
        self.children.signal_all(GRACEFUL_SIGNAL)

    def _check_graceful_deadline(self) -> None:
        if self.graceful_deadline is not None and self.clock() >= self.graceful_deadline:
            log.warning("graceful_stop_timeout", children=len(self.children))
            self._begin_stop()

    def _escalate(self) -> None:
        assert self.escalation is not None
        steps, self.escalation = self.escalation.due(self.clock())
        for step in steps:
            if step.signal is None:
                log.error("children_abandoned", pids=[r.pid for r in self.children])
                self.phase = Phase.DONE
                return
            if step.after > 0:
                log.warning(
                    "children_still_running",
                    signal=signal.Signals(step.signal).name,
                    pids=[r.pid for r in self.children],
                )
            self.children.signal_all(step.signal)
