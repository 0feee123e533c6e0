"""Reloads, drains and back-off against the fake: what clients and children see.

The same fake master as test_master_fake.py; these pin the edges of the five
scenarios issue 14 names (coalescing, a failed canary, the drain timeout,
crash-loop back-off, an MPM swap's ordering).  Expected values are Apache's
behaviour or mpmd's documented contract (docs/configuration.md,
docs/logging.md, docs/operations.md), never the constant under test.
"""

from __future__ import annotations

import signal

import pytest

from mpmd.master.generation import Stage
from mpmd.master.reload_states import ReloadState
from mpmd.master.signals import Command
from tests.unit.master.fakes import APEXIT_CHILDFATAL, GRACEFUL, PREFORK, WORKER, FakeMaster, Start

TERM = signal.SIGTERM  # Apache's restart (HUP) and stop: children are told to go at once


def _switch(m: FakeMaster, number: int) -> float:
    """Make generation ``number`` ready and run until it serves; returns when."""
    m.ready(number)
    return m.loop(lambda: m.stages().get(number) is Stage.ACTIVE, within=1.0)


# -- reload coalescing ----------------------------------------------------------------


def test_a_restart_while_a_reload_stages_makes_both_ungraceful(start: Start) -> None:
    m = start()
    first = m.pids(1)
    m.sup.dispatch.command(Command.GRACEFUL)
    m.sup.dispatch.command(Command.RESTART)  # HUP while 2 stages
    switched = _switch(m, 2)
    for pid in first:  # HUP is Apache's restart: TERM, not a graceful drain
        assert m.os.signalled(pid) == [(switched, TERM)]
    second = m.pids(2)
    assert 3 in m.stages()  # the coalesced one follows, ungraceful too
    switched = _switch(m, 3)
    for pid in second:
        assert m.os.signalled(pid) == [(switched, TERM)]


def test_each_waiting_client_hears_when_its_own_reload_serves(start: Start) -> None:
    m = start()
    first, client1 = m.waiter()
    m.sup.dispatch.command(Command.GRACEFUL, first)
    later = [m.waiter() for _ in range(2)]
    for request, _ in later:
        m.sup.dispatch.command(Command.GRACEFUL, request)  # coalesced behind 2
    _switch(m, 2)
    assert client1.answer() == {"ok": True, "message": "generation 2 serving (prefork)",
                                "generation": 2, "mpm": "prefork"}
    assert [c.answer() for _, c in later] == [None, None]  # theirs is still to come
    _switch(m, 3)
    for _, client in later:
        assert client.answer() == {"ok": True, "message": "generation 3 serving (prefork)",
                                   "generation": 3, "mpm": "prefork"}


# -- a failed canary ------------------------------------------------------------------


def test_a_canary_that_cannot_import_tells_the_waiting_client_why(start: Start) -> None:
    m = start()
    request, client = m.waiter()
    m.sup.dispatch.command(Command.GRACEFUL, request)
    canary = m.sup.fleet.children.of(2)[0]
    reason = "ModuleNotFoundError: No module named 'app'"
    m.generation(2).scoreboard.process(canary.slot).failure = reason.encode()
    m.os.exit(canary.pid, APEXIT_CHILDFATAL)
    m.turn()
    # docs/logging.md, reload_failed: "mpmd reload exits 1 with this reason"
    assert client.answer() == {"ok": False, "message": f"reload failed: {reason}"}
    assert m.sup.fleet.active() is m.generation(1)
    assert m.sup.dispatch.phase.value == "running"  # a canary's CHILDFATAL stops no server


def test_a_canary_never_ready_fails_the_reload_after_sixty_seconds(start: Start) -> None:
    m = start()
    old = m.pids(1)
    request, client = m.waiter()
    began = m.os.clock
    m.sup.dispatch.command(Command.GRACEFUL, request)
    canaries = m.pids(2)
    # docs/logging.md, reload_failed: "not ready within 60 s"
    m.turn(advance=began + 59.9 - m.os.clock)
    assert m.sup.reloader.state is ReloadState.STAGING and client.answer() is None
    m.turn(advance=0.1)
    assert m.sup.reloader.state is ReloadState.IDLE
    answer = client.answer()
    assert answer is not None and not answer["ok"]
    assert answer["message"].endswith("was not ready within 60 s")
    assert all(m.os.signalled(pid) == [] for pid in old)
    assert all(m.os.signalled(pid)[0][1] == TERM for pid in canaries)
    assert m.sup.fleet.active() is m.generation(1)


# -- the drain timeout ----------------------------------------------------------------


def _drain_with_long_requests(m: FakeMaster) -> tuple[list[int], float]:
    old = m.pids(1)
    for pid in old:
        m.os.children[pid].ignores |= {GRACEFUL}  # each serves a long request
    m.sup.dispatch.command(Command.GRACEFUL)
    return old, _switch(m, 2)


def test_drain_timeout_defaults_to_sixty_seconds(start: Start) -> None:
    m = start()
    old, drained = _drain_with_long_requests(m)
    stopped = m.loop(lambda: 1 not in m.stages() or m.stages()[1] is not Stage.DRAINING,
                     within=70.0)
    assert stopped - drained == pytest.approx(60.0)  # docs/configuration.md: DrainTimeout 60
    for pid in old:
        assert m.os.signalled(pid) == [(drained, GRACEFUL), (stopped, TERM)]


def test_drain_timeout_zero_lets_the_old_generation_finish_in_its_own_time(
    start: Start,
) -> None:
    m = start(PREFORK + "DrainTimeout 0\n")  # docs/configuration.md: 0 = no limit
    old, drained = _drain_with_long_requests(m)
    for _ in range(24):
        m.turn(advance=3600.0)  # a day of long requests
    assert m.stages()[1] is Stage.DRAINING
    assert all(m.os.signalled(pid) == [(drained, GRACEFUL)] for pid in old)
    for pid in old:
        m.os.exit(pid, 0)  # their requests end
    m.turn()
    assert m.stages() == {2: Stage.ACTIVE}


def test_a_restart_cuts_a_drain_short(start: Start) -> None:
    m = start()
    old, drained = _drain_with_long_requests(m)
    m.sup.dispatch.command(Command.RESTART)
    switched = _switch(m, 3)
    for pid in old:  # Apache's HUP: every child of the old server is TERMed
        assert m.os.signalled(pid) == [(drained, GRACEFUL), (switched, TERM)]


# -- crash-loop back-off ------------------------------------------------------------------

SPARE2 = PREFORK.replace("MinSpareServers 1", "MinSpareServers 2")


def test_a_killed_healthy_child_is_replaced_at_once(start: Start) -> None:
    m = start(SPARE2)
    m.loop(lambda: m.os.clock >= 1010.0, within=11.0)  # they have served a while
    before, killed = set(m.os.children), m.os.clock
    m.os.send(m.pids(1)[0], signal.SIGKILL)  # the OOM killer, say
    m.turn()  # SIGCHLD: reaped and replaced in this same turn (Apache: up to 1 s)
    assert [m.os.children[pid].forked_at for pid in set(m.os.children) - before] == [killed]


def _crash(m: FakeMaster) -> float:
    """The newest child dies young with exit code 1; returns the respawn delay."""
    newest, died = max(m.os.children), m.os.clock
    m.os.exit(newest, 1)
    return round(m.loop(lambda: max(m.os.children) > newest, within=30.0) - died, 3)


def test_back_off_stops_at_ten_seconds_and_a_long_life_resets_it(start: Start) -> None:
    m = start(PREFORK.replace("StartServers 2", "StartServers 1"))
    # master/throttle.py's documented back-off: 0.1 s doubling, at most 10 s
    assert [_crash(m) for _ in range(9)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    m.ready(1)
    served_until = m.os.clock + 30.0
    m.loop(lambda: m.os.clock >= served_until, within=31.0)  # it serves for half a minute
    assert _crash(m) == 0.0  # it lived long: no start failure, replaced at once
    assert _crash(m) == 0.1  # and the next young death starts the back-off afresh


# -- an MPM swap's ordering -------------------------------------------------------------------


def test_a_failed_mpm_swap_keeps_the_old_mpm_serving(start: Start) -> None:
    m = start()
    old = m.pids(1)
    m.rewrite(WORKER)
    m.sup.dispatch.command(Command.GRACEFUL)
    m.os.exit(m.pids(2)[0], APEXIT_CHILDFATAL)  # the worker canary cannot start
    m.turn()
    assert m.sup.fleet.active() is m.generation(1)
    assert m.generation(1).mpm.name == "prefork"
    assert all(m.os.signalled(pid) == [] for pid in old)


def test_an_mpm_swap_by_restart_stops_the_old_only_once_the_new_serves(start: Start) -> None:
    m = start()
    old = m.pids(1)
    m.rewrite(WORKER)
    m.sup.dispatch.command(Command.RESTART)
    m.loop(lambda: m.os.clock >= 1001.0, within=5.0)
    assert all(m.os.signalled(pid) == [] for pid in old)  # staging: nothing told yet
    switched = _switch(m, 2)
    assert m.generation(2).mpm.name == "worker"
    for pid in old:
        assert m.os.signalled(pid) == [(switched, TERM)]
