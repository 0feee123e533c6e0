"""ChildOutput: a child's stderr bytes in, one child_stderr event per line out.

Real pipes, no fork: the test writes what a child would, the master's side
turns it into events.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from mpmd.logs.capture import LINE_LIMIT, ChildOutput

PID, SLOT, GENERATION = 4242, 3, 7


@pytest.fixture
def output() -> Iterator[tuple[ChildOutput, int]]:
    """A ChildOutput with one attached child; yields it and the child's write end."""
    out = ChildOutput()
    read_fd, write_fd = out.pipe()
    out.attach(read_fd, PID, SLOT, GENERATION)
    yield out, write_fd
    out.close_all()
    with contextlib.suppress(OSError):
        os.close(write_fd)


def lines(entries: list[dict[str, object]]) -> list[object]:
    return [e["line"] for e in entries if e["event"] == "child_stderr"]


def test_each_complete_line_is_one_event_with_the_childs_identity(
    output: tuple[ChildOutput, int]
) -> None:
    out, w = output
    os.write(w, b"first\nsecond\r\nthi")
    with capture_logs() as logs:
        out.handle(out.fds())
    assert lines(logs) == ["first", "second"]
    assert logs[0] == {"event": "child_stderr", "log_level": "warning", "pid": PID,
                       "slot": SLOT, "generation": GENERATION, "line": "first"}
    os.write(w, b"rd\n")
    with capture_logs() as logs:
        out.handle(out.fds())
    assert lines(logs) == ["third"]  # the partial line waited for its end


def test_an_unfinished_last_line_is_logged_when_the_child_is_reaped(
    output: tuple[ChildOutput, int]
) -> None:
    out, w = output
    os.write(w, b"Fatal Python error: Aborted")  # no newline: the child died here
    with capture_logs() as logs:
        out.handle(out.fds())
        assert lines(logs) == []
        out.child_gone(PID)
    assert lines(logs) == ["Fatal Python error: Aborted"]
    assert out.fds() == []


def test_output_left_in_the_pipe_is_read_on_reap(output: tuple[ChildOutput, int]) -> None:
    out, w = output
    os.write(w, b"one\ntwo\n")  # never seen by the loop: the child exited first
    with capture_logs() as logs:
        out.child_gone(PID)
    assert lines(logs) == ["one", "two"]


def test_the_read_end_is_closed_on_reap_and_at_end_of_file(
    output: tuple[ChildOutput, int]
) -> None:
    out, _ = output
    (read_fd,) = out.fds()
    out.child_gone(PID)
    with pytest.raises(OSError):
        os.fstat(read_fd)
    second_r, second_w = out.pipe()
    out.attach(second_r, PID + 1, SLOT, GENERATION)
    os.close(second_w)  # every writer gone: end of file
    out.handle([second_r])
    assert out.fds() == []
    with pytest.raises(OSError):
        os.fstat(second_r)


def test_a_long_line_is_cut_into_pieces_of_the_bound(output: tuple[ChildOutput, int]) -> None:
    out, w = output
    os.write(w, b"y" * (LINE_LIMIT * 2 + 10) + b"\n")
    with capture_logs() as logs:
        out.handle(out.fds())
    assert [len(str(line)) for line in lines(logs)] == [LINE_LIMIT, LINE_LIMIT, 10]
    assert LINE_LIMIT == 8192  # the bound docs/logging.md states


def test_bytes_that_are_not_utf8_are_shown_escaped(output: tuple[ChildOutput, int]) -> None:
    out, w = output
    os.write(w, "caf\u00e9 \xff".encode("latin-1") + b"\n")
    with capture_logs() as logs:
        out.handle(out.fds())
    assert lines(logs) == ["caf\\xe9 \\xff"]


def test_a_pipe_with_nothing_to_read_does_not_block(output: tuple[ChildOutput, int]) -> None:
    out, _ = output
    with capture_logs() as logs:
        out.handle(out.fds())
    assert logs == []


def test_redirect_keeps_sys_stderr_and_logging_working_and_events_apart() -> None:
    """In a fresh interpreter (fd 2 is process-wide): print, logging.StreamHandler
    and a C-level write reach the pipe; the process's own events do not."""
    script = (
        "import logging, os, sys\n"
        "from mpmd.logs.capture import redirect_stderr\n"
        "from mpmd.logs.setup import configure_logging\n"
        "import structlog\n"
        "r, w = os.pipe()\n"
        "redirect_stderr(w)\n"
        "configure_logging()\n"
        "print('by print', file=sys.stderr)\n"
        "logging.getLogger('x').addHandler(logging.StreamHandler())\n"
        "logging.getLogger('x').warning('by logging')\n"
        "os.write(2, b'by fd 2\\n')\n"
        "structlog.get_logger().warning('own_event')\n"
        "sys.stderr.flush(); os.close(2)\n"
        "sys.stdout.write(os.read(r, 65536).decode())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["by print", "by logging", "by fd 2"]
    assert '"event": "own_event"' in done.stderr  # the inherited stderr, as before
