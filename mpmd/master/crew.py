"""What the master does to the children of one generation.

Given one generation, the crew applies its MPM's plan (spawn into these
slots, retire that child), staggers recycling (a replacement is ready before
the child it replaces is told to go), drains it (the graceful signal to every
child) and stops it (Apache's escalation table, TERM then KILL).  It decides
nothing about *when*: the supervisor, the reloader and the fleet's deadlines
do (:mod:`mpmd.master.fleet` holds the generations).  Processes are forked
and signalled through the injected :class:`~mpmd.master.processes.Processes`,
never directly.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import replace

import structlog

from mpmd.master.children import ChildTable
from mpmd.master.generation import Generation, Stage
from mpmd.master.launch import Launcher
from mpmd.master.processes import Processes
from mpmd.master.shutdown import Escalation
from mpmd.master.throttle import SpawnThrottle
from mpmd.mpm.base import Plan
from mpmd.mpm.child import GRACEFUL_SIGNAL
from mpmd.scoreboard.board import Scoreboard, Snapshot
from mpmd.scoreboard.states import State

log = structlog.get_logger("mpmd.master")


class Crew:
    """Spawns, retires, recycles, drains and stops one generation's children.

    ``others(generation)`` are the scoreboards of the other live generations,
    newest first: a new child's server-status shows them too.
    """

    def __init__(
        self, children: ChildTable, launcher: Launcher, throttle: SpawnThrottle,
        processes: Processes, others: Callable[[Generation], tuple[Scoreboard, ...]],
    ) -> None:
        self.children = children
        self.launcher = launcher
        self.throttle = throttle
        self.processes = processes
        self.clock = processes.now
        self.others = others

    # -- maintenance ----------------------------------------------------------

    def maintain(self, generation: Generation) -> None:
        snapshot = generation.scoreboard.snapshot()
        if generation.replacing is not None:
            # A child being replaced and its replacement are one child's worth of
            # capacity: counted as two spares, maintenance could retire one of
            # them while recycling retires the other, and capacity would dip.
            snapshot = _leaving(snapshot, generation.replacing[0])
        plan, generation.mpm_state = generation.mpm.maintain(
            generation.config.mpm_settings, snapshot, generation.mpm_state, self.clock()
        )
        generation.wake_at = plan.wake_at
        self._apply(generation, plan)
        if generation.stage is Stage.ACTIVE:
            self._recycle(generation, generation.scoreboard.snapshot())

    def _recycle(self, generation: Generation, snapshot: Snapshot) -> None:
        """Replace children that asked for it (mpmd.mpm.recycle): fork the
        replacement, retire the old child once the new one is ready; one at a
        time, so recycling is staggered and capacity never dips."""
        if generation.replacing is not None:
            old, new = generation.replacing
            fresh = snapshot.processes[new]
            if not fresh.pid or State.STARTING.value[0] not in fresh.states:
                generation.replacing = None  # ready (or died: try again next turn)
                if fresh.pid:
                    self._retire(generation, old)
            return
        asking = [p for p in snapshot.live(generation.number) if p.recycle and not p.quiescing]
        if not asking:
            return
        old = asking[0].slot
        free = [p.slot for p in snapshot.processes[: generation.process_limit] if not p.pid]
        if not free or not self.throttle.allows(self.clock()):
            self._retire(generation, old)  # no room for a replacement: go anyway
            return
        log.info("child_replacing", generation=generation.number, slot=old, replacement=free[0])
        self._spawn(generation, free[0])
        generation.replacing = (old, free[0])

    def _apply(self, generation: Generation, plan: Plan) -> None:
        for event in plan.events:
            getattr(log, event.level)(event.name, generation=generation.number, **dict(event.data))
        for slot in plan.retire:
            self._retire(generation, slot)
        if plan.spawn and not self.throttle.allows(self.clock()):
            # Maintenance asks again once the throttle opens, not before: the
            # plan's own wake-up may be now, and the master would spin till then.
            generation.wake_at = self.throttle.not_before
            return
        for slot in plan.spawn:
            self._spawn(generation, slot)

    def _spawn(self, generation: Generation, slot: int) -> None:
        board = generation.scoreboard
        board.claim(slot, generation.number, generation.threads)
        pid = self.launcher.launch(generation, slot, self.others(generation))
        board.assign(slot, pid)
        generation.spawned.add(slot)
        self.children.add(pid, slot, generation.number)
        log.info("child_started", pid=pid, slot=slot, generation=generation.number,
                 mpm=generation.mpm.name)

    def _retire(self, generation: Generation, slot: int) -> None:
        record = next((r for r in self.children.of(generation.number) if r.slot == slot), None)
        if record is None:
            return
        generation.scoreboard.process(slot).quiescing = 1
        self.children.mark_retiring(record.pid)
        self.processes.send(record.pid, GRACEFUL_SIGNAL)

    # -- draining and stopping ---------------------------------------------------

    def drain(self, generation: Generation, timeout: float) -> None:
        """Tell every child of ``generation`` to finish what it serves and exit."""
        generation.stage = Stage.DRAINING
        generation.deadline = self.clock() + timeout if timeout > 0 else None
        records = self.children.of(generation.number)
        for record in records:
            _mark_graceful(generation, record.slot)
            self.children.mark_retiring(record.pid)
            self.processes.send(record.pid, GRACEFUL_SIGNAL)
        log.info("generation_draining", generation=generation.number,
                 children=len(records), timeout=timeout)

    def stop(self, generation: Generation) -> None:
        """Stop ``generation`` with the escalation table (TERM now)."""
        if generation.stage is Stage.STOPPING:
            return
        generation.stage = Stage.STOPPING
        generation.escalation = Escalation(self.clock())
        for record in self.children.of(generation.number):
            self.children.mark_retiring(record.pid)
        self.escalate(generation)

    def escalate(self, generation: Generation) -> None:
        """Take the steps of a stopping generation's escalation that are due."""
        assert generation.escalation is not None
        steps, generation.escalation = generation.escalation.due(self.clock())
        for step in steps:
            pids = [r.pid for r in self.children.of(generation.number)]
            if step.signal is None:
                log.error("children_abandoned", generation=generation.number, pids=pids)
                for pid in pids:
                    self.children.forget(pid)
                return
            if step.after > 0 and pids:
                log.warning("children_still_running", generation=generation.number,
                            signal=signal.Signals(step.signal).name, pids=pids)
            for pid in pids:
                self.processes.send(pid, step.signal)


def _leaving(snapshot: Snapshot, slot: int) -> Snapshot:
    """``snapshot`` with the child in ``slot`` counted as already leaving."""
    processes = tuple(replace(p, quiescing=True) if p.slot == slot else p
                      for p in snapshot.processes)
    return replace(snapshot, processes=processes)


def _mark_graceful(generation: Generation, slot: int) -> None:
    """The child in ``slot`` is leaving: no spare any more, and its idle workers
    show G (Apache's "gracefully finishing") at once, as mod_status does."""
    board = generation.scoreboard
    board.process(slot).quiescing = 1
    for t in range(generation.threads):
        worker = board.worker(slot, t)
        if worker.status in (State.READY.value, State.STARTING.value):
            worker.status = State.GRACEFUL.value
