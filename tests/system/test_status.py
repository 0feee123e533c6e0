"""Observability of a real server: server-status (?auto, HTML, JSON), Prometheus,
``mpmd status`` and its live view in a terminal — under every MPM.

One server per MPM serves the read-only tests of this module (module-scoped
fixture), so the suite starts four servers in all.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import MPMS, REPO, Server, ServerSpec, running, wait_for
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(REPO / "tests" / "unit" / "status"))
from apache_auto import ASYNC, parse_auto

pytestmark = pytest.mark.slow

STATUS_CONF = """
ScoreBoardFile {root}/mpmd.scoreboard
ExtendedStatus On
<Location /server-status>
    SetHandler server-status
    Require local
</Location>
<Location /metrics>
    SetHandler server-metrics
    Require local
</Location>
<Location /status-for-others>
    SetHandler server-status
    Require ip 192.0.2.0/24
</Location>
"""
THREADS = 4  # the harness's ThreadsPerChild for worker and event


def status_spec(mpm: str, root: Path) -> ServerSpec:
    return ServerSpec(mpm=mpm, start_servers=2, server_limit=8,
                      extra=STATUS_CONF.format(root=root))


def max_request_workers(server: Server) -> int:
    # the harness: prefork MaxRequestWorkers = ServerLimit; threaded ServerLimit x 4
    limit = server.spec.server_limit
    return limit if server.spec.mpm == "prefork" else limit * THREADS


@pytest.fixture(scope="module", params=MPMS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp(f"status-{request.param}")
    with running(root, status_spec(str(request.param), root)) as srv:
        yield srv


def fetch(server: Server, target: str) -> tuple[int, dict[str, str], bytes]:
    url = f"http://127.0.0.1:{server.port}{target}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def auto(server: Server) -> dict[str, str]:
    status, headers, body = fetch(server, "/server-status?auto")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=ISO-8859-1"
    name, values = parse_auto(body.decode("latin-1"))
    assert name == "127.0.0.1"
    return values


def status_json(server: Server) -> dict[str, Any]:
    status, _, body = fetch(server, "/server-status?json")
    assert status == 200
    data: dict[str, Any] = json.loads(body)
    return data


def test_auto_is_apaches_text_for_the_running_configuration(server: Server) -> None:
    for _ in range(5):
        assert fetch(server, "/")[0] == 200
    # A thread counts its request just after the response left, so under load
    # the status request can overtake the last increments: poll, bounded.
    values = wait_for(lambda: (v if int((v := auto(server))["Total Accesses"]) >= 5 else None),
                      5, "the five requests to be counted")
    assert values["ServerMPM"] == server.spec.mpm
    assert values["ServerVersion"].startswith("mpmd/")
    assert values["ParentServerConfigGeneration"] == values["ParentServerMPMGeneration"] == "1"
    letters = values["Scoreboard"]
    assert len(letters) == max_request_workers(server)
    assert int(values["Total Accesses"]) >= 5
    assert int(values["BusyWorkers"]) >= 1  # this very request is being answered
    assert "W" in letters
    assert letters.count("_") >= int(values["IdleWorkers"])
    in_use = len(letters) - letters.count(".")
    assert int(values["BusyWorkers"]) + int(values["IdleWorkers"]) <= in_use
    assert all((key in values) is (server.spec.mpm == "event") for key in ASYNC)
    if server.spec.mpm == "event":
        assert int(values["Processes"]) * THREADS == in_use


def test_a_request_held_in_the_app_shows_w(server: Server) -> None:
    done: list[int] = []
    slow = threading.Thread(target=lambda: done.append(fetch(server, "/slow?2")[0]),
                            daemon=True)
    slow.start()

    def slow_slot() -> dict[str, Any] | None:
        slots = status_json(server)["slots"]
        return next((s for s in slots if s["request"].startswith("GET /slow")
                     and s["state"] == "W"), None)

    slot = wait_for(slow_slot, 5, "the slow request to show as W", step=0.1)
    assert slot["client"] == "127.0.0.1"
    assert auto(server)["Scoreboard"].count("W") >= 2  # the slow one and this one
    slow.join(15)
    assert done == [200]


def test_an_idle_keepalive_connection(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"Hello, World!"):
            chunk = sock.recv(4096)
            assert chunk, "closed instead of kept alive"
            data += chunk
        # KeepAliveTimeout is 2 s: the connection now waits for its next request
        if server.spec.mpm == "event":
            # held by the poller, not by a thread (Apache's ConnsAsyncKeepAlive)
            values = wait_for(lambda: (v if int((v := auto(server))["ConnsAsyncKeepAlive"])
                                       >= 1 else None), 1.5, "an async keep-alive", step=0.05)
            assert "K" not in values["Scoreboard"]
        else:
            wait_for(lambda: "K" in auto(server)["Scoreboard"], 1.5, "a K slot", step=0.05)


def test_html_page(server: Server) -> None:
    status, headers, body = fetch(server, "/server-status?refresh=7")
    page = body.decode("latin-1")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=ISO-8859-1"
    assert headers["Refresh"] == "7"
    assert f"<dt>Server MPM: {server.spec.mpm}</dt>" in page
    assert "Scoreboard Key:" in page and "<th>Srv</th>" in page
    for pid in server.child_pids():
        assert f"<td>{pid}</td>" in page


def test_prometheus_metrics(server: Server) -> None:
    assert fetch(server, "/")[0] == 200
    before = server.child_pids()

    def counted() -> tuple[int, dict[str, str], bytes] | None:
        # a request is counted once its child is done with it, just after the response
        got = fetch(server, "/metrics")
        families = {f.name: f for f in text_string_to_metric_families(got[2].decode())}
        return got if families["mpmd_requests"].samples[0].value >= 1 else None

    status, headers, body = wait_for(counted, 5, "the request to be counted")
    after = server.child_pids()
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    states = {s.labels["state"]: s.value for s in families["mpmd_scoreboard"].samples}
    assert sum(states.values()) == max_request_workers(server)
    pids = {int(s.labels["pid"]) for s in families["mpmd_process_resident_memory_bytes"].samples}
    # one sample per live child: every child alive throughout is reported, and
    # nothing else (not the master, not a pid that is not a child)
    assert before & after and before & after <= pids <= before | after
    assert all(s.value > 1 << 20 for s in
               families["mpmd_process_resident_memory_bytes"].samples)


def test_require_refuses_other_clients(server: Server) -> None:
    assert fetch(server, "/status-for-others?auto")[0] == 403


def mpmd(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="80")
    return subprocess.run([sys.executable, "-m", "mpmd", "-f", str(server.conf), *args],
                          capture_output=True, text=True, timeout=30, env=env)


def test_mpmd_status_reads_the_scoreboard_file(server: Server) -> None:
    text = mpmd(server, "status")
    assert text.returncode == 0, text.stderr
    assert f"{server.spec.mpm} MPM - generation 1 - master pid {server.pid}" in text.stdout
    assert f"Scoreboard ({max_request_workers(server)} slots):" in text.stdout
    data = json.loads(mpmd(server, "status", "--json").stdout)
    assert data["server"]["master_pid"] == server.pid
    assert len(data["scoreboard"]) == max_request_workers(server)
    assert {p["pid"] for p in data["processes"]} <= server.child_pids() | {
        p["pid"] for p in data["processes"] if p["stopping"]}


def test_mpmd_status_without_a_server(tmp_path: Path) -> None:
    srv = Server(tmp_path, status_spec("prefork", tmp_path))  # configured, never started
    result = mpmd(srv, "status")
    assert result.returncode == 1
    assert "no scoreboard at" in result.stderr


def read_pty(fd: int, until: Callable[[bytes], bool], timeout: float) -> bytes:
    """Read what the terminal shows until ``until(output)`` or EOF; bounded."""
    out = b""
    deadline = time.monotonic() + timeout
    while not until(out):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"terminal output incomplete after {timeout} s: {out[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side is gone
            break
        if not chunk:
            break
        out += chunk
    return out


def test_mpmd_status_watch_redraws_in_a_terminal(make_server: Callable[..., Server],
                                                  tmp_path: Path) -> None:
    server = make_server(mpm="event", extra=STATUS_CONF.format(root=tmp_path / "srv0"))
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mpmd", "-f", str(server.conf), "status", "--watch",
         "--interval", "0.2"],
        stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
    )
    os.close(slave)
    try:
        shown = read_pty(master, lambda out: out.count(b"\x1b[H") >= 3, 20)
        proc.send_signal(signal.SIGINT)  # Ctrl-C ends the view
        shown += read_pty(master, lambda out: b"\x1b[?25h" in out, 10)
        assert proc.wait(10) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        os.close(master)
    assert shown.startswith(b"\x1b[?25l\x1b[2J")  # hide the cursor, clear once
    assert shown.count(b"\x1b[2J") == 1  # then only redraw in place
    frame = shown.split(b"\x1b[H")[2].split(b"\x1b[J")[0].decode()
    assert "Every 0.2s: mpmd status" in frame and "event MPM - generation 1" in frame
    assert "Scoreboard (32 slots):" in frame
    assert all(len(line.replace("\x1b[K", "").rstrip("\r")) <= 100
               for line in frame.splitlines())
