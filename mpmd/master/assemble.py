"""Building generations: the one place a configuration becomes something that runs.

Three paths need one: the master's start (``mpmd``), a reload, and ``-X``.
They share :func:`blueprint` (the configuration's MPM and handler factory,
which checks the routes and may preload the application) and differ only
where they must:

- start and reload build a :class:`~mpmd.master.generation.Generation` with
  :class:`GenerationFactory` (User/Group resolved, log files handed to that
  user, listeners from the shared pool, a scoreboard of the generation's own
  ServerLimit, a number never reused);
- ``-X`` turns the blueprint into one child's context in this very process
  (:func:`single_process_context`).

Everything here raises (:class:`~mpmd.errors.MpmdError` or ``OSError``) before
anything is forked, so a start fails in the foreground and a reload keeps the
old generation.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mpmd.app.factory import handler_factory
from mpmd.config import load_config
from mpmd.config.model import ServerConfig
from mpmd.master import listeners as listeners_mod
from mpmd.master.generation import Generation, ListenerPool
from mpmd.mpm import privileges, registry
from mpmd.mpm.base import MPM, ChildContext
from mpmd.scoreboard.board import Scoreboard
from mpmd.status.locate import scoreboard_path

if TYPE_CHECKING:
    from mpmd.app.runtime import Runtime
    from mpmd.http.exchange import Handler

#: ``-X`` never reloads: its one process is generation 1, as a master's first
SINGLE_GENERATION = 1


@dataclass(frozen=True)
class Blueprint:
    """What a generation runs: its configuration, its MPM, its handlers."""

    config: ServerConfig
    mpm: MPM
    make_handler: Callable[[Runtime], Handler]


def blueprint(config: ServerConfig, *, preload: bool) -> Blueprint:
    """Load the configuration's MPM and check its routes.

    ``preload`` imports a ``WSGIPreload`` application now (at start); a reload
    passes False: the master cannot re-import modules in place, so the new
    children import the application afresh and pick up new code.
    """
    mpm = registry.load(config.mpm_module)
    return Blueprint(config, mpm, handler_factory(config, preload=preload))


def reload_blueprint(config_file: str, defines: tuple[str, ...]) -> Blueprint:
    """A reload reads and validates the configuration file again."""
    return blueprint(load_config(config_file, defines), preload=False)


class GenerationFactory:
    """Numbers generations and builds them over one shared listener pool."""

    def __init__(self, pool: ListenerPool, clock: Callable[[], float]) -> None:
        self.pool = pool
        self.clock = clock
        self.last = 0  # the last number given out

    def build(self, plan: Blueprint) -> Generation:
        """A generation with its listeners bound and its scoreboard mapped (not
        yet in the fleet).

        User/Group are resolved and the children's log files handed to that
        user here, so a wrong User fails before anything forks.
        """
        config, mpm = plan.config, plan.mpm
        identity = privileges.resolve(config.user, config.group)
        privileges.prepare_child_files(
            [c.target for c in config.custom_logs if c.target not in ("stdout", "stderr")],
            identity,
        )
        mpm.prepare()
        listeners = self.pool.acquire(config.listen)
        settings = config.mpm_settings
        board = Scoreboard(settings.server_limit, mpm.threads_per_child(settings),
                           scoreboard_path(config))
        self.last += 1  # never reused, even after a failed reload
        board.header.generation = self.last
        return Generation(self.last, config, mpm, plan.make_handler, board, listeners,
                          mpm.initial_state(settings), started=self.clock())


def single_process_context(plan: Blueprint) -> ChildContext:
    """``-X``: the one child's context, served by this process; no master."""
    config, mpm = plan.config, plan.mpm
    mpm.prepare()
    sockets = listeners_mod.bind_all(config.listen, config.listen_backlog)
    board = single_process_board(mpm.threads_per_child(config.mpm_settings),
                                 config.scoreboard_file)
    return ChildContext(
        config=config,
        generation=SINGLE_GENERATION,
        slot=0,
        master_pid=os.getppid(),
        listeners=sockets,
        scoreboard=board,
        make_handler=plan.make_handler,
        single_process=True,
    )


def single_process_board(threads: int, path: str = "") -> Scoreboard:
    """``-X``'s scoreboard: one process slot, this process, in the current generation.

    The header's generation must be the slot's: mod_status counts idle
    workers of the current generation only, so a slot of an "older"
    generation would report ``IdleWorkers: 0`` beside a line of ``_``.
    """
    board = Scoreboard(1, threads, path)
    board.header.generation = SINGLE_GENERATION
    board.claim(0, SINGLE_GENERATION, threads)
    board.assign(0, os.getpid())
    return board
