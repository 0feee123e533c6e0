"""The master loop: commands in, children reaped, generations maintained.

Theory of operation.  The master sleeps in ``poll`` on the signal wake-up
socket and the control socket until a command arrives or a deadline comes
(at most :data:`IDLE_WAKEUP` seconds when nothing happens).  Each turn it

1. turns signals and control requests into commands,
2. reaps every exited child at once (SIGCHLD wakes it: a killed child is
   replaced in milliseconds, not on Apache's one-second tick),
3. lets each live generation's MPM plan from its scoreboard, moves a staging
   generation forward (:mod:`mpmd.master.reload`), and escalates stops.

What a command or a child's exit does (reload, stop, graceful stop, back
off) is decided by :mod:`mpmd.master.dispatch`, which owns the server's phase.
It knows no MPM by name: everything MPM-specific is behind ``Generation.mpm``.
It touches no process and reads no clock itself: forking, signalling, reaping,
waiting and time go through one :class:`~mpmd.master.processes.Processes`, so
tests/unit/master drives this very loop against a fake in milliseconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import setproctitle
import structlog

from mpmd.config.model import ServerConfig
from mpmd.logs.setup import configure_logging, reopen_error_logs
from mpmd.master import control as control_mod
from mpmd.master.assemble import Blueprint, GenerationFactory, reload_blueprint
from mpmd.master.dispatch import Dispatcher, Phase
from mpmd.master.fleet import Fleet
from mpmd.master.generation import Generation, ListenerPool, Stage
from mpmd.master.pidfile import remove_pidfile, write_pidfile
from mpmd.master.processes import OsProcesses, Processes
from mpmd.master.progress import Progress, status_line
from mpmd.master.reload import Reloader
from mpmd.master.signals import Command, SignalInbox
from mpmd.systemd import activation
from mpmd.systemd.notify import Heartbeat, Notifier

log = structlog.get_logger("mpmd.master")

IDLE_WAKEUP = 1.0  # seconds: the longest the master sleeps with nothing to do
STAGING_POLL = 0.02  # seconds between readiness checks while a generation stages


_CONTROL_COMMANDS = {
    "reload": Command.GRACEFUL,
    "restart": Command.RESTART,
    "stop": Command.STOP,
    "graceful-stop": Command.GRACEFUL_STOP,
}


def _adopt(
    pool: ListenerPool, inherited: list[activation.InheritedSocket], config: ServerConfig
) -> None:
    """Socket activation: systemd's sockets replace binding where they match."""
    if not inherited:
        return
    matched, extras = activation.match(inherited, config.listen)
    pool.adopt(matched, extras)
    log.info("sockets_inherited", matched=[str(a) for a in matched],
             extra=[str(activation.bound_address(s) or s.fileno()) for s in extras])


def reopen_master_logs(config: ServerConfig) -> None:
    """logrotate's rename-then-reload: the master's ErrorLog is opened anew;
    the new children open their logs themselves, the old keep theirs."""
    reopen_error_logs()
    configure_logging(config, role="master")


class Supervisor:
    """Runs one server until it is stopped; :meth:`run` returns the exit status."""

    def __init__(
        self,
        plan: Blueprint,
        *,
        defines: tuple[str, ...] = (),
        inherited: list[activation.InheritedSocket] | None = None,
        processes: Processes | None = None,
        inbox: SignalInbox | None = None,
        reopen_logs: Callable[[ServerConfig], None] = reopen_master_logs,
    ) -> None:
        self.config = config = plan.config
        self.processes: Processes = processes or OsProcesses()
        self.clock = clock = self.processes.now
        self.inbox = inbox or SignalInbox()
        self.control: control_mod.ControlServer | None = None
        self._readable: list[Any] = []
        self.fleet = Fleet(ListenerPool(config.listen_backlog), self._private_fds, self.processes)
        self.factory = GenerationFactory(self.fleet.pool, clock)
        self.notifier = Notifier.from_env()
        self.reloader = Reloader(
            self, self.fleet, self.notifier,
            lambda: self.factory.build(reload_blueprint(config.config_file, defines)),
        )
        self._reopen_logs = reopen_logs
        self.heartbeat = Heartbeat(self.notifier, clock)
        self.progress = Progress(self.notifier, clock)
        self.dispatch = Dispatcher(config, self.fleet, self.reloader, self.notifier,
                                   self.progress)
        self._first = plan
        self._inherited = inherited

    # -- lifecycle ------------------------------------------------------------

    def run(self) -> int:
        try:
            self.start()
            while True:
                self.turn()  # first turn at once: StartServers fork without waiting
                if self.dispatch.phase is Phase.DONE:
                    break
                self.wait()
        finally:
            self.close()
        log.info("server_stopped", exit_code=self.dispatch.exit_code)
        return self.dispatch.exit_code

    def start(self) -> None:
        """Signals, PidFile, listeners, the first generation (not yet forked)."""
        config = self.config
        # Signals first: once the port is bound a client (or a test) may
        # already send HUP, whose default action would kill the master.
        self.inbox.install()
        if config.pid_file:  # before binding: whoever can connect finds the PidFile
            write_pidfile(config.pid_file, os.getpid())
        inherited = (
            self._inherited if self._inherited is not None else activation.inherited_sockets()
        )
        _adopt(self.fleet.pool, inherited, config)
        generation = self.factory.build(self._first)
        generation.stage = Stage.ACTIVE
        self.fleet.add(generation)
        path = config.control_socket or (
            control_mod.default_path(config.pid_file) if config.pid_file else ""
        )
        if path:
            self.control = control_mod.ControlServer(path)
        self.set_title()
        log.info("server_started", mpm=generation.mpm.name, generation=generation.number,
                 listen=[str(a) for a in config.listen], config=config.config_file,
                 control_socket=path or None)

    def set_title(self) -> None:
        active = self.fleet.active()
        if active is not None:
            setproctitle.setproctitle(
                f"mpmd: master [{active.mpm.name}, generation {active.number}] "
                f"-f {active.config.config_file}"
            )

    def switched(self, new: Generation) -> str:
        """A reload's new generation serves (:class:`ReloadHost`)."""
        self._reopen_logs(new.config)
        self.set_title()
        return status_line(self.fleet.active(), self.dispatch.phase.value)

    def close(self) -> None:
        """Release what :meth:`start` took (sockets, scoreboards, the PidFile)."""
        self.reloader.abandon("the server is stopping")
        if self.control is not None:
            self.control.close()
        for generation in self.fleet:
            generation.scoreboard.close()
        self.fleet.pool.close_all()
        self.fleet.close()
        if self.config.pid_file:
            remove_pidfile(self.config.pid_file, os.getpid())
        self.inbox.close()

    def _private_fds(self) -> tuple[int, ...]:
        fds = self.inbox.private_fds()
        return fds + self.control.private_fds() if self.control else fds

    # -- one turn of the loop -------------------------------------------------

    def wait(self) -> None:
        """Sleep until something is readable or the next deadline comes."""
        now = self.clock()
        deadlines = self.fleet.deadlines()
        if (beat := self.heartbeat.deadline()) is not None:
            deadlines.append(beat)
        timeout = min([IDLE_WAKEUP, *(max(d - now, 0.0) for d in deadlines)])
        if self.reloader.staging is not None:
            timeout = min(timeout, STAGING_POLL)
        watched: list[Any] = [self.inbox, self.fleet.failures, *self.fleet.output.fds()]
        if self.control is not None:
            watched += self.control.sockets()
        self._readable = self.processes.wait_readable(watched, timeout)

    def turn(self) -> None:
        """One pass of the loop over what :meth:`wait` found ready."""
        for command in self.inbox.commands():
            self.dispatch.command(command)
        # children's stderr (fds) and failure reports, before their exits are reaped
        self.fleet.output.handle([r for r in self._readable if isinstance(r, int)])
        self.fleet.failures.drain()
        if self.control is not None:
            for request in self.control.handle([r for r in self._readable if r is not self.inbox]):
                self._on_control(request)
        for info, generation, failure in self.fleet.reap():
            self.dispatch.child_exited(info, generation, failure)
        phase = self.dispatch.phase
        if phase is Phase.RUNNING:
            for generation in self.fleet:
                if generation.stage in (Stage.ACTIVE, Stage.STAGING):
                    self.fleet.crew.maintain(generation)
            self.reloader.tick()
            self.progress.tick(self.fleet.active(), phase.value)
        self.fleet.tick()
        self.heartbeat.tick()
        if self.dispatch.phase is not Phase.RUNNING and not self.fleet.child_count():
            self.dispatch.phase = Phase.DONE

    def _on_control(self, request: control_mod.ControlRequest) -> None:
        assert self.control is not None
        if request.command == "ping":
            active = self.fleet.active()
            self.control.reply(request, True, "running", pid=os.getpid(),
                               generation=active.number if active else None)
            return
        command = _CONTROL_COMMANDS[request.command]
        if command in (Command.GRACEFUL, Command.RESTART):
            self.dispatch.command(command, request)  # answered when the reload ends
            return
        self.control.reply(request, True, f"{request.command} in progress", pid=os.getpid())
        self.dispatch.command(command)

    def reply(self, request: control_mod.ControlRequest, ok: bool, message: str,
              **data: Any) -> None:
        """Answer a control client (:class:`ReloadHost`)."""
        if self.control is not None:
            self.control.reply(request, ok, message, **data)
