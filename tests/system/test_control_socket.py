"""The control socket of a real server — under every MPM.

docs/configuration.md: ``ControlSocket path``, default "next to the PidFile
(``run/mpmd.pid`` -> ``run/mpmd.ctl``)": "the 0600 Unix socket ``mpmd reload``,
``restart``, ``stop`` talk to".  0600 means only its owner may connect: the
test checks the mode bits, and (as root) that another user is refused.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import Server, mpmd_cli, wait_for

pytestmark = pytest.mark.slow

OWNER_ONLY = 0o600


def assert_owner_only_socket(path: Path) -> None:
    info = os.lstat(path)
    assert stat.S_ISSOCK(info.st_mode), f"{path} is not a socket"
    assert stat.S_IMODE(info.st_mode) == OWNER_ONLY, oct(stat.S_IMODE(info.st_mode))
    assert info.st_uid == os.geteuid()


def ping(path: Path) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(b'{"command": "ping"}\n')
        return sock.recv(4096)


def test_default_control_socket_is_0600_next_to_the_pidfile(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm)
    path = server.pid_file.with_suffix(".ctl")  # run/mpmd.pid -> run/mpmd.ctl
    wait_for(path.exists, 5, "the control socket")
    assert_owner_only_socket(path)
    assert b'"ok": true' in ping(path)
    # the verbs go through it: `reload` waits for the new generation and says so
    done = mpmd_cli(server, "reload")
    assert done.returncode == 0, done.stderr
    assert "generation 2 serving" in done.stdout
    done = mpmd_cli(server, "stop")
    assert done.returncode == 0, done.stderr
    assert server.wait_exit(5) == 0
    assert not path.exists()  # removed with the server


def test_configured_control_socket_path(
    make_server: Callable[..., Server], mpm: str, tmp_path: Path
) -> None:
    path = tmp_path / "elsewhere" / "mpmd-control.sock"
    server = make_server(mpm=mpm, extra=f"ControlSocket {path}\n")
    wait_for(path.exists, 5, "the configured control socket")
    assert_owner_only_socket(path)
    assert not server.pid_file.with_suffix(".ctl").exists()
    done = mpmd_cli(server, "reload")
    assert done.returncode == 0 and "generation 2 serving" in done.stdout, done.stderr


NOBODY_CONNECTS = """
import os, socket, sys
os.setgid({gid}); os.setuid({uid})
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("refused")
else:
    print("connected")
"""


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user may enter (pytest's own tmp directories are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="mpmd-ctl-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_user_cannot_connect(
    make_server: Callable[..., Server], mpm: str, open_dir: Path
) -> None:
    path = open_dir / "mpmd.ctl"
    server = make_server(mpm=mpm, extra=f"ControlSocket {path}\n")
    wait_for(path.exists, 5, "the control socket")
    nobody = pwd.getpwnam("nobody")
    script = NOBODY_CONNECTS.format(uid=nobody.pw_uid, gid=nobody.pw_gid)
    done = subprocess.run([sys.executable, "-c", script, str(path)],
                          capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "refused", done.stderr
    assert b'"ok": true' in ping(path)  # while its owner may
    assert server.try_connect()
