"""RequestReadTimeout (mod_reqtimeout) deadlines, as pure values over a clock.

A stage (``header`` or ``body``) allows ``timeout`` seconds from its start.
With ``MinRate`` every ``min_rate`` bytes received move the deadline one second
later, never beyond ``max_timeout`` seconds after the start (Apache's
``extend_timeout()``).  A stage with ``timeout == 0`` never expires.  The
clock is passed in (``time.monotonic`` in production), so tests move time by
hand instead of sleeping.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from mpmd.config.model import ReadTimeoutStage

#: A monotonic clock in seconds.
Clock = Callable[[], float]


class ReadDeadline:
    """The deadline of one stage of one request."""

    __slots__ = ("_at", "_cap", "_rate")

    def __init__(self, stage: ReadTimeoutStage, start: float) -> None:
        if stage.timeout <= 0:
            self._at = self._cap = math.inf
            self._rate = 0
            return
        self._at = start + stage.timeout
        self._cap = start + stage.max_timeout if stage.max_timeout else math.inf
        self._rate = stage.min_rate

    def extend(self, received: int) -> None:
        """``received`` more bytes arrived: MinRate buys ``received / min_rate`` seconds."""
        if self._rate and received:
            self._at = min(self._cap, self._at + received / self._rate)

    def remaining(self, now: float) -> float:
        """Seconds left at ``now`` (inf when the stage is disabled; <= 0 when expired)."""
        return self._at - now
