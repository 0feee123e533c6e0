"""What a serving child tells its handlers about itself.

Built by the MPM in the child and handed to the handler factory, so a handler
(WSGI's ``wsgi.multithread``, server-status's scoreboard view) never reaches
for process globals.
"""

from __future__ import annotations

from dataclasses import dataclass

from mpmd.scoreboard.board import Scoreboard


@dataclass(frozen=True)
class Runtime:
    multithread: bool
    multiprocess: bool
    mpm: str  # "prefork", "worker", "event"
    generation: int
    #: every scoreboard alive when this child was forked: its own generation's
    #: first, then older generations that may still be draining
    boards: tuple[Scoreboard, ...] = ()
