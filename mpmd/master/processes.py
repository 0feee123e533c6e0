"""The master's one seam to the operating system's processes and time.

Everything the master does to a process (fork one running a callable, signal
it, reap it) and everything it waits on (readable descriptors, the clock)
goes through a :class:`Processes`.  :class:`OsProcesses` is the real one; a
test hands the Supervisor, Fleet and Reloader a fake and runs their logic
in-process, in milliseconds, with no child forked (tests/unit/master/fakes.py).

Guarantees of the real implementation: a child never returns into the
master's stack (see :func:`mpmd.master.children.fork_child`); signalling an
already-gone child is no error; one reap collects every exit pending, so one
SIGCHLD standing for several exits loses none; a signal interrupting the wait
ends it early with nothing readable, never with an exception.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mpmd.master.children import fork_child


@dataclass(frozen=True)
class Exited:
    """One reaped process: its exit status, or the signal that killed it."""

    pid: int
    code: int | None  # None when killed by a signal
    signal: int | None


class Processes(Protocol):
    def fork(self, run_child: Callable[[], object]) -> int:
        """Start a child running ``run_child``; returns its pid."""

    def send(self, pid: int, sig: int) -> None:
        """Send ``sig`` to ``pid``; a child already gone is no error."""

    def reap(self) -> list[Exited]:
        """Every child that has exited since the last call, without blocking."""

    def wait_readable(self, watched: Sequence[Any], timeout: float) -> list[Any]:
        """Those of ``watched`` (fds or objects with ``fileno``) that became
        readable within ``timeout`` seconds."""

    def now(self) -> float:
        """Monotonic seconds."""


class OsProcesses:
    """The real thing: fork, kill, waitpid and poll."""

    def fork(self, run_child: Callable[[], object]) -> int:
        return fork_child(run_child)

    def send(self, pid: int, sig: int) -> None:
        # An already-gone child is no error: the reaper will see it.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def reap(self) -> list[Exited]:
        exits: list[Exited] = []
        while True:  # until nothing is left: one SIGCHLD may stand for several exits
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return exits
            if pid == 0:
                return exits
            exits.append(_exited(pid, status))

    def wait_readable(self, watched: Sequence[Any], timeout: float) -> list[Any]:
        """``select`` for readability with ``poll``: one pipe per child can take the
        master's descriptors past select's FD_SETSIZE (1024)."""
        by_fd = {(w if isinstance(w, int) else w.fileno()): w for w in watched}
        poller = select.poll()
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        try:
            events = poller.poll(math.ceil(timeout * 1000))
        except InterruptedError:
            return []
        return [by_fd[fd] for fd, _ in events if fd in by_fd]

    def now(self) -> float:
        return time.monotonic()


def _exited(pid: int, status: int) -> Exited:
    if os.WIFSIGNALED(status):
        return Exited(pid, None, os.WTERMSIG(status))
    return Exited(pid, os.waitstatus_to_exitcode(status), None)
