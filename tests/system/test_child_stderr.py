"""What an application writes on stderr reaches ErrorLog (issue 12, item 12).

Apache hands its children the error log as their stderr; mpmd's master reads
each child's stderr from a pipe and logs every line as a ``child_stderr``
event (the error log stays JSON lines), under every MPM.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest
from harness import Server, mpmd_cli, wait_for

STDERR_APP = '''
import logging, os, signal, sys, traceback

django_like = logging.getLogger("django.request")
django_like.addHandler(logging.StreamHandler())  # sys.stderr, as Django's default
django_like.propagate = False

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/print":
        print("app says hello", file=sys.stderr)
        django_like.warning("Not Found: %s", "/missing")
    elif path == "/traceback":
        try:
            1 / 0
        except ZeroDivisionError:
            traceback.print_exc()
    elif path == "/long":
        sys.stderr.write("x" * 20000 + "\\n")
    elif path == "/spawn-and-die":  # a grandchild keeps the pipe open
        import subprocess
        subprocess.Popen(["sleep", "60"])
        os.write(2, b"spawned, now dying")
        os.kill(os.getpid(), signal.SIGKILL)
    elif path == "/die":
        os.write(2, b"last words, no newline")
        os.kill(os.getpid(), signal.SIGKILL)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''


def get(server: Server, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=15) as r:
        return str(r.read().decode())


def lines_of(server: Server) -> list[dict[str, Any]]:
    return server.events("child_stderr")


def wait_line(server: Server, text: str, timeout: float = 10) -> dict[str, Any]:
    event: dict[str, Any] = wait_for(
        lambda: next((e for e in lines_of(server) if e["line"] == text), None),
        timeout, f"child_stderr {text!r}")
    return event


def test_app_stderr_lines_become_events_in_the_error_log(make_server: Any, mpm: str) -> None:
    server = make_server(mpm=mpm, app_source=STDERR_APP, start_servers=1)
    pid = int(get(server, "/print"))
    hello = wait_line(server, "app says hello")
    assert (hello["pid"], hello["role"], hello["level"]) == (pid, "master", "warning")
    started = {e["pid"]: e for e in server.events("child_started")}
    assert (hello["slot"], hello["generation"]) == (started[pid]["slot"], 1)
    wait_line(server, "Not Found: /missing")  # logging.StreamHandler on sys.stderr

    get(server, "/traceback")
    wait_line(server, "ZeroDivisionError: division by zero")
    trace = [e["line"] for e in lines_of(server) if e["pid"] == pid]
    start = trace.index("Traceback (most recent call last):")
    assert trace[start + 1].startswith('  File "') and trace[-1].startswith("ZeroDivisionError")
    assert "app says hello" not in server.stderr_text()  # not on the master's stderr


def test_a_killed_childs_last_words_are_kept(make_server: Any, mpm: str) -> None:
    server = make_server(mpm=mpm, app_source=STDERR_APP, start_servers=1)
    with pytest.raises(OSError):
        get(server, "/die")
    event = wait_line(server, "last words, no newline")
    exited = server.wait_event("child_exited")
    assert any(e["pid"] == event["pid"] and e["signal"] == "SIGKILL" for e in exited)


def test_a_long_line_is_logged_in_bounded_pieces(make_server: Any) -> None:
    server = make_server(app_source=STDERR_APP, start_servers=1)
    get(server, "/long")
    wait_for(lambda: sum(len(e["line"]) for e in lines_of(server)) >= 20000, 10,
             "the whole long line")
    pieces = [e["line"] for e in lines_of(server)]
    assert "".join(pieces) == "x" * 20000
    assert max(len(p) for p in pieces) == 8192  # the documented bound (8 KiB)


def test_after_a_reload_app_stderr_goes_to_the_reopened_error_log(make_server: Any) -> None:
    server = make_server(app_source=STDERR_APP, start_servers=1)
    rotated = server.error_log.with_name("error.log.1")
    server.error_log.rename(rotated)  # logrotate's rename, then reload
    done = mpmd_cli(server, "reload")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: server.error_log.exists(), 10, "a new error log")
    wait_for(lambda: get(server, "/print") and any(
        e["line"] == "app says hello" for e in lines_of(server)), 10,
        "app stderr in the new error log")
    assert "app says hello" not in rotated.read_text()


def pipe_inode(pid: int, fd: int) -> str:
    return os.readlink(f"/proc/{pid}/fd/{fd}")


def pipes_of(pid: int) -> dict[int, str]:
    out = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("pipe:"):
            out[int(name)] = target
    return out


@pytest.mark.slow
def test_no_descriptor_leaks_over_20_respawns(make_server: Any) -> None:
    server = make_server(app_source=STDERR_APP, start_servers=2, min_spare=2, max_spare=3)
    master = psutil.Process(server.pid)

    def settled() -> tuple[int, int] | None:
        """(descriptors that are not pipes, pipes) once there is one pipe per child."""
        pipes = len(pipes_of(server.pid))
        return (master.num_fds() - pipes, pipes) if pipes == len(server.child_pids()) else None

    # At least two: the harness's readiness probe may have made a child busy for a
    # moment, and maintenance then rightly adds a third (MaxSpareServers 3 keeps it).
    wait_for(lambda: len(server.child_pids()) >= 2, 15, "two children")
    others, _ = wait_for(settled, 10, "one stderr pipe per child")
    for _ in range(20):
        victim = min(server.child_pids())
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda v=victim: v not in server.child_pids()  # type: ignore[misc]
                 and len(server.child_pids()) >= 2, 15, "the child to be replaced")
    wait_for(lambda: (s := settled()) is not None and s[0] == others, 10,
             f"{others} other descriptors and one pipe per child in the master")
    # No child holds another child's pipe: each has only its own stderr.
    children = sorted(server.child_pids())
    own = {pid: pipe_inode(pid, 2) for pid in children}
    for pid in children:
        assert set(pipes_of(pid).values()) == {own[pid]}


def test_a_grandchild_holding_the_pipe_does_not_keep_it_open(make_server: Any) -> None:
    server = make_server(app_source=STDERR_APP, start_servers=1, min_spare=1)
    with pytest.raises(OSError):
        get(server, "/spawn-and-die")
    wait_line(server, "spawned, now dying")  # read on reap, though no end of file came
    exited = server.wait_event("child_exited")[0]
    wait_for(lambda: exited["pid"] not in server.child_pids()
             and len(pipes_of(server.pid)) == len(server.child_pids()), 15,
             "the dead child's pipe closed in the master")


def test_the_error_log_is_json_lines(make_server: Any, mpm: str) -> None:
    server = make_server(mpm=mpm, app_source=STDERR_APP, start_servers=1)
    get(server, "/traceback")
    wait_line(server, "ZeroDivisionError: division by zero")
    text = Path(server.error_log).read_text()
    for line in text.splitlines():
        json.loads(line)  # raw application bytes never enter the log
