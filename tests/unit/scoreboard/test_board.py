"""The scoreboard is shared across fork and snapshots read what children wrote."""

from __future__ import annotations

import os
import stat

from mpmd.scoreboard.board import Scoreboard
from mpmd.scoreboard.states import State


def test_child_writes_are_visible_to_the_parent() -> None:
    board = Scoreboard(server_limit=4, thread_limit=3)
    board.claim(2, generation=7, threads=3)
    pid = os.fork()
    if pid == 0:
        board.worker(2, 1).status = State.WRITE.value
        board.worker(2, 1).access_count += 5
        os._exit(0)
    board.assign(2, pid)
    os.waitpid(pid, 0)
    snap = board.snapshot()
    view = snap.processes[2]
    assert (view.pid, view.generation, view.states) == (pid, 7, b"SWS")
    assert board.worker(2, 1).access_count == 5
    assert [p.slot for p in snap.live()] == [2]
    board.close()


def test_release_opens_the_slots() -> None:
    board = Scoreboard(server_limit=2, thread_limit=2)
    board.claim(0, generation=1, threads=2)
    board.assign(0, 4242)
    board.release(0)
    view = board.snapshot().processes[0]
    assert view.pid == 0 and view.states == b""
    assert board.worker(0, 0).status == State.OPEN.value
    board.close()


def test_scoreboard_file_is_created_and_removed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "scoreboard"
    board = Scoreboard(server_limit=2, thread_limit=1, path=str(path))
    assert path.stat().st_size > 0
    board.close()
    assert not path.exists()


def test_the_scoreboard_file_is_private_whatever_the_umask(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """It holds client addresses and request lines with query strings: the
    master's user only (issue 12 item 3), even under a permissive umask, and
    from the moment it exists (mode given to open, not chmod afterwards)."""
    path = tmp_path / "run" / "mpmd.scoreboard"
    old = os.umask(0)
    try:
        board = Scoreboard(server_limit=2, thread_limit=1, path=str(path))
    finally:
        os.umask(old)
    try:
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_uid == os.geteuid()
        # every generation's file: a reload maps a fresh one into place
        second = Scoreboard(server_limit=2, thread_limit=1, path=str(path))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        second.close()
    finally:
        board.close()


def test_a_planted_symlink_at_the_path_is_replaced_not_followed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "victim"
    target.write_bytes(b"keep")
    path = tmp_path / "mpmd.scoreboard"
    path.symlink_to(target)
    board = Scoreboard(server_limit=1, thread_limit=1, path=str(path))
    try:
        assert not path.is_symlink()
        assert target.read_bytes() == b"keep"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        board.close()
