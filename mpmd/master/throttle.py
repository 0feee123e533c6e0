"""Spawn throttling: no fork storm when children keep dying.

A child that dies young (within :data:`YOUNG` seconds) with a failure, or that
reports a resource shortage (Apache's CHILDSICK / CHILDINIT), delays the next
spawn: 0.1 s, then doubling up to 10 s.  A child that lived long enough resets
the back-off.  Immediate replacement of a killed, healthy child is untouched.
"""

from __future__ import annotations

import signal

from mpmd.errors import ChildExit
from mpmd.master.children import ExitInfo

YOUNG = 2.0  # seconds: a child dying sooner than this counts as a start failure
FIRST_DELAY = 0.1
MAX_DELAY = 10.0
_SHORTAGE = {int(ChildExit.CHILDSICK), int(ChildExit.CHILDINIT)}
# Signals a child raises on itself when it crashes; TERM/KILL come from outside
# (an operator, the OOM killer) and say nothing about the next child's chances.
_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE}


class SpawnThrottle:
    """Tracks consecutive start failures; tells when spawning may resume."""

    def __init__(self) -> None:
        self.failures = 0
        self.not_before: float | None = None

    def record(self, info: ExitInfo, now: float) -> None:
        crashed = (info.code is not None and info.code != 0) or info.signal in _CRASH_SIGNALS
        failed = info.code in _SHORTAGE or (info.lifetime < YOUNG and crashed)
        if not failed:
            if info.lifetime >= YOUNG:
                self.failures = 0
            return
        self.failures += 1
        delay = min(FIRST_DELAY * 2 ** (self.failures - 1), MAX_DELAY)
        self.not_before = now + delay

    def allows(self, now: float) -> bool:
        return self.not_before is None or now >= self.not_before

    def deadline(self, now: float) -> float | None:
        """When spawning resumes, while that is still to come.  A time already
        past is no deadline: waking for it would make the master spin."""
        if self.not_before is not None and self.not_before > now:
            return self.not_before
        return None
