"""The scoreboard is shared across fork and snapshots read what children wrote."""

from __future__ import annotations

import os

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
