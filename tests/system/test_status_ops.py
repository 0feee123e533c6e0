"""Operating the status views of a real server (issue 12): the scoreboard file
is private, ``-X`` counts its idle workers, and ``mpmd status --watch`` ends
on ``q`` and when the server goes away.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import termios
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from harness import REPO, Server, ServerSpec, mpmd_cli, wait_for

sys.path.insert(0, str(REPO / "tests" / "unit" / "status"))
from apache_auto import parse_auto

pytestmark = pytest.mark.slow

STATUS_LOCATION = """
ExtendedStatus On
<Location /server-status>
    SetHandler server-status
    Require local
</Location>
"""
#: mod_status: letters that are neither busy nor idle (open, starting, idle
#: cleanup) and the graceful one, counted apart
NOT_BUSY = set("_.SIG")


def auto(port: int) -> dict[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/server-status?auto",
                                timeout=10) as resp:
        _, values = parse_auto(resp.read().decode("latin-1"))
    return values


def scoreboard_file(server: Server) -> Path:
    # no ScoreBoardFile configured: next to the PidFile (run/mpmd.pid)
    return server.pid_file.with_suffix(".scoreboard")


def assert_private(path: Path, uid: int) -> None:
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == uid


# -- item 3: the scoreboard file holds request lines; its owner only -------------


def test_the_scoreboard_file_is_readable_by_its_owner_only(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm, extra=STATUS_LOCATION)  # ExtendedStatus: request lines
    path = scoreboard_file(server)
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/?token=s3cret",
                                timeout=10) as resp:
        assert resp.status == 200
    wait_for(lambda: b"token=s3cret" in path.read_bytes(), 5, "the request line in the file")
    assert_private(path, os.geteuid())
    inode = path.stat().st_ino
    done = mpmd_cli(server, "reload")  # a new generation maps a new file
    assert done.returncode == 0, done.stderr
    assert path.stat().st_ino != inode
    assert_private(path, os.geteuid())
    shown = mpmd_cli(server, "status")  # its owner reads it
    assert shown.returncode == 0, shown.stderr


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A world-traversable directory (``nobody`` must reach the application)."""
    path = Path(tempfile.mkdtemp(prefix="mpmd-ops-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the master starts as root")
def test_children_that_dropped_to_nobody_still_write_the_private_scoreboard(
    open_dir: Path, mpm: str
) -> None:
    """The file is root's, 0600; the children run as nobody and never reopen
    it: they inherited the mapping, so their slots still fill in."""
    nobody = pwd.getpwnam("nobody")
    server = Server(open_dir, ServerSpec(mpm=mpm, start_servers=2,
                                         extra="User nobody\n" + STATUS_LOCATION))
    try:
        server.start()
        wait_for(lambda: all(psutil_uid(p) == nobody.pw_uid for p in server.child_pids()),
                 10, "every child to run as nobody")
        for _ in range(3):
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=10):
                pass
        # Both in one condition: a prefork child that has just served may show C
        # (closing) for a moment, so the other may be serving this very probe.
        wait_for(lambda: int((v := auto(server.port))["Total Accesses"]) >= 3
                 and int(v["IdleWorkers"]) >= 1, 5,
                 "the children's requests and an idle child (it reported itself ready)")
        assert_private(scoreboard_file(server), 0)
        shown = mpmd_cli(server, "status")
        assert shown.returncode == 0, shown.stderr
    finally:
        server.kill_group()


def psutil_uid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[2])  # effective
    except OSError:
        return None
    return None


# -- item 7: -X counts its own idle workers --------------------------------------


def test_single_process_mode_reports_its_idle_workers(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm, args=("-X",), extra=STATUS_LOCATION)
    values = auto(server.port)
    letters = values["Scoreboard"]
    assert values["ParentServerConfigGeneration"] == "1"
    assert int(values["IdleWorkers"]) == letters.count("_")
    busy = sum(1 for letter in letters if letter not in NOT_BUSY)
    assert int(values["BusyWorkers"]) == busy >= 1  # at least this status request
    assert "W" in letters
    if mpm != "prefork":  # ThreadsPerChild 4: the other threads wait
        assert letters.count("_") >= 1


# -- item 15: status --watch ends on q, and when the server goes away ------------


def read_until(fd: int, until: Callable[[bytes], bool], timeout: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while not until(out):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"output incomplete after {timeout} s: {out[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        out += chunk
    return out


def watch_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = str(REPO)
    return env


@dataclass
class WatchInPty:
    proc: subprocess.Popen[bytes]
    parent: int  # our end of the pty: what the view shows, where keys go
    child_fd: int  # the view's terminal
    before: list[Any]  # its mode before the view started


@contextlib.contextmanager
def watch_in_pty(server: Server) -> Iterator[WatchInPty]:
    """``mpmd status --watch`` on a fresh pty, once it has drawn twice; always
    killed and the pty closed afterwards."""
    parent, child_fd = os.openpty()
    before = termios.tcgetattr(child_fd)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mpmd", "-f", str(server.conf), "status", "--watch",
         "--interval", "0.2"],
        stdin=child_fd, stdout=child_fd, stderr=child_fd, env=watch_env(),
        start_new_session=True,
    )
    try:
        read_until(parent, lambda out: out.count(b"\x1b[H") >= 2, 20)
        yield WatchInPty(proc, parent, child_fd, before)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(5)
        os.close(parent)
        os.close(child_fd)


def test_q_quits_the_live_view_and_restores_the_terminal(
    make_server: Callable[..., Server]
) -> None:
    with watch_in_pty(make_server(mpm="event")) as view:
        os.write(view.parent, b"q")
        shown = read_until(view.parent, lambda out: b"\x1b[?25h" in out, 5)
        assert view.proc.wait(5) == 0
        assert b"q" not in shown.split(b"\x1b[H")[-1]  # cbreak: the key was not echoed
        assert termios.tcgetattr(view.child_fd) == view.before  # cooked mode again


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_term_or_hangup_ends_the_live_view_and_restores_the_terminal(
    make_server: Callable[..., Server], signum: int
) -> None:
    # Without a handler the default action kills the view with the terminal
    # left in cbreak mode (no echo, no line editing) for the shell that follows.
    with watch_in_pty(make_server(mpm="event")) as view:
        assert termios.tcgetattr(view.child_fd) != view.before  # cbreak while it runs
        view.proc.send_signal(signum)
        read_until(view.parent, lambda out: b"\x1b[?25h" in out, 5)  # the cursor is back
        assert view.proc.wait(5) == 128 + signum  # the shell's convention for "killed by"
        assert termios.tcgetattr(view.child_fd) == view.before  # cooked mode again


def test_the_live_view_ends_once_with_an_error_when_the_server_stops(
    make_server: Callable[..., Server]
) -> None:
    server = make_server(mpm="prefork")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mpmd", "-f", str(server.conf), "status", "--watch",
         "--interval", "0.2"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=watch_env(), start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        read_until(proc.stdout.fileno(), lambda out: out.count(b"Every 0.2s") >= 2, 20)
        server.signal(signal.SIGTERM)
        server.wait_exit(20)
        stopped = time.monotonic()
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - stopped
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(5)
    assert proc.returncode == 1
    assert took < 8  # the grace is 2 s, then it gives up
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mpmd: the server went away: "), lines
    assert b"mpmd:" not in out  # the frames never repeat the error
