"""Assembling a server from a configuration: what ``mpmd`` does before the loop.

Everything that can fail for a reason the operator must fix (the config, the
routes, a preloaded application, the MPM) fails here, in the foreground,
before a socket is bound or a child forked.
"""

from __future__ import annotations

import gc
import os
import socket
import sys
from typing import TYPE_CHECKING

import structlog

from mpmd.app.factory import handler_factory
from mpmd.config.model import ServerConfig
from mpmd.errors import MpmdError
from mpmd.master import listeners as listeners_mod
from mpmd.master.supervisor import Supervisor
from mpmd.mpm import registry
from mpmd.mpm.base import ChildContext
from mpmd.scoreboard.board import Scoreboard
from mpmd.systemd import activation
from mpmd.systemd.notify import Notifier

if TYPE_CHECKING:

    pass

log = structlog.get_logger("mpmd.server")

#: ``-X`` never reloads: its one process is generation 1, as a master's first
SINGLE_GENERATION = 1


def serve(config: ServerConfig, defines: tuple[str, ...] = ()) -> int:
    """Run the master until it stops; returns the process exit status.

    A start that fails here (a preloaded application that does not import, a
    port that cannot be bound) tells systemd why in ``STATUS=``.
    """
    try:
        return _serve(config, defines)
    except MpmdError as exc:
        Notifier.from_env().start_failed(getattr(exc, "headline", None) or str(exc))
        raise


def _serve(config: ServerConfig, defines: tuple[str, ...]) -> int:
    mpm = registry.load(config.mpm_module)
    # Before the application is (pre)loaded: it must not see LISTEN_* itself.
    inherited = activation.inherited_sockets()
    make_handler = handler_factory(config)
    gc.collect()
    gc.freeze()
    return Supervisor(config, mpm, make_handler, defines=defines, inherited=inherited).run()


def serve_single(config: ServerConfig) -> int:
    """``-X``: one child's serving loop in this very process, no master."""
    mpm = registry.load(config.mpm_module)
    mpm.prepare()
    make_handler = handler_factory(config)
    settings = config.mpm_settings
    sockets = listeners_mod.bind_all(config.listen, config.listen_backlog)
    board = single_process_board(mpm.threads_per_child(settings), config.scoreboard_file)
    log.info("server_started", mpm=mpm.name, single_process=True)
    context = ChildContext(
        config=config,
        generation=SINGLE_GENERATION,
        slot=0,
        master_pid=os.getppid(),
        listeners=sockets,
        scoreboard=board,
        make_handler=make_handler,
        single_process=True,
    )
    try:
        mpm.child_main(context)
    finally:
        _close(sockets)
        listeners_mod.unlink_unix_sockets(config.listen)
        sys.stderr.flush()


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


def _close(sockets: tuple[socket.socket, ...]) -> None:
    for sock in sockets:
        sock.close()
