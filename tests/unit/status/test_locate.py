"""mpmd status reads the ScoreBoardFile: finding it, copying it, refusing stale ones."""

from __future__ import annotations

import io
import json
import os
import termios
from pathlib import Path

import pytest

from mpmd.config.model import ListenAddress, PreforkSettings, ServerConfig
from mpmd.errors import ControlError
from mpmd.scoreboard.board import Scoreboard
from mpmd.status.command import run_status
from mpmd.status.locate import default_scoreboard_file, read_scoreboard, scoreboard_path


def make_config(tmp_path: Path, **kw: object) -> ServerConfig:
    fields: dict[str, object] = dict(
        config_file=str(tmp_path / "mpmd.conf"), server_root=str(tmp_path),
        mpm_module="mpm_prefork_module", mpm_chosen_by="test",
        mpm_settings=PreforkSettings(2, 3, 3, 0), modules=(), defines=(),
        listen=(ListenAddress("tcp", "127.0.0.1", 8080),),
        pid_file=str(tmp_path / "run" / "mpmd.pid"),
    )
    fields.update(kw)
    return ServerConfig(**fields)  # type: ignore[arg-type]


def test_the_file_is_found_next_to_the_pidfile_unless_configured(tmp_path: Path) -> None:
    assert default_scoreboard_file("/run/mpmd/mpmd.pid") == "/run/mpmd/mpmd.scoreboard"
    assert scoreboard_path(make_config(tmp_path)) == str(tmp_path / "run" / "mpmd.scoreboard")
    own = str(tmp_path / "sb")
    assert scoreboard_path(make_config(tmp_path, scoreboard_file=own)) == own
    assert scoreboard_path(make_config(tmp_path, pid_file="")) == ""


def test_load_is_a_private_copy_that_leaves_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "sb")
    live = Scoreboard(3, 2, path)
    live.header.generation = 4
    live.claim(1, 4, 2)
    live.assign(1, 777)
    copy = Scoreboard.load(path)
    assert (copy.server_limit, copy.thread_limit, copy.header.generation) == (3, 2, 4)
    assert copy.header.master_pid == os.getpid()
    assert copy.snapshot().processes[1].pid == 777
    live.process(1).pid = 778  # the server moves on; the copy does not
    copy.worker(0, 0).status = b"W"  # and writing the copy never reaches the server
    assert copy.snapshot().processes[1].pid == 777
    assert live.worker(0, 0).status == b"."
    copy.close()
    assert os.path.exists(path)
    live.close()


def test_load_refuses_what_is_not_a_scoreboard(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(b"\0" * 8)
    zeros = tmp_path / "zeros"
    zeros.write_bytes(b"\0" * 4096)
    for path in (short, zeros):
        with pytest.raises(ValueError):
            Scoreboard.load(str(path))


def test_read_scoreboard_explains_failures(tmp_path: Path) -> None:
    config = make_config(tmp_path, scoreboard_file=str(tmp_path / "sb"))
    with pytest.raises(ControlError, match=r"no scoreboard at .*is mpmd running"):
        read_scoreboard(config)
    (tmp_path / "sb").write_bytes(b"junk")
    with pytest.raises(ControlError, match="cannot read the scoreboard"):
        read_scoreboard(config)
    with pytest.raises(ControlError, match="needs a ScoreBoardFile"):
        read_scoreboard(make_config(tmp_path, pid_file=""))


def test_a_stale_file_is_not_reported_as_running(tmp_path: Path) -> None:
    path = str(tmp_path / "sb")
    board = Scoreboard(1, 1, path)
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    board.header.master_pid = pid  # a master that is gone
    with pytest.raises(ControlError, match=f"mpmd \\(pid {pid}\\?\\) not running"):
        read_scoreboard(make_config(tmp_path, scoreboard_file=path))
    board.close()


def test_run_status_prints_text_and_json(tmp_path: Path) -> None:
    path = str(tmp_path / "sb")
    board = Scoreboard(3, 1, path)
    board.header.generation = 1
    board.claim(0, 1, 1)
    board.assign(0, os.getpid())
    config = make_config(tmp_path, scoreboard_file=path)
    out = io.StringIO()
    assert run_status(config, out) == 0
    assert "prefork MPM - generation 1" in out.getvalue()
    assert "S.." in out.getvalue()
    out = io.StringIO()
    assert run_status(config, out, as_json=True) == 0
    assert json.loads(out.getvalue())["scoreboard"] == "S.."
    out = io.StringIO()
    parent, child_fd = os.openpty()  # keys typed on a terminal, the view piped elsewhere
    try:
        with os.fdopen(child_fd, closefd=False) as keys_from:
            before = termios.tcgetattr(child_fd)
            os.write(parent, b"q")  # a pager's key: not ours to read
            assert run_status(config, out, watch=True, interval=0.01, count=2,
                              keys_from=keys_from) == 0
            assert termios.tcgetattr(child_fd) == before
    finally:
        os.close(parent)
        os.close(child_fd)
    assert out.getvalue().count("Every 0.01s: mpmd status") == 2
    board.close()  # no server: nothing to watch
    with pytest.raises(ControlError, match="no scoreboard at"):
        run_status(config, io.StringIO(), watch=True, interval=0.01, count=1)
    with pytest.raises(ControlError):
        run_status(config, io.StringIO())  # a single look fails plainly


def test_a_scoreboard_of_another_user_is_explained(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is 0600 (it holds request lines): anyone but its owner is told
    why and what to do, instead of a bare EACCES."""

    def denied(path: str) -> Scoreboard:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(Scoreboard, "load", staticmethod(denied))
    path = str(tmp_path / "sb")
    with pytest.raises(ControlError, match="readable only by the user that started mpmd"):
        read_scoreboard(make_config(tmp_path, scoreboard_file=path))
