"""Spare maintenance as pure functions: synthetic snapshots in, plans out."""

from __future__ import annotations

from mpmd.config.model import PreforkSettings
from mpmd.mpm.prefork import PreforkMPM
from mpmd.mpm.spares import SpareState
from mpmd.scoreboard.board import ProcessView, Snapshot

GEN = 1


def settings(**kw: int) -> PreforkSettings:
    base = dict(
        start_servers=2, server_limit=8, max_request_workers=8, max_connections_per_child=0,
        min_spare_servers=2, max_spare_servers=4,
    )
    base.update(kw)
    return PreforkSettings(**base)


def snapshot(states: str, limit: int = 8, generation: int = GEN,
             gens: dict[int, int] | None = None, quiescing: set[int] | None = None) -> Snapshot:
    """One letter per slot: '.' open, else the child's worker state."""
    gens = gens or {}
    quiescing = quiescing or set()
    procs = []
    for slot in range(limit):
        letter = states[slot] if slot < len(states) else "."
        if letter == ".":
            procs.append(ProcessView(slot, 0, 0, False, False, b""))
        else:
            procs.append(ProcessView(slot, 1000 + slot, gens.get(slot, generation),
                                     slot in quiescing, False, letter.encode()))
    return Snapshot(generation, tuple(procs))


MPM = PreforkMPM()


def test_start_spawns_start_servers_at_once() -> None:
    s = settings(start_servers=3)
    plan, _state = MPM.maintain(s, snapshot(""), MPM.initial_state(s), now=0.0)
    assert plan.spawn == (0, 1, 2)


def test_killed_child_is_replaced_before_the_tick() -> None:
    s = settings()
    state = SpareState(target=2, next_tick=100.0)
    plan, _ = MPM.maintain(s, snapshot("_."), state, now=1.0)
    assert plan.spawn == (1,)


def test_no_spawn_between_ticks_when_target_met() -> None:
    s = settings()
    state = SpareState(target=2, next_tick=100.0)
    plan, _ = MPM.maintain(s, snapshot("WW"), state, now=1.0)
    assert plan.spawn == () and plan.wake_at == 100.0


def test_spawn_rate_doubles_up_to_32() -> None:
    s = settings(server_limit=200, max_request_workers=200, min_spare_servers=100,
                 max_spare_servers=150)
    state = SpareState(target=1)
    busy = "W"
    rates = []
    now = 0.0
    for _ in range(8):
        plan, state = MPM.maintain(s, snapshot(busy, limit=200), state, now)
        rates.append(len(plan.spawn))
        busy += "W" * len(plan.spawn)
        now += 1.0
    # Apache's prefork (perform_idle_server_maintenance): 1, 2, 4 ... then capped
    # at MAX_SPAWN_RATE, which httpd defines as 32 per second.
    assert rates == [1, 2, 4, 8, 16, 32, 32, 32]


def test_starting_children_count_as_idle() -> None:
    s = settings(min_spare_servers=2)
    plan, _ = MPM.maintain(s, snapshot("SS"), SpareState(target=2), now=0.0)
    assert plan.spawn == ()


def test_retires_highest_idle_child_one_per_tick() -> None:
    s = settings(max_spare_servers=2)
    plan, state = MPM.maintain(s, snapshot("_W___"), SpareState(target=5), now=0.0)
    assert plan.retire == (4,)
    assert state.target == 4
    plan2, _ = MPM.maintain(s, snapshot("_W__"), state, now=0.5)
    assert plan2.retire == ()  # not before the next tick


def test_busy_child_is_never_retired() -> None:
    s = settings(max_spare_servers=0, min_spare_servers=0)
    plan, _ = MPM.maintain(s, snapshot("WKR"), SpareState(target=3), now=0.0)
    assert plan.retire == ()


def test_old_generation_and_quiescing_children_are_not_capacity() -> None:
    s = settings(min_spare_servers=2)
    snap = snapshot("___", generation=2, gens={0: 1, 1: 1}, quiescing={2})
    plan, _ = MPM.maintain(s, snap, SpareState(target=0), now=0.0)
    assert plan.spawn == (3,)


def test_max_request_workers_reported_once() -> None:
    s = settings(server_limit=2, max_request_workers=2, min_spare_servers=2)
    state = SpareState(target=2)
    plan, state = MPM.maintain(s, snapshot("WW", limit=2), state, now=0.0)
    assert [e.name for e in plan.events] == ["max_request_workers_reached"]
    plan, state = MPM.maintain(s, snapshot("WW", limit=2), state, now=1.0)
    assert plan.events == ()


def test_slots_beyond_max_request_workers_are_not_used() -> None:
    s = settings(server_limit=8, max_request_workers=3, min_spare_servers=5)
    plan, _ = MPM.maintain(s, snapshot("WW"), SpareState(target=2), now=0.0)
    assert plan.spawn == (2,)
