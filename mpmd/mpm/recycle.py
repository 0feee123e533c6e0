"""A child's own judgement that it should be replaced.

After MaxConnectionsPerChild connections, or once its resident memory passes
MaxMemoryPerChild (read with psutil at most once a second, between
connections), a child raises its scoreboard slot's ``recycle`` flag and
*keeps serving*.  The master forks its replacement first and retires it only
when the replacement is ready, one child at a time (:mod:`mpmd.master.fleet`),
so capacity never dips and children that reach the limit together do not all
go at once.  Without a master (``-X``) the child simply stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psutil
import structlog

from mpmd.mpm.base import ChildContext

log = structlog.get_logger("mpmd.child")

MEMORY_CHECK_INTERVAL = 1.0  # seconds between RSS reads


class RecycleMonitor:
    def __init__(self, ctx: ChildContext, clock: Callable[[], float] = time.monotonic) -> None:
        self._slot = ctx.scoreboard.process(ctx.slot)
        self._max_connections = ctx.config.mpm_settings.max_connections_per_child
        self._max_memory = ctx.config.max_memory_per_child
        self._standalone = ctx.single_process
        self._clock = clock
        self._connections = 0
        self._next_check = 0.0
        self._process = psutil.Process() if self._max_memory else None
        self.asked = False

    @property
    def exit_now(self) -> bool:
        """Stop serving: only without a master, which otherwise decides when."""
        return self.asked and self._standalone

    def connection(self) -> None:
        """One more connection accepted (counts towards MaxConnectionsPerChild)."""
        self._connections += 1
        if self._max_connections and self._connections >= self._max_connections:
            self._ask("max_connections_per_child", connections=self._connections)

    def check_memory(self) -> None:
        if self._process is None or self.asked:
            return
        now = self._clock()
        if now < self._next_check:
            return
        self._next_check = now + MEMORY_CHECK_INTERVAL
        rss = self._process.memory_info().rss
        if rss > self._max_memory:
            self._ask("max_memory_per_child", rss=rss, limit=self._max_memory)

    def _ask(self, reason: str, **data: Any) -> None:
        if self.asked:
            return
        self.asked = True
        self._slot.recycle = 1
        log.info("child_recycling", reason=reason, **data)
