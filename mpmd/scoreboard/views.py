"""Snapshots: frozen copies of a scoreboard, for the master and for status.

Maintenance plans from a :class:`Snapshot` (a pure function of it, see
:mod:`mpmd.mpm.spares`), so what it decides never changes under it while
children go on writing their slots.
"""

from __future__ import annotations

from dataclasses import dataclass

from mpmd.scoreboard.layout import ProcessSlot


@dataclass(frozen=True, slots=True)
class ProcessView:
    """A copy of one process slot with its worker states, for maintenance."""

    slot: int
    pid: int
    generation: int
    quiescing: bool
    not_accepting: bool
    states: bytes  # one letter per worker slot in use (len == threads)
    connections: int = 0
    keep_alive: int = 0
    closing: int = 0
    recycle: bool = False  # the child asked to be replaced

    def count(self, letters: frozenset[int]) -> int:
        return sum(1 for s in self.states if s in letters)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole scoreboard at one moment (see :meth:`Scoreboard.snapshot`)."""

    generation: int
    processes: tuple[ProcessView, ...]

    def live(self, generation: int | None = None) -> tuple[ProcessView, ...]:
        """Processes with a pid, optionally only of ``generation``."""
        return tuple(
            p
            for p in self.processes
            if p.pid and (generation is None or p.generation == generation)
        )


def process_view(slot: int, proc: ProcessSlot, states: bytes) -> ProcessView:
    """A copy of process slot ``slot`` with its workers' ``states``."""
    return ProcessView(
        slot=slot,
        pid=proc.pid,
        generation=proc.generation,
        quiescing=bool(proc.quiescing),
        not_accepting=bool(proc.not_accepting),
        states=states,
        connections=proc.connections,
        keep_alive=proc.keep_alive,
        closing=proc.closing,
        recycle=bool(proc.recycle),
    )
