"""The event MPM's admission rule as a table: counts, state and probe answers in,
a decision, the next state and the probes it asked out.

Expected values come from Apache's formula (event.c ``connections_above_limit``,
``connections - closing < ThreadsPerChild + idle_workers * AsyncRequestWorkerFactor``)
worked out by hand for the setup the system tests use: ThreadsPerChild 4,
AsyncRequestWorkerFactor 2, 2 children (ServerLimit 2).  One idle worker makes
the limit 4 + 1 x 2 = 6: 5 connections are admitted, 6 are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from mpmd.mpm.event import admission
from mpmd.mpm.event.admission import Admission, AdmissionState, Counts, Limits, admit

NOW = 0.0  # the monotonic clock; 5 ms steps from 0 are exact in floating point
TPC4 = Limits(threads=4, factor=2, process_limit=2)
FRESH = AdmissionState()
#: the starvation probes were asked this very turn: a row about something else
#: sees no starvation probe
JUST_PROBED = AdmissionState(last_starving_check=NOW)


@dataclass
class Facts:
    """Canned probe answers; records which were asked, in order."""

    waiting: bool = False
    room: bool = False
    serving: int = 2
    asked: list[str] = field(default_factory=list)

    def clients_waiting(self) -> bool:
        self.asked.append("waiting")
        return self.waiting

    def others_have_room(self) -> bool:
        self.asked.append("room")
        return self.room

    def serving_children(self) -> int:
        self.asked.append("serving")
        return self.serving


def decision(
    accept: bool = False,
    batch: int = 1,
    not_accepting: bool = True,
    reclaim: bool = False,
    over_limit: bool = False,
    starving: bool = False,
) -> Admission:
    return Admission(accept, batch, not_accepting, reclaim, over_limit, starving)


ACCEPT = decision(accept=True, not_accepting=False)
REFUSE = decision()
OVER = decision(over_limit=True)
#: over the limit but taking the queue, in batches of 64 per turn; the
#: scoreboard still says "not accepting" (the rule said no)
STARVING = decision(accept=True, batch=64, over_limit=True, starving=True)


@dataclass(frozen=True)
class Row:
    id: str
    counts: Counts
    facts: Facts
    expect: Admission
    asked: tuple[str, ...]
    next_state: AdmissionState
    state: AdmissionState = FRESH
    limits: Limits = TPC4


def c(idle: int, in_workers: int, keepalive: int = 0, queued: int = 0, heads: int = 0,
      stopping: bool = False) -> Counts:
    return Counts(idle_workers=idle, queued=queued, in_workers=in_workers,
                  idle_keepalive=keepalive, heads=heads, stopping=stopping)


PROBED = AdmissionState(last_starving_check=NOW)
BUSY_PROBED = AdmissionState(busy_since=NOW, last_starving_check=NOW)

ROWS = [
    # -- Apache's formula: TPC 4 + 1 idle x factor 2 = 6 -------------------------
    Row("under the limit with a free worker: 5 < 6",
        c(idle=1, in_workers=3, keepalive=2), Facts(), ACCEPT, (), FRESH),
    Row("at the limit: 6 is not < 6",
        c(idle=1, in_workers=3, keepalive=3), Facts(), OVER, ("waiting",), PROBED),
    Row("over the limit: 7",
        c(idle=1, in_workers=3, keepalive=4), Facts(), OVER, ("waiting",), PROBED),
    Row("idle keep-alive connections count: 1 in a worker + 5 idle = 6",
        c(idle=1, in_workers=1, keepalive=5), Facts(), OVER, ("waiting",), PROBED),
    Row("fractional factor: 4 + 3 x 0.5 = 5.5 admits 5",
        c(idle=3, in_workers=3, keepalive=2), Facts(), ACCEPT, (), FRESH,
        limits=Limits(threads=4, factor=0.5, process_limit=2)),
    Row("fractional factor: 4 + 3 x 0.5 = 5.5 refuses 6",
        c(idle=3, in_workers=3, keepalive=3), Facts(), OVER, ("waiting",), PROBED,
        limits=Limits(threads=4, factor=0.5, process_limit=2)),
    Row("slow heads are not counted: 5 < 6 with 500 heads under way",
        c(idle=1, in_workers=3, keepalive=2, heads=500), Facts(), ACCEPT, (), FRESH),
    # -- a free worker ------------------------------------------------------------
    Row("no free worker: both idle threads have a queued connection (4 < 8)",
        c(idle=2, in_workers=4, queued=2), Facts(), REFUSE, (), FRESH),
    Row("one idle thread without a queued connection is free",
        c(idle=2, in_workers=4, queued=1), Facts(), ACCEPT, (), FRESH),
    # -- stopping -----------------------------------------------------------------
    Row("stopping, under the limit with a free worker",
        c(idle=1, in_workers=0, stopping=True), Facts(), REFUSE, (), FRESH),
    Row("stopping, over the limit, clients waiting and no room: never starving",
        c(idle=1, in_workers=3, keepalive=4, stopping=True),
        Facts(waiting=True, room=False), REFUSE, (), FRESH),
    # -- starvation: over the limit with clients in the listen queue -------------
    Row("over the limit, clients waiting, another child has room: no starvation",
        c(idle=1, in_workers=3, keepalive=3), Facts(waiting=True, room=True),
        OVER, ("waiting", "room"), PROBED),
    Row("over the limit, clients waiting, no room elsewhere, a free worker: batch accept",
        c(idle=1, in_workers=3, keepalive=3), Facts(waiting=True, room=False),
        STARVING, ("waiting", "room"), PROBED),
    Row("every worker busy, no room, 1 of 2 children: stay queued for maintenance",
        c(idle=0, in_workers=4, keepalive=3), Facts(waiting=True, room=False, serving=1),
        OVER, ("waiting", "room", "serving"), BUSY_PROBED),
    Row("every worker busy, no room, ServerLimit reached (2 of 2): take newcomers",
        c(idle=0, in_workers=4, keepalive=3), Facts(waiting=True, room=False, serving=2),
        STARVING, ("waiting", "room", "serving"), BUSY_PROBED),
    Row("every worker busy, queued connections: the process limit decides (2 of 2)",
        c(idle=0, in_workers=6, queued=2), Facts(waiting=True, room=False, serving=2),
        STARVING, ("waiting", "room", "serving"), BUSY_PROBED),
    # -- STARVATION_GUARD (5 ms) between probes -------------------------------------
    Row("4 ms after the last probe: no probe, no starvation",
        c(idle=1, in_workers=3, keepalive=3), Facts(waiting=True, room=False),
        OVER, (), AdmissionState(last_starving_check=NOW - 0.004),
        state=AdmissionState(last_starving_check=NOW - 0.004)),
    Row("5 ms after the last probe: probes again",
        c(idle=1, in_workers=3, keepalive=3), Facts(waiting=True, room=False),
        STARVING, ("waiting", "room"), PROBED,
        state=AdmissionState(last_starving_check=NOW - 0.005)),
    # -- saturation and reclaiming keep-alive connections -----------------------------
    Row("the last idle worker became busy: the saturation clock starts",
        c(idle=0, in_workers=4), Facts(waiting=True, room=True),
        OVER, (), BUSY_PROBED, state=JUST_PROBED),
    Row("busy just under SATURATED_AFTER: nothing yet",
        c(idle=0, in_workers=4), Facts(waiting=True, room=True), OVER, (),
        AdmissionState(busy_since=NOW - admission.SATURATED_AFTER + 0.001,
                       last_starving_check=NOW),
        state=AdmissionState(busy_since=NOW - admission.SATURATED_AFTER + 0.001,
                             last_starving_check=NOW)),
    Row("saturated, clients waiting, another child has room: reclaim keep-alive",
        c(idle=0, in_workers=4, keepalive=9), Facts(waiting=True, room=True),
        decision(over_limit=True, reclaim=True), ("waiting", "room"), BUSY_PROBED,
        state=AdmissionState(busy_since=NOW - admission.SATURATED_AFTER,
                             last_starving_check=NOW)),
    Row("saturated, clients waiting, no room elsewhere: keep them",
        c(idle=0, in_workers=4, keepalive=9), Facts(waiting=True, room=False),
        OVER, ("waiting", "room"), BUSY_PROBED,
        state=AdmissionState(busy_since=NOW - admission.SATURATED_AFTER,
                             last_starving_check=NOW)),
    Row("saturated, nobody waiting: keep them",
        c(idle=0, in_workers=4, keepalive=9), Facts(waiting=False, room=True),
        OVER, ("waiting",), BUSY_PROBED,
        state=AdmissionState(busy_since=NOW - admission.SATURATED_AFTER,
                             last_starving_check=NOW)),
    Row("a worker went idle: the saturation clock resets",
        c(idle=1, in_workers=3), Facts(waiting=True, room=True), ACCEPT, (), JUST_PROBED,
        state=AdmissionState(busy_since=NOW - 5.0, last_starving_check=NOW)),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_admission_table(row: Row) -> None:
    got, state = admit(row.limits, row.counts, row.state, row.facts, NOW)
    assert got == row.expect
    assert tuple(row.facts.asked) == row.asked
    assert state == row.next_state


def test_constants_the_docs_state() -> None:
    # docs/logging.md (keepalive_reclaimed): "keep-alive connections that had
    # been idle for at least 1 s"; CHANGELOG: a child over its limit "took one
    # per 5 ms" before batches, which are taken per turn.
    assert admission.KEEPALIVE_RECLAIM_AFTER == 1.0
    assert admission.STARVATION_GUARD == 0.005


def test_probes_are_rate_limited_across_turns() -> None:
    over = c(idle=1, in_workers=3, keepalive=3)
    facts = Facts(waiting=True, room=False)
    asked_per_turn = []
    state = FRESH
    for now in (NOW, NOW + 0.002, NOW + 0.004, NOW + 0.005, NOW + 0.006):
        got, state = admit(TPC4, over, state, facts, now)
        asked_per_turn.append((len(facts.asked), got.starving))
        facts.asked.clear()
    # probes at 0 ms and 5 ms only; starving only on the turns that looked
    assert asked_per_turn == [(2, True), (0, False), (0, False), (2, True), (0, False)]


def test_reclaim_then_not_again_before_another_saturation_period() -> None:
    busy = c(idle=0, in_workers=4, keepalive=9)
    facts = Facts(waiting=True, room=True)
    state = AdmissionState(last_starving_check=float("inf"))  # starvation never probed
    step = admission.SATURATED_AFTER
    reclaims = []
    for now in (NOW, NOW + step / 2, NOW + step, NOW + step * 1.5, NOW + step * 2):
        got, state = admit(TPC4, busy, state, facts, now)
        reclaims.append(got.reclaim)
    assert reclaims == [False, False, True, False, True]


def test_the_poller_looks_again_soon_only_over_the_limit() -> None:
    over, _ = admit(TPC4, c(idle=1, in_workers=6), JUST_PROBED, Facts(), NOW)
    within, _ = admit(TPC4, c(idle=1, in_workers=1), FRESH, Facts(), NOW)
    assert over.poll_wait(0.5) == 0.005  # every STARVATION_GUARD (5 ms)
    assert within.poll_wait(0.5) == 0.5
