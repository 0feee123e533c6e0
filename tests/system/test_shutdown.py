"""How a real server ends its children: the stop escalation, the graceful-stop
bound and the drain bound of a graceful reload — under every MPM.

The expectations are the documented ones:

- README and DESIGN.md: TERM/INT stops the server; children get TERM, again at
  3, 5 and 7 s, and KILL at 9 s (Apache's ``ap_reclaim_child_processes``).
- docs/operations.md: WINCH is a graceful stop "bounded by
  ``GracefulShutdownTimeout``", after which mpmd's own escalation runs.
- docs/configuration.md: ``DrainTimeout`` is "how long an old generation may
  drain after a graceful reload before it is stopped (0 = no limit)".
"""

from __future__ import annotations

import http.client
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime

import psutil
import pytest
from harness import HELLO_APP, Server, mpmd_cli, wait_for

from mpmd.mpm import registry

pytestmark = pytest.mark.slow

MPMS = [m.removeprefix("mpm_").removesuffix("_module") for m in registry.available_modules()]

#: Documented stop escalation: TERM at once, again at 3, 5, 7 s; KILL at 9 s.
TERM_AT = (0.0, 3.0, 5.0, 7.0)
KILL_AT = 9.0
#: How late a step may arrive on a shared, loaded machine (never early).
LATE = 0.5
EARLY = 0.05  # clock granularity between processes

#: The hello app, plus a SIGTERM handler installed at import (in the child's
#: main thread, where Python runs signal handlers) that records each TERM's
#: arrival instead of dying: a child that "ignores" TERM.
TERM_RECORDING_APP = HELLO_APP + '''
import os as _os
import signal as _signal
import time as _time

_TERM_LOG = _os.path.join(_os.path.dirname(__file__), "term.log")


def _record_term(signum, frame):
    with open(_TERM_LOG, "a") as f:
        f.write("%d %.6f\\n" % (_os.getpid(), _time.time()))


_signal.signal(_signal.SIGTERM, _record_term)
'''


class SlowRequest:
    """``GET /slow?seconds`` in a thread: the response body, or why there was none."""

    def __init__(self, server: Server, seconds: float) -> None:
        self.server, self.seconds = server, seconds
        self.body: bytes | None = None
        self.error: str | None = None
        marker = server.root / "app" / "slow.started"
        marker.unlink(missing_ok=True)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        wait_for(marker.exists, 10, "the slow request to reach the application")

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port,
                                          timeout=self.seconds + 20)
        try:
            conn.request("GET", f"/slow?{self.seconds}")
            self.body = conn.getresponse().read()
        except (OSError, http.client.HTTPException) as exc:
            self.error = type(exc).__name__
        finally:
            conn.close()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the slow request never ended"


def serving_pid(server: Server) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/pid")
        return int(conn.getresponse().read())
    finally:
        conn.close()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: set[int], timeout: float, what: str) -> float:
    """Wait until every pid has exited; the wall-clock time it happened."""
    wait_for(lambda: all(gone(p) for p in pids), timeout, what, step=0.01)
    return time.time()


def term_arrivals(server: Server, pid: int) -> list[float]:
    log = server.root / "app" / "term.log"
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        who, when = line.split()
        if int(who) == pid:
            out.append(float(when))
    return out


def assert_on_time(measured: float, expected: float, what: str) -> None:
    assert expected - EARLY <= measured <= expected + LATE, (
        f"{what} at {measured:.2f} s, expected {expected} s (-{EARLY}/+{LATE})")


# -- TERM, TERM at 3/5/7 s, KILL at 9 s --------------------------------------


def test_children_that_ignore_term_get_term_at_3_5_7_then_kill_at_9(
    make_server: Callable[..., Server],
) -> None:
    # The escalation is the master's and the same under every MPM: one server
    # per MPM, stopped at the same moment, costs one 9 s escalation, not three.
    servers = {mpm: make_server(mpm=mpm, start_servers=1, max_spare=1, max_spare_threads=4,
                                app_source=TERM_RECORDING_APP) for mpm in MPMS}
    children = {mpm: serving_pid(server) for mpm, server in servers.items()}  # app loaded
    for mpm, server in servers.items():
        wait_for(lambda: server.child_pids() == {children[mpm]}, 10,  # noqa: B023 - used at once
                 f"{mpm}'s child")
    began = time.time()
    for server in servers.values():
        server.signal(signal.SIGTERM)
    died: dict[str, float] = {}

    def all_dead() -> bool:
        for mpm, child in children.items():
            if mpm not in died and gone(child):
                died[mpm] = time.time() - began
        return len(died) == len(children)

    wait_for(all_dead, KILL_AT + 5, "the children to be killed", step=0.01)
    for mpm, server in servers.items():
        child = children[mpm]
        assert server.wait_exit(5) == 0, mpm
        arrivals = [t - began for t in term_arrivals(server, child)]
        assert len(arrivals) == len(TERM_AT), (mpm, arrivals)
        for measured, expected in zip(arrivals, TERM_AT, strict=True):
            assert_on_time(measured, expected, f"{mpm}: TERM")
        assert_on_time(died[mpm], KILL_AT, f"{mpm}: death")
        # the log says so too (docs/logging.md: children_still_running, child_exited)
        signals = [e["signal"] for e in server.events("children_still_running")]
        assert signals == ["SIGTERM", "SIGTERM", "SIGTERM", "SIGKILL"], mpm
        [exited] = [e for e in server.events("child_exited") if e["pid"] == child]
        assert exited["signal"] == "SIGKILL", mpm
        wait_for(lambda: not server.group_pids(), 2,  # noqa: B023 - used at once
                 f"no process left in {mpm}'s group")


# -- WINCH bounded by GracefulShutdownTimeout ----------------------------------


def test_graceful_stop_is_cut_at_graceful_shutdown_timeout(
    make_server: Callable[..., Server], mpm: str
) -> None:
    bound = 1.0
    server = make_server(mpm=mpm, extra=f"GracefulShutdownTimeout {bound:g}\n")
    slow = SlowRequest(server, 30)
    began = time.monotonic()
    server.signal(signal.SIGWINCH)
    assert server.wait_exit(bound + 10) == 0
    stopped = time.monotonic() - began
    # not before the bound (the request was still running), soon after it
    # (the child dies at the first TERM)
    assert bound - EARLY <= stopped <= bound + 3.0, stopped
    slow.join(5)
    assert slow.body is None and slow.error is not None  # cut, never answered
    [draining] = server.events("generation_draining")
    assert draining["timeout"] == bound
    assert server.events("drain_timeout")


# -- DrainTimeout --------------------------------------------------------------


def old_children(server: Server) -> set[int]:
    return {p for p in server.child_pids() if _generation(p) == 1}


def _generation(pid: int) -> int | None:
    try:
        title = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return None
    if "[generation " not in title:
        return None
    return int(title.split("[generation ")[1].split(",")[0])


def test_drain_timeout_stops_an_old_generation_that_will_not_finish(
    make_server: Callable[..., Server], mpm: str
) -> None:
    bound = 1.0
    server = make_server(mpm=mpm, extra=f"DrainTimeout {bound:g}\n")
    slow = SlowRequest(server, 30)
    old = old_children(server)
    assert old
    done = mpmd_cli(server, "reload")
    switched = time.monotonic()
    assert done.returncode == 0, done.stderr
    wait_for(lambda: all(gone(p) for p in old), bound + 10, "the old generation to be stopped")
    drained = time.monotonic() - switched
    assert drained <= bound + 3.0, drained  # the escalation follows the timeout at once
    slow.join(5)
    assert slow.body is None and slow.error is not None  # stopped, not finished
    [timeout] = server.events("drain_timeout")
    assert timeout["generation"] == 1
    # Not early: measured by the master's own clock (the CLI may return late on a
    # loaded machine), from the drain's start to the timeout.
    [draining] = [e for e in server.events("generation_draining") if e["generation"] == 1]
    waited = (datetime.fromisoformat(timeout["timestamp"])
              - datetime.fromisoformat(draining["timestamp"])).total_seconds()
    assert bound - 0.05 <= waited <= bound + 1.0, waited
    assert server.try_connect() and serving_pid(server) not in old  # generation 2 serves


def test_drain_timeout_zero_lets_the_old_generation_finish(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm, extra="DrainTimeout 0\n")
    slow = SlowRequest(server, 1.5)
    done = mpmd_cli(server, "reload")
    assert done.returncode == 0, done.stderr
    slow.join(15)
    assert slow.body == b"Hello, World!", slow.error
    wait_for(lambda: not old_children(server), 10, "the old generation to finish")
    assert not server.events("drain_timeout")

