"""The master's logic against a fake Processes: no fork, fake time, milliseconds.

Supervisor, Fleet and Reloader run for real (configuration files, MPM
maintenance, scoreboards in anonymous memory); only processes and the clock
are :mod:`tests.unit.master.fakes`.  Each test names the behaviour it pins.
"""

from __future__ import annotations

import signal

from structlog.testing import capture_logs

from mpmd.master.generation import Stage
from mpmd.master.progress import status_line
from mpmd.master.reload_states import ReloadState
from mpmd.master.signals import Command
from tests.unit.master.fakes import APEXIT_CHILDFATAL, GRACEFUL, PREFORK, WORKER, Start


def test_reloads_during_staging_coalesce_into_one_more(start: Start) -> None:
    m = start()
    m.sup.dispatch.command(Command.GRACEFUL)
    assert m.stages()[2] is Stage.STAGING
    m.sup.dispatch.command(Command.GRACEFUL)  # both arrive while 2 stages ...
    m.sup.dispatch.command(Command.GRACEFUL)
    assert 3 not in m.stages()
    assert m.sup.reloader.state is ReloadState.STAGING
    m.ready(2)
    m.loop(lambda: 3 in m.stages(), within=1.0)  # ... and make one more reload
    m.ready(3)
    m.loop(lambda: m.stages().get(3) is Stage.ACTIVE, within=1.0)
    m.loop(lambda: m.os.clock >= 1003.0, within=10.0)  # 1 and 2 drain; nothing restages
    assert m.sup.factory.last == 3  # no fourth generation, ever
    assert m.sup.reloader.state is ReloadState.IDLE
    assert m.stages() == {3: Stage.ACTIVE}  # 1 and 2 drained away


def test_failed_canary_keeps_the_old_generation(start: Start) -> None:
    m = start()
    old = m.pids(1)
    m.sup.dispatch.command(Command.GRACEFUL)
    canary = m.pids(2)[0]
    with capture_logs() as events:
        m.os.exit(canary, 1)  # its application did not import
        m.turn()
    assert [e["event"] for e in events if e["event"].startswith("reload_")] == [
        "reload_failed"
    ]
    assert m.stages()[1] is Stage.ACTIVE
    assert m.stages().get(2, Stage.STOPPING) is Stage.STOPPING
    assert all(m.os.signalled(pid) == [] for pid in old)  # never touched
    assert m.sup.fleet.active() is m.generation(1)
    assert m.sup.reloader.state is ReloadState.IDLE  # the next reload may come


def test_invalid_configuration_is_refused_before_anything_forks(start: Start) -> None:
    m = start()
    forked = len(m.os.children)
    m.rewrite(PREFORK + "NoSuchDirective on\n")
    with capture_logs() as events:
        m.sup.dispatch.command(Command.GRACEFUL)
    assert [e["event"] for e in events if e["event"].startswith("reload_")] == [
        "reload_requested", "reload_failed"
    ]
    assert len(m.os.children) == forked and m.os.signals == []
    assert m.stages() == {1: Stage.ACTIVE}
    assert m.sup.reloader.state is ReloadState.IDLE


def test_drain_timeout_stops_the_old_generation(start: Start) -> None:
    m = start(PREFORK + "DrainTimeout 2\n")
    old = m.pids(1)
    for pid in old:
        m.os.children[pid].ignores |= {GRACEFUL}  # a long request: it stays
    m.sup.dispatch.command(Command.GRACEFUL)
    m.ready(2)
    drained = m.loop(lambda: m.stages()[1] is Stage.DRAINING, within=1.0)
    stopped = m.loop(lambda: m.stages().get(1) is not Stage.DRAINING, within=5.0)
    assert stopped - drained == 2.0  # DrainTimeout 2, written above
    for pid in old:
        assert m.os.signalled(pid) == [(drained, GRACEFUL), (stopped, signal.SIGTERM)]


def test_crash_loop_backs_off_exponentially(start: Start) -> None:
    m = start(PREFORK.replace("StartServers 2", "StartServers 1"))
    delays = []
    for _ in range(5):
        newest, died = max(m.os.children), m.os.clock
        m.os.exit(newest, 1)  # dies at once, before it ever served
        respawned = m.loop(lambda n=newest: max(m.os.children) > n, within=30.0)
        delays.append(round(respawned - died, 3))
    # mpmd's documented back-off (master/throttle.py): 0.1 s, doubling
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert m.sup.dispatch.phase.value == "running"  # exit code 1 is no reason to stop


def test_childfatal_stops_the_server_when_nothing_serves(start: Start) -> None:
    m = start(ready=False)
    m.os.exit(m.pids(1)[0], APEXIT_CHILDFATAL)  # the app fails at start
    m.turn()
    assert m.sup.dispatch.phase.value == "stopping"
    assert m.sup.dispatch.exit_code == 1


def test_childfatal_backs_off_while_others_serve(start: Start) -> None:
    m = start()
    m.os.exit(m.pids(1)[0], APEXIT_CHILDFATAL)  # the code on disk changed?
    m.turn()
    assert m.sup.dispatch.phase.value == "running"
    assert not m.sup.fleet.throttle.allows(m.os.clock)  # and respawning waits


def test_mpm_swap_serves_the_new_generation_before_the_old_drains(start: Start) -> None:
    m = start()
    old = m.pids(1)
    m.rewrite(WORKER)
    m.sup.dispatch.command(Command.GRACEFUL)
    assert m.generation(2).mpm.name == "worker"
    m.loop(lambda: m.os.clock >= 1001.0, within=5.0)  # staging, for a while
    assert m.stages()[1] is Stage.ACTIVE
    assert all(m.os.signalled(pid) == [] for pid in old)
    m.ready(2)
    switched = m.loop(lambda: m.stages()[1] is not Stage.ACTIVE, within=1.0)
    assert m.sup.fleet.active() is m.generation(2)
    for pid in old:
        assert m.os.signalled(pid) == [(switched, GRACEFUL)]


def test_stop_escalates_term_then_kill(start: Start) -> None:
    m = start()
    pids = m.pids(1)
    for pid in pids:
        m.os.children[pid].ignores |= {signal.SIGTERM}
    began = m.os.clock
    m.sup.dispatch.command(Command.STOP)
    m.loop(lambda: m.sup.dispatch.phase.value == "done", within=20.0)
    # Apache's ap_reclaim_child_processes: TERM, TERM again at 3, 5, 7 s, KILL at 9 s
    expected = [(0.0, signal.SIGTERM), (3.0, signal.SIGTERM), (5.0, signal.SIGTERM),
                (7.0, signal.SIGTERM), (9.0, signal.SIGKILL)]
    for pid in pids:
        assert [(round(t - began, 3), s) for t, s in m.os.signalled(pid)] == expected


def test_systemd_hears_ready_once_the_first_generation_serves(start: Start) -> None:
    m = start(ready=False)
    m.loop(lambda: m.os.clock >= 1001.0, within=2.0)  # children still STARTING
    assert not m.sup.progress.ready_sent
    m.ready(1)
    m.turn()
    assert m.sup.progress.ready_sent
    # two prefork children, one worker slot each, both idle ("_")
    assert status_line(m.sup.fleet.active(), "running") == (
        "running: generation 1 (prefork), 2 children, 0 busy, 2 idle"
    )
