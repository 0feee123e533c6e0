"""Children's stderr into the error log, one ``child_stderr`` event per line.

Apache hands its children the error log as their stderr, so whatever a
module or a CGI prints lands in ``ErrorLog``.  mpmd does the same for what
an application prints — Django's ``Not Found:`` warnings, a traceback from
``traceback.print_exc()``, a C extension's ``abort()`` message, a
``faulthandler`` dump — with two differences that follow from the error log
being structured (JSON lines off a terminal, see docs/logging.md):

- **Events, not bytes.**  Raw application output written into a JSON error
  log would break every reader of it.  Each complete line becomes one event
  ``child_stderr`` (level ``warning``, so the default ``LogLevel warn``
  shows it) with the child's ``pid``, ``slot``, ``generation`` and the
  ``line``.  A line longer than :data:`LINE_LIMIT` bytes is logged in
  pieces of that size; undecodable bytes are shown as ``\\xNN``.
- **The master reads.**  Before each fork the master makes a pipe; the
  child puts its write end on descriptor 2 and the master keeps the read end,
  non-blocking, in the ``select`` of its loop.  Reading in the master keeps
  working when the child's Python cannot run any more (the GIL held by C
  code, a deadlock, a crash): a reader thread inside the child would stop
  with it.  When the child is reaped the master reads what is left and logs
  an unfinished last line too, so a crash's last words are kept even after
  SIGKILL; then it closes the read end, so no descriptor outlives its child
  (a grandchild that kept the pipe gets EPIPE from then on).

Only descriptor 2 is captured.  Descriptor 1 stays as the master's: it is
where ``CustomLog stdout`` writes, and Apache's children do not redirect it
either.  The child's own structured events do not go through the pipe: its
logger writes to the stderr it inherited (see
:func:`mpmd.logs.setup.use_stderr`), so ``ErrorLog stderr`` under systemd
still reaches journald directly, with its priority prefix.

``-X`` (one process, no master) captures nothing: it is the debugging mode,
run in a terminal, where the application's output is wanted as it is, and
there is no second process to read a pipe.

Because the events are logged by the master, they go where the master's
error log goes: into a reopened ``ErrorLog`` file after a reload.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field

import structlog

from mpmd.logs.setup import use_stderr

log = structlog.get_logger("mpmd.master")

#: bytes of one line at most; a longer one is logged in pieces
LINE_LIMIT = 8192
READ_SIZE = 65536


@dataclass
class _Stream:
    fd: int
    pid: int
    slot: int
    generation: int
    pending: bytearray = field(default_factory=bytearray)


class ChildOutput:
    """The read ends of every child's stderr pipe (master side)."""

    def __init__(self) -> None:
        self._streams: dict[int, _Stream] = {}  # by read fd
        self._by_pid: dict[int, int] = {}

    def pipe(self) -> tuple[int, int]:
        """A new pipe for the next child: (read end, write end), both close-on-exec."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        return read_fd, write_fd

    def attach(self, read_fd: int, pid: int, slot: int, generation: int) -> None:
        """After fork: ``read_fd`` carries ``pid``'s stderr."""
        self._streams[read_fd] = _Stream(read_fd, pid, slot, generation)
        self._by_pid[pid] = read_fd

    def fds(self) -> list[int]:
        """The read ends to watch (and for children to close)."""
        return list(self._streams)

    def handle(self, readable: list[int]) -> None:
        """Log what the readable pipes hold (never blocks)."""
        for fd in readable:
            stream = self._streams.get(fd)
            if stream is not None and self._read(stream):
                self._close(stream)

    def child_gone(self, pid: int) -> None:
        """``pid`` was reaped: log the rest of its output, then close the pipe."""
        fd = self._by_pid.get(pid)
        if fd is None:
            return
        stream = self._streams[fd]
        self._read(stream)
        self._close(stream)

    def close_all(self) -> None:
        for stream in list(self._streams.values()):
            self._close(stream)

    def _read(self, stream: _Stream) -> bool:
        """Read until the pipe is empty; True at end of file."""
        while True:
            try:
                data = os.read(stream.fd, READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                return True
            if not data:
                return True
            stream.pending += data
            self._emit_lines(stream)

    def _emit_lines(self, stream: _Stream) -> None:
        pending = stream.pending
        while True:
            end = pending.find(b"\n")
            if end < 0 and len(pending) < LINE_LIMIT:
                return
            cut = end + 1 if 0 <= end < LINE_LIMIT else LINE_LIMIT
            self._log(stream, bytes(pending[:cut]))
            del pending[:cut]

    def _close(self, stream: _Stream) -> None:
        if stream.pending:  # the last words of a child that died mid-line
            self._log(stream, bytes(stream.pending))
            stream.pending.clear()
        self._streams.pop(stream.fd, None)
        if self._by_pid.get(stream.pid) == stream.fd:
            del self._by_pid[stream.pid]
        with contextlib.suppress(OSError):
            os.close(stream.fd)

    def _log(self, stream: _Stream, raw: bytes) -> None:
        line = raw.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
        log.warning("child_stderr", pid=stream.pid, slot=stream.slot,
                    generation=stream.generation, line=line)


def redirect_stderr(write_fd: int) -> None:
    """In a new child: descriptor 2 becomes the pipe to the master.

    The stderr inherited from the master is kept (as a new descriptor) for the
    child's own log events; ``sys.stderr`` keeps working as before — ``print(...,
    file=sys.stderr)`` and ``logging.StreamHandler`` write into the pipe.
    """
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    original = os.dup(2)  # close-on-exec: a subprocess of the app gets the pipe only
    os.dup2(write_fd, 2)  # inheritable: subprocesses of the app write into it too
    os.close(write_fd)
    use_stderr(os.fdopen(original, "w", buffering=1, encoding="utf-8",
                         errors="backslashreplace"))
