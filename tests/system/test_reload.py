"""Reloads never break the service: graceful restarts, MPM swaps, bad configs and apps."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable

import psutil
import pytest
from harness import REPO, LoadGen, Server, mpmd_cli, wait_for

sys.path.insert(0, str(REPO / "tests" / "unit" / "status"))
from apache_auto import parse_auto

pytestmark = pytest.mark.slow


def fetch(server: Server, path: str = "/") -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=20) as r:
        return bytes(r.read())


def test_graceful_reloads_under_load_lose_nothing(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm, start_servers=2)
    with LoadGen(server, clients=4) as load:
        for i in range(20):
            done = mpmd_cli(server, "reload")
            assert done.returncode == 0, done.stderr
            assert f"generation {i + 2} serving" in done.stdout
            before = load.snapshot()
            wait_for(lambda b=before: load.snapshot() > b, 10, "requests after the reload")
    assert load.failures == []
    assert load.ok > 100
    wait_for(lambda: server.generations() == {21}, 30, "only the last generation left")
    assert len(server.events("reload_succeeded")) == 20


THREADS = 4  # the harness's ThreadsPerChild for worker and event


def held_connection_pids(server: Server, count: int) -> list[int]:
    """The pid serving each of ``count`` connections held open at once."""
    conns = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
             for _ in range(count)]

    def pid(conn: http.client.HTTPConnection) -> int:
        conn.request("GET", "/pid")
        return int(conn.getresponse().read())

    try:
        first = [pid(c) for c in conns]
        assert [pid(c) for c in conns] == first  # kept alive: the same process again
    finally:
        for conn in conns:
            conn.close()
    return first


def assert_serves_as(server: Server, mpm: str) -> None:
    """Behaviour that tells the MPMs apart, not the titles the code writes."""
    _, values = parse_auto(fetch(server, "/server-status?auto").decode("latin-1"))
    assert values["ServerMPM"] == mpm
    # mod_status prints the ConnsAsync* lines only for an async MPM (event)
    assert ("ConnsTotal" in values) == (mpm == "event")
    # prefork: one single-threaded process per worker slot (ServerLimit 8);
    # worker/event: ThreadsPerChild worker threads per process
    slots = 8 if mpm == "prefork" else 8 * THREADS
    assert len(values["Scoreboard"]) == slots
    # a prefork child is its one thread; a threaded child has its workers plus
    # the thread that accepts (worker's listener, event's poller)
    threads = 1 if mpm == "prefork" else THREADS + 1

    def counts() -> list[int]:
        out = []
        for child in server.children():
            with contextlib.suppress(psutil.Error):
                out.append(child.num_threads())
        return out

    wait_for(lambda: (c := counts()) and set(c) == {threads}, 10,
             f"{threads} thread(s) in every {mpm} child")


def test_mpm_swap_under_load_loses_nothing(make_server: Callable[..., Server]) -> None:
    server = make_server(mpm="prefork", start_servers=2, extra=STATUS_LOCATION)
    assert_serves_as(server, "prefork")
    # prefork serves a connection with the whole process: two held at once are
    # two processes
    assert len(set(held_connection_pids(server, 2))) == 2
    with LoadGen(server, clients=4) as load:
        for mpm in ["worker", "event", "prefork"]:
            server.conf.write_text(server.config_text(mpm=mpm))
            done = mpmd_cli(server, "reload")
            assert done.returncode == 0, done.stderr
            wait_for(lambda m=mpm: all(f"mpmd: {m} child" in t
                                       for t in server.child_titles()), 30,
                     f"only {mpm} children")
            assert_serves_as(server, mpm)
            before = load.snapshot()
            wait_for(lambda b=before: load.snapshot() > b + 5, 10, "requests after the swap")
    assert load.failures == []
    assert len(set(held_connection_pids(server, 2))) == 2  # prefork again
    _, values = parse_auto(fetch(server, "/server-status?auto").decode("latin-1"))
    assert values["ParentServerConfigGeneration"] == "4"


def test_broken_config_reload_keeps_the_old_generation(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm)
    good = server.conf.read_text()
    with LoadGen(server, clients=2) as load:
        # a syntax error: the CLI refuses before it reaches the server, naming file and line
        server.conf.write_text(good + "StartServers banana\n")
        done = mpmd_cli(server, "reload")
        assert done.returncode == 1
        assert f"line {good.count(chr(10)) + 1} of {server.conf}:" in done.stderr
        # valid syntax the master cannot apply: a Listen address it cannot bind
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        busy = blocker.getsockname()[1]
        server.conf.write_text(good + f"Listen 127.0.0.1:{busy}\n")
        done = mpmd_cli(server, "reload")
        blocker.close()
        assert done.returncode == 1
        assert "reload failed" in done.stderr and f"127.0.0.1:{busy}" in done.stderr
        before = load.snapshot()
        wait_for(lambda: load.snapshot() > before + 5, 10, "requests after the failed reload")
    assert load.failures == []
    assert server.generations() == {1}
    assert server.events("reload_failed")
    server.conf.write_text(good)
    assert mpmd_cli(server, "reload").returncode == 0


def test_app_that_fails_to_import_on_reload_keeps_the_old_generation(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm)
    app = server.root / "app" / "hello.py"
    good = app.read_text()
    with LoadGen(server, clients=2) as load:
        app.write_text("raise RuntimeError('broken deploy')\n")
        done = mpmd_cli(server, "reload")
        assert done.returncode == 1
        assert "broken deploy" in done.stderr
        before = load.snapshot()
        wait_for(lambda: load.snapshot() > before + 5, 10, "requests after the failed reload")
        app.write_text(good)
        assert mpmd_cli(server, "reload").returncode == 0
    assert load.failures == []
    wait_for(lambda: server.generations() == {3}, 30, "the fixed generation only")


def test_hup_restarts_with_a_new_generation(make_server: Callable[..., Server], mpm: str) -> None:
    server = make_server(mpm=mpm, start_servers=2)
    old = server.child_pids()
    server.signal(signal.SIGHUP)
    server.wait_event("reload_succeeded")
    wait_for(lambda: server.generations() == {2}, 15, "generation 2 only")
    assert not (old & server.child_pids())
    assert fetch(server) == b"Hello, World!"


def test_graceful_stop_lets_a_slow_request_finish(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm)
    result: list[bytes] = []
    slow = threading.Thread(target=lambda: result.append(fetch(server, "/slow?2")))
    slow.start()
    wait_for((server.root / "app" / "slow.started").exists, 10, "the request in the app")
    server.signal(signal.SIGWINCH)
    slow.join(15)
    assert result == [b"Hello, World!"]
    assert server.wait_exit() == 0


def test_burst_of_usr1_converges_to_one_generation(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm, start_servers=2)
    for _ in range(20):
        server.signal(signal.SIGUSR1)
        time.sleep(0.05)  # 20 signals spread over one second, as the issue asks
    wait_for(lambda: len(server.generations()) == 1 and not server_staging(server), 60,
             "one live generation")
    live = server.generations()
    assert fetch(server) == b"Hello, World!"
    assert max(live) >= 2
    wait_for(lambda: len(server.child_pids()) == 2, 20, "StartServers children, nothing leaked")


def server_staging(server: Server) -> bool:
    return len(server.events("generation_staging")) > len(
        server.events("reload_succeeded")) + len(server.events("reload_failed"))


def test_logrotate_rename_then_reload_writes_new_files(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm)
    fetch(server)
    wait_for(lambda: server.access_log.exists() and server.access_log.read_text(), 5, "a line")
    rotated_access = server.access_log.with_suffix(".1")
    rotated_error = server.error_log.with_suffix(".1")
    os.rename(server.access_log, rotated_access)
    os.rename(server.error_log, rotated_error)
    assert mpmd_cli(server, "reload").returncode == 0
    fetch(server)
    wait_for(lambda: server.access_log.exists() and server.access_log.read_text(), 10,
             "the new access log")
    assert server.error_log.exists()
    assert any(json.loads(line).get("event") == "reload_succeeded"
               for line in server.error_log.read_text().splitlines())


class CapacitySampler:
    """Samples ``server-status?json`` in a thread: the worker slots of the current
    generation that can serve (busy or idle, in a child not told to stop).
    Samples count from the first one that reaches ``floor`` (start-up done)."""

    def __init__(self, server: Server, floor: int) -> None:
        self.server, self.floor = server, floor
        self.samples: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CapacitySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        deadline = time.monotonic() + 120
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                report = json.loads(fetch(self.server, "/server-status?json"))
            except Exception as exc:  # every failure counts
                self.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            generation = report["server"]["generation"]
            capacity = sum(p["busy"] + p["idle"] for p in report["processes"]
                           if p["generation"] == generation and not p["stopping"])
            if self.samples or capacity >= self.floor:
                self.samples.append(capacity)


def replacements_overlap(server: Server) -> list[str]:
    """Each ``child_replacing`` (the master, in order) while the replacement it
    forked for the previous one had not yet reported ``child_ready``."""
    in_flight: int | None = None  # the slot of the replacement not yet ready
    pending: int | None = None  # its pid, once child_started names it
    problems = []
    for event in server.events():
        name = event["event"]
        if name == "child_replacing":
            if in_flight is not None:
                problems.append(f"slot {event['slot']} replaced while slot {in_flight} starts")
            in_flight, pending = event["replacement"], None
        elif name == "child_started" and event["slot"] == in_flight:
            pending = event["pid"]
        elif name in ("child_ready", "child_exited") and event["pid"] == pending:
            in_flight = pending = None  # ready, or died (the master tries again)
    return problems


def test_memory_recycling_replaces_children_one_at_a_time_under_load(
    make_server: Callable[..., Server], mpm: str
) -> None:
    # Every Python child is over 1 MB: each asks to be recycled at once, and
    # the master must replace them one at a time without failing a request:
    # fork the replacement, retire the old child once it is ready.
    # prefork: enough children for the 3 clients, the sampler and a spare, and
    # MaxSpareServers above them, so spare maintenance alone keeps StartServers;
    # worker/event: MaxSpareThreads (8) is all the threads of StartServers
    start = 5 if mpm == "prefork" else 2
    server = make_server(mpm=mpm, start_servers=start, max_spare=8,
                         extra="MaxMemoryPerChild 1M\n" + STATUS_LOCATION)
    configured = start * (1 if mpm == "prefork" else THREADS)  # StartServers x slots
    with LoadGen(server, clients=3) as load, CapacitySampler(server, configured) as sampler:
        # replacements come one per maintenance turn (about one a second)
        server.wait_event("child_replacing", timeout=30, count=5)
        wait_for(lambda: len(sampler.samples) >= 50, 20, "50 capacity samples")
        asked = server.events("child_recycling")
        assert asked and asked[0]["reason"] == "max_memory_per_child"
    assert load.failures == [] and sampler.errors == []
    assert min(sampler.samples) >= configured, sampler.samples
    assert replacements_overlap(server) == [], [
        (e["event"], e.get("pid"), e.get("slot"), e.get("replacement"), e["timestamp"])
        for e in server.events() if e["event"] in ("child_replacing", "child_started",
                                                   "child_ready", "child_exited")]


STATUS_LOCATION = (
    "<Location /server-status>\nSetHandler server-status\nRequire local\n</Location>\n"
)


@pytest.mark.parametrize("mpm", ["worker", "event"])
def test_old_generation_shows_g_while_it_drains(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm, start_servers=1, extra=STATUS_LOCATION)
    result: list[bytes] = []
    slow = threading.Thread(target=lambda: result.append(fetch(server, "/slow?4")))
    slow.start()
    wait_for((server.root / "app" / "slow.started").exists, 10, "the request in the app")
    assert mpmd_cli(server, "reload").returncode == 0

    def letters() -> str:
        text = fetch(server, "/server-status?auto").decode()
        return next(line.split(": ", 1)[1] for line in text.splitlines()
                    if line.startswith("Scoreboard: "))

    # the old child: its busy thread still W, its idle threads G (gracefully finishing)
    board = wait_for(lambda: (b if "G" in (b := letters()) else None), 5, "G in the scoreboard")
    assert "W" in board
    slow.join(15)
    assert result == [b"Hello, World!"]


def auto_value(server: Server, key: str) -> str:
    text = fetch(server, "/server-status?auto").decode()
    return next(line.split(": ", 1)[1] for line in text.splitlines()
                if line.startswith(f"{key}: "))


def timed_uptime(server: Server) -> tuple[float, int, float]:
    """(monotonic time before, ServerUptimeSeconds, monotonic time after)."""
    start = time.monotonic()
    uptime = int(auto_value(server, "ServerUptimeSeconds"))
    return start, uptime, time.monotonic()


def test_status_totals_and_uptime_survive_reloads(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm, extra=STATUS_LOCATION)
    for _ in range(10):
        fetch(server)
    before = wait_for(lambda: (n if (n := int(auto_value(server, "Total Accesses"))) >= 10
                               else None), 5, "the requests to be counted")
    # Uptime counts from the server's start, not the reload's: read it once the
    # server is a few seconds old, so a reset at a reload cannot go unnoticed.
    a1, uptime, b1 = wait_for(lambda: (r if (r := timed_uptime(server))[1] >= 3 else None),
                              10, "the server to be 3 s old", step=0.2)
    for _ in range(2):
        assert mpmd_cli(server, "reload").returncode == 0
    server.wait_event("generation_finished", count=2)
    after = int(auto_value(server, "Total Accesses"))
    assert after >= before  # counters never go back at a reload
    a2, later, b2 = timed_uptime(server)
    # Each reading is whole seconds (truncated) taken somewhere inside its
    # fetch [a, b]: the difference is the wall-clock time between them +- 1 s.
    assert a2 - b1 - 1 <= later - uptime <= b2 - a1 + 1, (uptime, later, a2 - b1)
    assert auto_value(server, "ParentServerConfigGeneration") == "3"
