"""Assembling a server from a configuration: what ``mpmd`` does before the loop.

Everything that can fail for a reason the operator must fix (the config, the
routes, a preloaded application, the MPM) fails here, in the foreground,
before a socket is bound or a child forked.
"""

from __future__ import annotations

import gc
import socket
import sys

import structlog

from mpmd.config.model import ServerConfig
from mpmd.errors import MpmdError
from mpmd.master import listeners as listeners_mod
from mpmd.master.assemble import blueprint, single_process_board, single_process_context
from mpmd.master.supervisor import Supervisor
from mpmd.systemd import activation
from mpmd.systemd.notify import Notifier

__all__ = ["serve", "serve_single", "single_process_board"]

log = structlog.get_logger("mpmd.server")


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
    # Before the application is (pre)loaded: it must not see LISTEN_* itself.
    inherited = activation.inherited_sockets()
    plan = blueprint(config, preload=True)
    gc.collect()
    gc.freeze()  # the preloaded application stays shared copy-on-write after fork
    return Supervisor(plan, defines=defines, inherited=inherited).run()


def serve_single(config: ServerConfig) -> int:
    """``-X``: one child's serving loop in this very process, no master."""
    plan = blueprint(config, preload=True)
    context = single_process_context(plan)
    log.info("server_started", mpm=plan.mpm.name, single_process=True)
    try:
        plan.mpm.child_main(context)
    finally:
        _close(context.listeners)
        listeners_mod.unlink_unix_sockets(config.listen)
        sys.stderr.flush()


def _close(sockets: tuple[socket.socket, ...]) -> None:
    for sock in sockets:
        sock.close()
