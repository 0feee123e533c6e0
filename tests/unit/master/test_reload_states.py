"""The reload's state table: every allowed move, and one error for the rest."""

from __future__ import annotations

import pytest

from mpmd.master.reload_states import ReloadEvent as E
from mpmd.master.reload_states import ReloadState as S
from mpmd.master.reload_states import ReloadStateError, next_state

# The lifecycle the reload module's docstring describes (mpmd/master/reload.py).
ALLOWED = [
    (S.IDLE, E.BUILD, S.BUILDING),
    (S.BUILDING, E.REFUSED, S.IDLE),
    (S.BUILDING, E.STAGED, S.STAGING),
    (S.STAGING, E.COALESCE, S.STAGING),
    (S.STAGING, E.SWITCH, S.IDLE),
    (S.STAGING, E.ABORT, S.IDLE),
    (S.IDLE, E.ABANDON, S.IDLE),
    (S.STAGING, E.ABANDON, S.IDLE),
]


@pytest.mark.parametrize(("state", "event", "after"), ALLOWED)
def test_allowed_moves(state: S, event: E, after: S) -> None:
    assert next_state(state, event) is after


@pytest.mark.parametrize(
    ("state", "event"),
    [(s, e) for s in S for e in E if (s, e) not in {(a, b) for a, b, _ in ALLOWED}],
)
def test_every_other_move_is_refused(state: S, event: E) -> None:
    with pytest.raises(ReloadStateError):
        next_state(state, event)


def test_the_error_says_what_from_where_and_what_was_allowed() -> None:
    with pytest.raises(ReloadStateError) as info:
        next_state(S.IDLE, E.SWITCH)
    assert str(info.value) == (
        "a reload cannot switch while idle (allowed while idle: abandon, build)"
    )
