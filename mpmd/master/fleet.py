"""The master's children, grouped by generation: fork, retire, drain, stop, reap.

The fleet applies what the supervisor decides; it decides nothing about
*when* to reload or stop.  Each generation runs its own MPM's maintenance on
its own scoreboard; a draining or stopping generation is only waited for (and
escalated), never topped up.  Processes are forked and signalled through
the injected :class:`~mpmd.master.processes.Processes`, never directly.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from dataclasses import replace

import structlog

from mpmd.logs.failures import ChildFailure
from mpmd.master.children import ChildTable, ExitInfo
from mpmd.master.generation import Generation, ListenerPool, Stage
from mpmd.master.launch import Launcher
from mpmd.master.processes import OsProcesses, Processes
from mpmd.master.shutdown import Escalation
from mpmd.master.throttle import SpawnThrottle
from mpmd.mpm.base import Plan
from mpmd.mpm.child import GRACEFUL_SIGNAL
from mpmd.scoreboard.board import Snapshot
from mpmd.scoreboard.states import State

log = structlog.get_logger("mpmd.master")


class Fleet:
    def __init__(
        self, pool: ListenerPool, private_fds: Callable[[], tuple[int, ...]],
        processes: Processes | None = None,
    ) -> None:
        self.pool = pool
        self.processes: Processes = processes or OsProcesses()
        self.clock = self.processes.now
        self.children = ChildTable(self.clock)
        self.launcher = Launcher(self.processes, private_fds)
        #: the children's stderr pipes (read ends) and their failure reports
        self.output = self.launcher.output
        self.failures = self.launcher.failures
        self.throttle = SpawnThrottle()
        self.generations: list[Generation] = []
        #: requests, bytes and microseconds of generations that have finished
        self.retired: tuple[int, int, int] = (0, 0, 0)
        #: wall-clock time of the first start (ServerUptime survives reloads)
        self.first_start: float | None = None

    def __iter__(self) -> Iterator[Generation]:
        return iter(list(self.generations))

    def by_number(self, number: int) -> Generation | None:
        return next((g for g in self.generations if g.number == number), None)

    def add(self, generation: Generation) -> None:
        header = generation.scoreboard.header
        if self.first_start is None:
            self.first_start = header.start_time
        header.start_time = self.first_start
        generation.scoreboard.carry(*self.retired)
        self.generations.append(generation)

    def child_count(self, generation: Generation | None = None) -> int:
        return sum(
            1 for r in self.children if generation is None or r.generation == generation.number
        )

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
        older = tuple(g.scoreboard for g in reversed(self.generations) if g is not generation)
        pid = self.launcher.launch(generation, slot, older)
        board.assign(slot, pid)
        generation.spawned.add(slot)
        self.children.add(pid, slot, generation.number)
        log.info("child_started", pid=pid, slot=slot, generation=generation.number,
                 mpm=generation.mpm.name)

    def close(self) -> None:
        self.launcher.close()

    def _retire(self, generation: Generation, slot: int) -> None:
        record = next(
            (r for r in self.children if r.slot == slot and r.generation == generation.number),
            None,
        )
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
        for record in self.children:
            if record.generation == generation.number:
                _mark_graceful(generation, record.slot)
                self.children.mark_retiring(record.pid)
                self.processes.send(record.pid, GRACEFUL_SIGNAL)
        log.info("generation_draining", generation=generation.number,
                 children=self.child_count(generation), timeout=timeout)

    def stop(self, generation: Generation) -> None:
        """Stop ``generation`` with the escalation table (TERM now)."""
        if generation.stage is Stage.STOPPING:
            return
        generation.stage = Stage.STOPPING
        generation.escalation = Escalation(self.clock())
        for record in self.children:
            if record.generation == generation.number:
                self.children.mark_retiring(record.pid)
        self._escalate(generation)

    def tick(self) -> None:
        """Deadlines of draining and stopping generations; finished ones go."""
        now = self.clock()
        for generation in self:
            if generation.stage is Stage.DRAINING and generation.deadline is not None \
                    and now >= generation.deadline:
                log.warning("drain_timeout", generation=generation.number,
                            children=self.child_count(generation))
                self.stop(generation)
            elif generation.stage is Stage.STOPPING:
                self._escalate(generation)
            if generation.stage in (Stage.DRAINING, Stage.STOPPING) \
                    and not self.child_count(generation):
                self._finish(generation)

    def _escalate(self, generation: Generation) -> None:
        assert generation.escalation is not None
        steps, generation.escalation = generation.escalation.due(self.clock())
        for step in steps:
            pids = [r.pid for r in self.children if r.generation == generation.number]
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

    def _finish(self, generation: Generation) -> None:
        self.generations.remove(generation)
        board = generation.scoreboard
        # Its counts move into every live board's carried totals; marked
        # finished first, a reader that still maps it never counts it twice.
        board.header.finished = 1
        done, added = self.retired, board.totals()
        self.retired = (done[0] + added[0], done[1] + added[1], done[2] + added[2])
        for live in self.generations:
            live.scoreboard.carry(*self.retired)
        board.close()
        log.info("generation_finished", generation=generation.number)

    def deadlines(self) -> list[float]:
        out = []
        for g in self.generations:
            if g.stage in (Stage.ACTIVE, Stage.STAGING) and g.wake_at is not None:
                out.append(g.wake_at)
            if g.deadline is not None:
                out.append(g.deadline)
            if g.escalation is not None and (d := g.escalation.next_deadline()) is not None:
                out.append(d)
        if (resume := self.throttle.deadline(self.clock())) is not None:
            out.append(resume)
        return out

    # -- reaping ------------------------------------------------------------------

    def reap(self) -> list[tuple[ExitInfo, Generation | None, ChildFailure | None]]:
        """Reaped children with their generation and any failure they reported.

        A child's last output is logged before its exit (``child_stderr``
        before ``child_exited``); its full report wins over the scoreboard's
        bounded copy of the headline.
        """
        out = []
        for info in self.children.collect(self.processes.reap()):
            pid = info.record.pid
            self.output.child_gone(pid)
            generation = self.by_number(info.record.generation)
            failure = self.failures.take(pid)
            if generation is not None:
                board = generation.scoreboard
                headline = bytes(board.process(info.record.slot).failure)
                if failure is None and headline:
                    failure = ChildFailure(headline.decode("utf-8", "replace"))
                board.release(info.record.slot)
            out.append((info, generation, failure))
        return out


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
