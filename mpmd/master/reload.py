"""Staged reloads: a new generation serves before the old one is touched.

A reload (USR1, ``mpmd reload``) or restart (HUP, ``mpmd restart``):

1. reads and validates the configuration again, loads its MPM (which may
   differ: that is an MPM swap), checks its routes, binds any new Listen
   address — any error ends the reload here, with nothing changed;
2. forks the new generation's children beside the old ones.  They are the
   canaries: each imports the application; one that cannot reports why in
   its scoreboard slot and exits, which aborts the reload;
3. once every new child is ready (left the STARTING state), switches: the new
   generation becomes active and the old one drains (graceful) or is stopped
   (restart), bounded by DrainTimeout.

The steps and their allowed order are one table, :mod:`mpmd.master.reload_states`.
Reload requests that arrive while one stages are coalesced into one more
reload after it (an ungraceful one upgrades a pending graceful one), so a
burst of signals converges on one live generation.  Waiting ``mpmd reload``
clients are answered when their reload ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import structlog

from mpmd.errors import MpmdError
from mpmd.logs.failures import ChildFailure
from mpmd.master.children import ExitInfo
from mpmd.master.control import ControlRequest
from mpmd.master.fleet import Fleet
from mpmd.master.generation import Generation, Stage
from mpmd.master.reload_states import ReloadEvent, ReloadState, next_state
from mpmd.systemd.notify import Notifier

log = structlog.get_logger("mpmd.master")

#: seconds a new generation may take to get every child ready
STAGING_TIMEOUT = 60.0


class ReloadHost(Protocol):
    """What a reload needs from the master around it (the Supervisor)."""

    def reply(self, request: ControlRequest, ok: bool, message: str, **data: Any) -> None:
        """Answer a waiting ``mpmd reload`` client."""

    def switched(self, new: Generation) -> str:
        """``new`` now serves: reopen the master's logs, retitle; returns the
        status line systemd gets with READY=1."""


class Reloader:
    """Stages a new generation and switches to it, or keeps the old one.

    ``build`` reads the configuration again and builds the new generation
    (not yet in the fleet); it raises MpmdError or OSError to refuse.
    """

    def __init__(self, host: ReloadHost, fleet: Fleet, notifier: Notifier,
                 build: Callable[[], Generation]) -> None:
        self.host = host
        self.fleet = fleet
        self.notifier = notifier
        self.build = build
        self.state = ReloadState.IDLE  # moves only through reload_states.TRANSITIONS
        self.staging: Generation | None = None
        self.graceful = True
        self.waiters: list[ControlRequest] = []
        self.pending: bool = False
        self.pending_graceful = True
        self.pending_waiters: list[ControlRequest] = []

    def request(self, waiter: ControlRequest | None, graceful: bool) -> None:
        log.info("reload_requested", graceful=graceful, staging=self.staging is not None)
        waiters = [waiter] if waiter else []
        if self.state is ReloadState.IDLE:
            self._stage(graceful, waiters)
            return
        self._move(ReloadEvent.COALESCE)
        self.pending = True
        self.pending_graceful = self.pending_graceful and graceful
        self.pending_waiters += waiters
        if not graceful:
            self.graceful = False  # an ungraceful request upgrades the one under way

    def _move(self, event: ReloadEvent) -> None:
        self.state = next_state(self.state, event)

    def _stage(self, graceful: bool, waiters: list[ControlRequest]) -> None:
        self._move(ReloadEvent.BUILD)
        self.graceful, self.waiters = graceful, waiters
        # systemd's notify-reload protocol: RELOADING=1 + MONOTONIC_USEC now,
        # READY=1 when the reload ends, whichever way it ends.
        self.notifier.reloading("reloading")
        try:
            generation = self.build()
        except (MpmdError, OSError) as exc:
            self._move(ReloadEvent.REFUSED)
            self._fail(str(exc))
            return
        generation.deadline = self.fleet.clock() + STAGING_TIMEOUT
        self.fleet.add(generation)
        self.staging = generation
        self._move(ReloadEvent.STAGED)
        log.info("generation_staging", generation=generation.number, mpm=generation.mpm.name,
                 graceful=graceful)
        self.fleet.crew.maintain(generation)  # forks its StartServers now

    def tick(self) -> None:
        generation = self.staging
        if generation is None:
            return
        if generation.ready():
            self._switch(generation)
        elif generation.deadline is not None and self.fleet.clock() >= generation.deadline:
            self._abort(f"generation {generation.number} was not ready within "
                        f"{STAGING_TIMEOUT:.0f} s")

    def child_failed(self, info: ExitInfo, failure: ChildFailure | None) -> None:
        if failure is None:
            failure = ChildFailure(f"a child of the new generation ended with {info.description}")
        self._abort(failure.headline, failure.details)

    def _abort(self, reason: str, details: str = "") -> None:
        self._move(ReloadEvent.ABORT)
        generation, self.staging = self.staging, None
        if generation is not None:
            generation.deadline = None
            self.fleet.crew.stop(generation)
        self._fail(reason, details)

    def _fail(self, reason: str, details: str = "") -> None:
        """``reason`` is one line (systemd's STATUS, the event); ``details`` (a
        traceback) go once into the error log and whole to ``mpmd reload``."""
        extra = {"exception": details} if details else {}
        log.error("reload_failed", reason=reason, **extra)
        self.notifier.ready(f"reload failed: {reason}")
        answer = f"reload failed: {reason}\n{details}" if details else f"reload failed: {reason}"
        for waiter in self.waiters:
            self.host.reply(waiter, False, answer)
        self.waiters = []
        self._next()

    def _switch(self, new: Generation) -> None:
        self._move(ReloadEvent.SWITCH)
        self.staging = None
        old = [g for g in self.fleet if g.stage is Stage.ACTIVE]
        new.stage, new.deadline = Stage.ACTIVE, None
        for generation in old:
            if self.graceful:
                self.fleet.crew.drain(generation, new.config.drain_timeout)
            else:
                self.fleet.crew.stop(generation)
        if not self.graceful:  # a restart also cuts short what still drains
            for generation in self.fleet:
                if generation.stage is Stage.DRAINING:
                    self.fleet.crew.stop(generation)
        closed = self.fleet.pool.release_unused([new.listeners])
        self.notifier.ready(self.host.switched(new))
        log.info("reload_succeeded", generation=new.number, mpm=new.mpm.name,
                 graceful=self.graceful, closed_listeners=closed)
        for waiter in self.waiters:
            self.host.reply(waiter, True, f"generation {new.number} serving ({new.mpm.name})",
                           generation=new.number, mpm=new.mpm.name)
        self.waiters = []
        self._next()

    def _next(self) -> None:
        if not self.pending:
            return
        graceful, waiters = self.pending_graceful, self.pending_waiters
        self.pending, self.pending_graceful, self.pending_waiters = False, True, []
        self._stage(graceful, waiters)

    def abandon(self, reason: str) -> None:
        """The server stops: no reload will finish; tell whoever waits."""
        self._move(ReloadEvent.ABANDON)
        self.staging = None
        self.pending = False
        for waiter in self.waiters + self.pending_waiters:
            self.host.reply(waiter, False, f"reload abandoned: {reason}")
        self.waiters, self.pending_waiters = [], []
