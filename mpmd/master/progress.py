"""What systemd hears about a running server: READY, then STATUS lines.

``READY=1`` goes out once, when the first generation serves (every child it
started left STARTING), not when the sockets are bound: under
``Type=notify`` a unit ordered after mpmd then finds it answering.  After
that a ``STATUS=`` line (phase, generation, MPM, children busy and idle,
from the scoreboard) every :data:`STATUS_INTERVAL` seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from mpmd.master.generation import Generation
from mpmd.scoreboard.states import BUSY_STATES, IDLE_STATES
from mpmd.systemd.notify import Notifier

log = structlog.get_logger("mpmd.master")

STATUS_INTERVAL = 5.0  # seconds between systemd STATUS= updates


class Progress:
    def __init__(self, notifier: Notifier, clock: Callable[[], float]) -> None:
        self.notifier = notifier
        self.clock = clock
        self.ready_sent = False
        self.next_status = 0.0

    def tick(self, active: Generation | None, phase: str) -> None:
        """Called each turn while the server runs."""
        if active is None:
            return
        if not self.ready_sent and active.ready():
            self.ready_sent = True
            self.notifier.ready(status_line(active, phase))
            log.info("server_ready", generation=active.number, mpm=active.mpm.name)
        now = self.clock()
        if self.ready_sent and now >= self.next_status and self.notifier.enabled:
            self.next_status = now + STATUS_INTERVAL
            self.notifier.status(status_line(active, phase))


def status_line(active: Generation | None, phase: str) -> str:
    """``running: generation 2 (event), 3 children, 1 busy, 74 idle``."""
    if active is None:
        return phase
    live = active.scoreboard.snapshot().live(active.number)
    busy = sum(p.count(BUSY_STATES) for p in live)
    idle = sum(p.count(IDLE_STATES) for p in live)
    return (f"{phase}: generation {active.number} ({active.mpm.name}), "
            f"{len(live)} children, {busy} busy, {idle} idle")
