"""Spare-capacity maintenance as pure functions of a scoreboard snapshot.

Apache's ``perform_idle_server_maintenance`` (prefork.c, worker.c, event.c)
runs once a second: below the minimum of idle capacity it forks 1, 2, 4 … 32
children per second into open slots; above the maximum it retires one child a
second; with no open slot left it logs "server reached MaxRequestWorkers
setting" once.  mpmd keeps that policy and adds one thing Apache lacks:

* **Immediate replacement.**  The state remembers how many current-generation
  children the policy wants (``target``).  A child that exits without being
  asked (killed, crashed, recycled after MaxConnectionsPerChild) leaves the
  live count below the target, and the next call — made as soon as the
  master reaps it — spawns its replacement, without waiting for the tick.

Old-generation and quiescing children are never counted as capacity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from mpmd.config.model import MpmSettings
from mpmd.mpm.base import LogEvent, Plan
from mpmd.scoreboard.board import ProcessView, Snapshot
from mpmd.scoreboard.states import IDLE_STATES, State

MAX_SPAWN_RATE = 32  # Apache's MAX_SPAWN_RATE
TICK = 1.0  # seconds between spare-maintenance rounds (Apache's one-second loop)


@dataclass(frozen=True)
class SpareState:
    """What maintenance carries from one round to the next (Apache's ``retained``)."""

    target: int  # current-generation children the policy wants alive
    spawn_rate: int = 1
    next_tick: float = 0.0
    max_workers_reported: bool = False


@dataclass(frozen=True)
class SparePolicy:
    """The numbers one MPM's maintenance works with.

    ``capacity`` tells how much idle capacity a child offers (1 for prefork,
    its idle threads for worker/event); the minimum and maximum are in the same
    unit.  ``slot_limit`` is how many process slots may be used.
    """

    min_idle: int
    max_idle: int
    slot_limit: int
    capacity: Callable[[ProcessView], int]
    #: a child may be retired only when all of it is idle (prefork: its slot is '_')
    retirable: Callable[[ProcessView], bool]


class SpareMaintained:
    """The maintenance half of an MPM: Apache's spare policy on its numbers.

    An MPM provides :meth:`policy`; this provides the MPM interface's
    ``initial_state`` and ``maintain``.
    """

    def policy(self, settings: MpmSettings) -> SparePolicy:
        raise NotImplementedError  # each MPM says what its idle capacity is

    def initial_state(self, settings: MpmSettings) -> SpareState:
        return SpareState(target=settings.start_servers)

    def maintain(
        self, settings: MpmSettings, snapshot: Snapshot, state: SpareState, now: float
    ) -> tuple[Plan, SpareState]:
        return maintain(self.policy(settings), snapshot, state, now)


def idle_slots(view: ProcessView) -> int:
    """Idle capacity of a child: its worker slots that are starting or ready."""
    return view.count(IDLE_STATES)


def fully_idle(view: ProcessView) -> bool:
    return bool(view.states) and all(s == State.READY.value[0] for s in view.states)


def maintain(
    policy: SparePolicy, snapshot: Snapshot, state: SpareState, now: float
) -> tuple[Plan, SpareState]:
    """One maintenance call: replacements now, the spare policy once per tick."""
    current = _capacity_children(snapshot)
    free = _open_slots(snapshot, policy.slot_limit)
    deficit = min(state.target, policy.slot_limit) - len(current)
    if deficit > 0 and free:
        return Plan(spawn=free[:deficit], wake_at=state.next_tick), state
    if now < state.next_tick:
        return Plan(wake_at=state.next_tick), state
    plan, state = _spare_round(policy, current, free, state)
    return replace(plan, wake_at=now + TICK), replace(state, next_tick=now + TICK)


def _capacity_children(snapshot: Snapshot) -> tuple[ProcessView, ...]:
    return tuple(p for p in snapshot.live(snapshot.generation) if not p.quiescing)


def _open_slots(snapshot: Snapshot, limit: int) -> tuple[int, ...]:
    return tuple(p.slot for p in snapshot.processes[:limit] if not p.pid)


def _spare_round(
    policy: SparePolicy,
    current: tuple[ProcessView, ...],
    free: tuple[int, ...],
    state: SpareState,
) -> tuple[Plan, SpareState]:
    idle = sum(policy.capacity(p) for p in current)
    if idle > policy.max_idle:
        return _retire_one(policy, current, state)
    if idle < policy.min_idle:
        return _spawn_more(current, free, idle, state)
    return Plan(), replace(state, spawn_rate=1)


def _retire_one(
    policy: SparePolicy, current: tuple[ProcessView, ...], state: SpareState
) -> tuple[Plan, SpareState]:
    # Apache kills the highest-numbered idle child: lower slots tend to be
    # the busier ones, with warmer caches (prefork.c's comment).
    candidates = [p.slot for p in current if policy.retirable(p)]
    if not candidates:
        return Plan(), replace(state, spawn_rate=1)
    slot = max(candidates)
    event = LogEvent("maintenance_retiring", "info", (("slot", slot),))
    new_state = replace(state, spawn_rate=1, target=max(len(current) - 1, 0))
    return Plan(retire=(slot,), events=(event,)), new_state


def _spawn_more(
    current: tuple[ProcessView, ...],
    free: tuple[int, ...],
    idle: int,
    state: SpareState,
) -> tuple[Plan, SpareState]:
    if not free:
        return _at_limit(state)
    slots = free[: state.spawn_rate]
    events = [LogEvent("maintenance_spawning", "info", (("count", len(slots)), ("idle", idle)))]
    if state.spawn_rate >= 8:
        # AH00162
        events.append(
            LogEvent(
                "server_seems_busy",
                "info",
                (("spawning", state.spawn_rate), ("idle", idle), ("total", len(current))),
            )
        )
    new_state = replace(
        state,
        spawn_rate=min(state.spawn_rate * 2, MAX_SPAWN_RATE),
        target=len(current) + len(slots),
    )
    return Plan(spawn=slots, events=tuple(events)), new_state


def _at_limit(state: SpareState) -> tuple[Plan, SpareState]:
    if state.max_workers_reported:
        return Plan(), replace(state, spawn_rate=1)
    # AH00161, reported once per generation as Apache does.
    event = LogEvent(
        "max_request_workers_reached",
        "error",
        (
            (
                "message",
                "server reached MaxRequestWorkers setting, "
                "consider raising the MaxRequestWorkers setting",
            ),
        ),
    )
    return Plan(events=(event,)), replace(state, spawn_rate=1, max_workers_reported=True)
