"""An application that fails to import, as the operator sees it (issue 12, item 11).

The whole traceback — the application's own frames, however deep the import
that fails — is shown once, with the ``WSGIApp`` line that named the
application and, for a module that is not found, the ``sys.path`` searched;
``child_fatal``'s reason is never cut; ``mpmd reload`` prints all of it; a
failed start tells systemd why in ``STATUS=``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import HELLO_APP, REPO, Server, mpmd_cli, wait_for

# hello.py imports helper_a, which imports helper_b, whose function raises:
# the test expects these files and lines in the traceback.
HELPER_A = "import helper_b\n"
HELPER_B = "def compute():\n    return 1 / 0\n\n\nVALUE = compute()\n"
BROKEN_APP = "import helper_a\n\n" + HELLO_APP
MISSING_APP = "import mpmd_no_such_dependency_xyz\n" + HELLO_APP
# A message of 60 words, longer than any bound a datagram or the scoreboard has
# had to use for its one line (240 bytes).
LONG_WORDS = " ".join(f"word{i:02d}" for i in range(60))
LONG_APP = f"raise RuntimeError({LONG_WORDS!r})\n"


def fetch(server: Server) -> bytes:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5) as r:
            return bytes(r.read())
    except OSError:
        return b""


def write_helpers(server: Server) -> None:
    (server.root / "app" / "helper_a.py").write_text(HELPER_A)
    (server.root / "app" / "helper_b.py").write_text(HELPER_B)


def wsgi_app_line(server: Server) -> str:
    """``file:line`` of the WSGIApp directive, read from the written config."""
    lines = server.conf.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.startswith("WSGIApp "))
    return f"{server.conf}:{number}"


def start_failing(server: Server) -> int:
    server.start(wait=False)
    assert server.proc is not None
    return server.proc.wait(30)


def traceback_events(server: Server) -> list[dict[str, Any]]:
    return [e for e in server.events() if "Traceback (most recent call last)" in json.dumps(e)]


def test_start_failure_shows_the_app_frames_once_with_the_wsgiapp_line(
    make_server: Any, mpm: str
) -> None:
    server = make_server(start=False, mpm=mpm, app_source=BROKEN_APP)
    write_helpers(server)
    assert start_failing(server) == 1
    fatal = server.wait_event("child_fatal")
    assert len(fatal) == 1
    event = fatal[0]
    assert event["reason"] == (
        "application failed to load: cannot import 'hello': ZeroDivisionError: division by "
        f"zero (WSGIApp at {wsgi_app_line(server)})"
    )
    trace = event["exception"]
    app_dir = server.root / "app"
    # every frame of the application's own code, innermost last, on lines of their own
    for frame in (f'File "{app_dir}/hello.py", line 1, in <module>',
                  f'File "{app_dir}/helper_a.py", line 1, in <module>',
                  f'File "{app_dir}/helper_b.py", line 5, in <module>',
                  f'File "{app_dir}/helper_b.py", line 2, in compute'):
        assert f"\n  {frame}\n" in trace
    assert trace.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "importlib" not in trace and "mpmd/" not in trace  # the app's frames, not ours
    assert traceback_events(server) == [event]  # once, however many children failed


def test_a_missing_module_shows_the_sys_path_searched(make_server: Any) -> None:
    server = make_server(start=False, app_source=MISSING_APP)
    assert start_failing(server) == 1
    event = server.wait_event("child_fatal")[0]
    assert "ModuleNotFoundError: No module named 'mpmd_no_such_dependency_xyz'" in event["reason"]
    searched = event["exception"].split("sys.path searched:\n", 1)[1].splitlines()
    assert searched[0] == f"  {server.root / 'app'}"  # WSGIPath first, then the interpreter's
    assert any(line.strip().endswith("site-packages") for line in searched)


def test_a_long_reason_is_not_cut(make_server: Any) -> None:
    server = make_server(start=False, app_source=LONG_APP)
    assert start_failing(server) == 1
    event = server.wait_event("child_fatal")[0]
    assert f"RuntimeError: {LONG_WORDS} (WSGIApp at" in event["reason"]


def test_reload_prints_the_whole_traceback(make_server: Any) -> None:
    server = make_server(start_servers=1)
    write_helpers(server)
    # A child serves (has imported the good code) before the code on disk breaks.
    wait_for(lambda: fetch(server) == b"Hello, World!", 30, "the application to serve")
    (server.root / "app" / "hello.py").write_text(BROKEN_APP)
    done = mpmd_cli(server, "reload")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == (
        "reload failed: application failed to load: cannot import 'hello': "
        f"ZeroDivisionError: division by zero (WSGIApp at {wsgi_app_line(server)})"
    )
    assert "Traceback (most recent call last):" in lines
    assert f'  File "{server.root / "app" / "helper_b.py"}", line 2, in compute' in lines
    assert lines[-1] == "ZeroDivisionError: division by zero"
    failed = server.wait_event("reload_failed")
    assert len(failed) == 1 and "helper_b.py" in failed[0]["exception"]
    assert len(traceback_events(server)) == 1
    assert server.try_connect()  # the old generation still serves


def test_a_preloaded_app_that_fails_prints_its_traceback(make_server: Any) -> None:
    server = make_server(start=False, app_source=BROKEN_APP, extra="WSGIPreload On\n")
    write_helpers(server)
    assert start_failing(server) == 1
    err = server.stderr_text()
    assert f"(WSGIApp at {wsgi_app_line(server)})" in err
    assert f'File "{server.root / "app" / "helper_b.py"}", line 2, in compute\n' in err
    assert err.count("Traceback (most recent call last)") == 1


# -- systemd: a failed start says why ------------------------------------------


@pytest.fixture
def notify_socket() -> Iterator[socket.socket]:
    path = Path(f"/tmp/mpmd-apperr-{os.getpid()}-{time.monotonic_ns()}.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        yield sock
    finally:
        sock.close()
        path.unlink(missing_ok=True)


def received(sock: socket.socket) -> list[str]:
    """Every datagram queued (the sender has exited: nothing more comes)."""
    out: list[str] = []
    sock.setblocking(False)
    while True:
        try:
            out.append(sock.recv(65536).decode())
        except BlockingIOError:
            return out


def run_with_notify(server: Server, sock: socket.socket) -> tuple[int, list[str]]:
    env = dict(os.environ, PYTHONPATH=str(REPO), NOTIFY_SOCKET=sock.getsockname())
    proc = subprocess.Popen([sys.executable, "-m", "mpmd", "-f", str(server.conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=env, cwd=server.root)
    try:
        code = proc.wait(30)
    finally:
        server.proc = proc  # make_server's teardown kills its group
    return code, received(sock)


@pytest.mark.parametrize("preload", [False, True], ids=["in-children", "preloaded"])
def test_a_failed_start_sends_its_reason_in_status(
    make_server: Any, notify_socket: socket.socket, preload: bool
) -> None:
    extra = "WSGIPreload On\n" if preload else ""
    server = make_server(start=False, app_source=BROKEN_APP, extra=extra)
    write_helpers(server)
    code, messages = run_with_notify(server, notify_socket)
    assert code == 1
    status = [line for m in messages for line in m.splitlines() if line.startswith("STATUS=")]
    expected = ("STATUS=failed to start: application failed to load: " if not preload
                else "STATUS=failed to start: ") + \
        "cannot import 'hello': ZeroDivisionError: division by zero " \
        f"(WSGIApp at {wsgi_app_line(server)})"
    assert expected in status, messages
    assert not any("READY=1" in m for m in messages)


def test_single_process_mode_logs_the_traceback_itself(make_server: Any) -> None:
    """``-X`` has no master to report to: the child's own event carries it."""
    server = make_server(start=False, app_source=BROKEN_APP)
    write_helpers(server)
    server.start("-X", wait=False)
    assert server.proc is not None
    assert server.proc.wait(30) != 0
    failed = server.wait_event("app_load_failed")
    assert len(failed) == 1
    assert failed[0]["error"].endswith(f"(WSGIApp at {wsgi_app_line(server)})")
    assert f'File "{server.root / "app" / "helper_b.py"}", line 2, in compute\n' \
        in failed[0]["exception"]
    assert traceback_events(server) == failed
