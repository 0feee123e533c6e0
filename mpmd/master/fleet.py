"""The master's generations and their children, across generations.

The fleet holds every live generation (active, staging, draining, stopping),
carries the counters of finished ones into the live scoreboards, reaps
children and tells each exit's generation, and watches the deadlines of
draining and stopping generations.  What is done to the children of *one*
generation (spawn, retire, recycle, drain, stop) is its
:class:`~mpmd.master.crew.Crew`'s.  The fleet decides nothing about *when*
to reload or stop; the supervisor does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import structlog

from mpmd.logs.failures import ChildFailure
from mpmd.master.children import ChildTable, ExitInfo
from mpmd.master.crew import Crew
from mpmd.master.generation import Generation, ListenerPool, Stage
from mpmd.master.launch import Launcher
from mpmd.master.processes import OsProcesses, Processes
from mpmd.master.throttle import SpawnThrottle
from mpmd.scoreboard.board import Scoreboard

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
        self.crew = Crew(self.children, self.launcher, self.throttle, self.processes, self._others)
        self.generations: list[Generation] = []
        #: requests, bytes and microseconds of generations that have finished
        self.retired: tuple[int, int, int] = (0, 0, 0)
        #: wall-clock time of the first start (ServerUptime survives reloads)
        self.first_start: float | None = None

    def __iter__(self) -> Iterator[Generation]:
        return iter(list(self.generations))

    def by_number(self, number: int) -> Generation | None:
        return next((g for g in self.generations if g.number == number), None)

    def active(self) -> Generation | None:
        """The generation that serves new connections (None while stopping)."""
        return next((g for g in self.generations if g.stage is Stage.ACTIVE), None)

    def _others(self, generation: Generation) -> tuple[Scoreboard, ...]:
        return tuple(g.scoreboard for g in reversed(self.generations) if g is not generation)

    def add(self, generation: Generation) -> None:
        header = generation.scoreboard.header
        if self.first_start is None:
            self.first_start = header.start_time
        header.start_time = self.first_start
        generation.scoreboard.carry(*self.retired)
        self.generations.append(generation)

    def child_count(self, generation: Generation | None = None) -> int:
        if generation is None:
            return len(self.children)
        return len(self.children.of(generation.number))

    def close(self) -> None:
        self.launcher.close()

    # -- deadlines ----------------------------------------------------------------

    def tick(self) -> None:
        """Deadlines of draining and stopping generations; finished ones go."""
        now = self.clock()
        for generation in self:
            if generation.stage is Stage.DRAINING and generation.deadline is not None \
                    and now >= generation.deadline:
                log.warning("drain_timeout", generation=generation.number,
                            children=self.child_count(generation))
                self.crew.stop(generation)
            elif generation.stage is Stage.STOPPING:
                self.crew.escalate(generation)
            if generation.stage in (Stage.DRAINING, Stage.STOPPING) \
                    and not self.child_count(generation):
                self._finish(generation)

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
