"""The MPM interface: what the master may ask of an MPM, and nothing more.

The master knows no MPM by name.  It asks the loaded MPM for:

* ``capabilities`` — what ``mpmd -V`` prints (Apache's ``ap_mpm_query``);
* ``threads_per_child(settings)`` — how many worker slots a child uses;
* ``initial_state(settings)`` and ``maintain(settings, snapshot, state, now)``
  — a **pure** function from a scoreboard snapshot to a :class:`Plan`
  (spawn into these slots, retire these children), unit-tested with synthetic
  snapshots;
* ``child_main(context)`` — runs in the forked child and never returns.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from mpmd.config.model import MpmSettings, ServerConfig
from mpmd.scoreboard.board import Scoreboard, Snapshot

if TYPE_CHECKING:
    from mpmd.app.runtime import Runtime
    from mpmd.http.exchange import Handler
    from mpmd.logs.failures import FailureChannel


@dataclass(frozen=True)
class Capabilities:
    """Answers to Apache's ``ap_mpm_query`` questions, as ``-V`` prints them."""

    threaded: bool
    forked: bool = True
    async_connections: bool = False  # idle connections held without a thread


@dataclass(frozen=True)
class LogEvent:
    """A decision the master should log (maintenance reports through the plan,
    because ``maintain`` itself is pure)."""

    name: str
    level: str = "info"
    data: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Plan:
    """What maintenance asks the master to do now."""

    spawn: tuple[int, ...] = ()  # open slots to fork a new child into
    retire: tuple[int, ...] = ()  # slots whose child should stop gracefully
    events: tuple[LogEvent, ...] = ()
    wake_at: float | None = None  # when maintenance wants to run again (monotonic)


@dataclass(frozen=True)
class ChildContext:
    """Everything a child needs, handed over by the master at fork."""

    config: ServerConfig
    generation: int
    slot: int
    master_pid: int
    listeners: tuple[socket.socket, ...]
    scoreboard: Scoreboard
    #: builds the request handler inside the child
    make_handler: Callable[[Runtime], Handler]
    #: fds the child must close at start (the master's private pipes)
    close_fds: tuple[int, ...] = field(default=())
    #: ``-X``: no master; Ctrl-C ends the process
    single_process: bool = False
    #: scoreboards of older generations still draining at fork time (server-status)
    older_boards: tuple[Scoreboard, ...] = ()
    #: where the child reports why it could not start (None in ``-X``: no master)
    failures: FailureChannel | None = None


class MPM(Protocol):
    """One Multi-Processing Module."""

    module: str  # "mpm_prefork_module"
    name: str  # "prefork"
    capabilities: Capabilities

    def threads_per_child(self, settings: MpmSettings) -> int: ...

    def prepare(self) -> None:
        """Import the child's serving code in the master, before forking: the
        children share it copy-on-write, and a child that drops to an
        unprivileged User needs no access to the installation afterwards."""

    def initial_state(self, settings: MpmSettings) -> Any: ...

    def maintain(
        self, settings: MpmSettings, snapshot: Snapshot, state: Any, now: float
    ) -> tuple[Plan, Any]: ...

    def child_main(self, context: ChildContext) -> NoReturn: ...
