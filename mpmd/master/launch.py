"""Launching one child of a generation into a scoreboard slot.

What a new child gets, in one place: a stderr pipe whose read end the master
keeps (its output goes to ErrorLog as ``child_stderr``), the failure channel
to report why it could not start, and its :class:`~mpmd.mpm.base.ChildContext`
(listeners, scoreboards, and every master-private descriptor it must close,
other children's pipes included).  Forking goes through the injected
:class:`~mpmd.master.processes.Processes`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from mpmd.logs.capture import ChildOutput, redirect_stderr
from mpmd.logs.failures import FailureChannel
from mpmd.master.generation import Generation
from mpmd.master.processes import Processes
from mpmd.mpm.base import ChildContext
from mpmd.scoreboard.board import Scoreboard


class Launcher:
    def __init__(self, processes: Processes, private_fds: Callable[[], tuple[int, ...]]) -> None:
        self.processes = processes
        #: the master's own descriptors a child closes (wake-up and control sockets)
        self.private_fds = private_fds
        #: the children's stderr pipes (read ends) and their failure reports
        self.output = ChildOutput()
        self.failures = FailureChannel()

    def launch(self, generation: Generation, slot: int, older: tuple[Scoreboard, ...]) -> int:
        """Fork a child of ``generation`` into ``slot``; returns its pid.

        ``older`` are the other live generations' scoreboards (the child's
        server-status shows them too).
        """
        read_fd, write_fd = self.output.pipe()
        context = self._context(generation, slot, older)
        try:
            pid = self.processes.fork(lambda: _run_child(generation, context, read_fd, write_fd))
        except OSError:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the child's end: only the child writes
        self.output.attach(read_fd, pid, slot, generation.number)
        return pid

    def _context(
        self, generation: Generation, slot: int, older: tuple[Scoreboard, ...]
    ) -> ChildContext:
        return ChildContext(
            config=generation.config,
            generation=generation.number,
            slot=slot,
            master_pid=os.getpid(),
            listeners=generation.listeners,
            scoreboard=generation.scoreboard,
            make_handler=generation.make_handler,
            close_fds=self.private_fds() + self.children_fds(),
            older_boards=older,
            failures=self.failures,
        )

    def children_fds(self) -> tuple[int, ...]:
        """What a child must close: the other children's pipes, the report reader."""
        return (*self.output.fds(), *self.failures.private_fds())

    def close(self) -> None:
        self.output.close_all()
        self.failures.close()


def _run_child(generation: Generation, context: ChildContext, read_fd: int, write_fd: int) -> None:
    os.close(read_fd)  # the master's end
    redirect_stderr(write_fd)
    generation.mpm.child_main(context)
