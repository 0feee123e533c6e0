"""The child bootstrap every MPM shares.

Right after ``fork`` a child must: never outlive the master
(``PR_SET_PDEATHSIG`` plus a parent check, which closes the race of a master
that died before the prctl); drop the master's signal handling and take its
own (TERM kills at once, USR1 asks for a graceful stop — the handler only
records it and wakes the poller through ``signal.set_wakeup_fd``); title itself;
log with its own context; import the application.  It ends with
:func:`exit_child`, which never runs the master's ``atexit`` hooks.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

import setproctitle
import structlog

from mpmd.errors import ChildExit, MpmdError
from mpmd.logs.failures import ChildFailure, cut_words
from mpmd.logs.setup import configure_logging
from mpmd.mpm.privileges import drop_privileges
from mpmd.scoreboard.board import FAILURE_FIELD

if TYPE_CHECKING:
    from mpmd.http.exchange import Handler
    from mpmd.mpm.base import ChildContext

log = structlog.get_logger("mpmd.child")

PR_SET_PDEATHSIG = 1
# The running process's own symbols include libc's on Linux; resolved once at
# import (in the master), never with find_library, which forks ldconfig.
_LIBC = ctypes.CDLL(None, use_errno=True)
GRACEFUL_SIGNAL = signal.SIGUSR1  # master -> child: finish what you serve, then exit


@dataclass
class ChildControl:
    """A child's own stop flag and wake-up pipe (one instance per child process)."""

    wake_r: socket.socket
    wake_w: socket.socket
    graceful: list[bool] = field(default_factory=lambda: [False])

    @property
    def stopping(self) -> bool:
        return self.graceful[0]

    def drain_wakeups(self) -> None:
        try:
            while self.wake_r.recv(512):
                pass
        except BlockingIOError:
            pass


def enter_child(ctx: ChildContext, mpm_name: str) -> ChildControl:
    """Everything a fresh child does before it serves (see module docstring)."""
    # Our own wake-up fd first: until then a signal would be written to the
    # master's, which we are about to close.
    control = _install_signals(ctx.single_process)
    for fd in ctx.close_fds:
        _close_quietly(fd)
    _die_with_master(ctx.master_pid)
    setproctitle.setproctitle(
        f"mpmd: {mpm_name} child [generation {ctx.generation}, slot {ctx.slot}]"
    )
    configure_logging(ctx.config, role="child")
    structlog.contextvars.bind_contextvars(slot=ctx.slot, generation=ctx.generation)
    _drop_privileges(ctx)
    # Changing the process's ids cleared PR_SET_PDEATHSIG (prctl(2)): arm it again.
    _die_with_master(ctx.master_pid)
    return control


def _drop_privileges(ctx: ChildContext) -> None:
    """User/Group: after the error log is open, before any request is read."""
    try:
        drop_privileges(ctx.config.user, ctx.config.group)
    except MpmdError as exc:
        log.error("privileges_drop_failed", error=str(exc))
        report_failure(ctx, ChildFailure(f"could not drop privileges: {exc}"))
        exit_child(ChildExit.CHILDFATAL)


def load_handler(ctx: ChildContext, mpm_name: str, multithread: bool) -> Handler:
    """Build the request handler; an application that cannot load is fatal for
    this generation (Apache's APEXIT_CHILDFATAL: the master stops, not loops)."""
    from mpmd.app.runtime import Runtime

    runtime = Runtime(
        multithread=multithread,
        multiprocess=not ctx.single_process,
        mpm=mpm_name,
        generation=ctx.generation,
        boards=(ctx.scoreboard, *ctx.older_boards),
    )
    try:
        return ctx.make_handler(runtime)
    except Exception as exc:
        failure = _load_failure(exc)
        # The traceback is shown once: by the master (child_fatal, reload_failed)
        # when it got the report in full, else here.
        told = report_failure(ctx, failure)
        extra = {"exception": failure.details} if failure.details and not told else {}
        log.error("app_load_failed", error=failure.headline, **extra)
        exit_child(ChildExit.CHILDFATAL)


def _load_failure(exc: Exception) -> ChildFailure:
    from mpmd.app.loader import AppLoadError, format_app_traceback

    if isinstance(exc, AppLoadError):
        return ChildFailure(f"application failed to load: {exc.headline}", exc.details())
    headline = " ".join(str(exc).split()) or type(exc).__name__
    return ChildFailure(f"application failed to load: {headline}", format_app_traceback(exc))


def report_failure(ctx: ChildContext, failure: ChildFailure) -> bool:
    """Tell the master why this child cannot start; True if it has every detail.

    The scoreboard slot gets the headline (bounded, cut between words); the
    failure channel the whole report (see mpmd.logs.failures).
    """
    slot = ctx.scoreboard.process(ctx.slot)
    slot.failure = cut_words(failure.headline, FAILURE_FIELD - 1).encode("utf-8", "replace")
    return ctx.failures.send(failure) if ctx.failures is not None else False


def exit_child(code: int) -> NoReturn:
    """Leave without running the master's atexit hooks or flushing its buffers twice."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(int(code))


def _die_with_master(master_pid: int) -> None:
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    # The master may have died between fork and prctl: then no signal comes.
    if os.getppid() != master_pid:
        exit_child(ChildExit.OK)


def master_alive(master_pid: int) -> bool:
    return os.getppid() == master_pid


def _install_signals(single_process: bool) -> ChildControl:
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    control = ChildControl(wake_r, wake_w)
    signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
    flag = control.graceful

    def on_graceful(signum: int, frame: object) -> None:
        flag[0] = True  # only record; the serving loop acts on it

    signal.signal(GRACEFUL_SIGNAL, on_graceful)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # ungraceful stop: die now
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGWINCH, signal.SIGUSR2):
        # Ctrl-C and friends reach the whole process group; the master decides.
        signal.signal(sig, signal.SIG_IGN)
    if single_process:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # -X: Ctrl-C stops the server
    # The master forks with every signal blocked (see master.children.fork_child).
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    return control


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
