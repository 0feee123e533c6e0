"""Stop escalation as a table (Apache's ``ap_reclaim_child_processes``).

Children are sent TERM at once, TERM again at 3, 5 and 7 seconds, and KILL at
9 seconds; whoever is left after that is reported and abandoned.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    after: float  # seconds since the stop began
    signal: int | None  # None: give up


ESCALATION: tuple[Step, ...] = (
    Step(0.0, signal.SIGTERM),
    Step(3.0, signal.SIGTERM),
    Step(5.0, signal.SIGTERM),
    Step(7.0, signal.SIGTERM),
    Step(9.0, signal.SIGKILL),
    Step(10.0, None),
)


@dataclass(frozen=True)
class Escalation:
    """Where a stop is in :data:`ESCALATION`."""

    started: float
    next_step: int = 0

    def due(self, now: float) -> tuple[tuple[Step, ...], Escalation]:
        """Steps whose time has come, and the escalation after taking them."""
        i = self.next_step
        while i < len(ESCALATION) and self.started + ESCALATION[i].after <= now:
            i += 1
        steps = ESCALATION[self.next_step : i]
        return steps, Escalation(self.started, i)

    def next_deadline(self) -> float | None:
        if self.next_step >= len(ESCALATION):
            return None
        return self.started + ESCALATION[self.next_step].after
