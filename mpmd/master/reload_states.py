"""The reload's steps as one table (in the manner of h11's ``_state.py``).

Theory of operation.  A reload is IDLE until one is requested; it is then
BUILDING (the configuration read again, its MPM loaded, listeners bound: any
error REFUSES it and nothing changed), then STAGING (the new generation's
children start beside the old ones) until it SWITCHES (every new child is
ready) or ABORTS (a canary failed, or the staging timeout).  A request that
arrives while one stages COALESCES into one more reload after it, so STAGING
stays STAGING.  A stopping server ABANDONS whatever was under way.

Every move is in :data:`TRANSITIONS`; a move the table lacks is a bug in the
master and raises :class:`ReloadStateError`, which says what was attempted,
from where, and what would have been allowed.
"""

from __future__ import annotations

import enum


class ReloadState(enum.Enum):
    IDLE = "idle"  # no reload under way
    BUILDING = "building"  # reading, validating, binding: nothing forked yet
    STAGING = "staging"  # the new generation's children are starting


class ReloadEvent(enum.Enum):
    BUILD = "build"  # a reload was requested with none under way
    REFUSED = "refused"  # the configuration, MPM or a Listen address failed
    STAGED = "staged"  # the new generation is in the fleet, its canaries forked
    COALESCE = "coalesce"  # another request: one more reload once this one ends
    SWITCH = "switch"  # every new child is ready: the new generation serves
    ABORT = "abort"  # a canary failed or staging timed out: the old one serves on
    ABANDON = "abandon"  # the server stops


_S, _E = ReloadState, ReloadEvent

TRANSITIONS: dict[tuple[ReloadState, ReloadEvent], ReloadState] = {
    (_S.IDLE, _E.BUILD): _S.BUILDING,
    (_S.BUILDING, _E.REFUSED): _S.IDLE,
    (_S.BUILDING, _E.STAGED): _S.STAGING,
    (_S.STAGING, _E.COALESCE): _S.STAGING,
    (_S.STAGING, _E.SWITCH): _S.IDLE,
    (_S.STAGING, _E.ABORT): _S.IDLE,
    (_S.IDLE, _E.ABANDON): _S.IDLE,  # a stop after a reload ended: nothing to tell
    (_S.STAGING, _E.ABANDON): _S.IDLE,
}


class ReloadStateError(RuntimeError):
    """A move :data:`TRANSITIONS` lacks: the master misused its own reload."""


def next_state(state: ReloadState, event: ReloadEvent) -> ReloadState:
    """The state after ``event`` in ``state``, or :class:`ReloadStateError`."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        allowed = sorted(e.value for (s, e) in TRANSITIONS if s is state)
        raise ReloadStateError(
            f"a reload cannot {event.value} while {state.value} "
            f"(allowed while {state.value}: {', '.join(allowed)})"
        ) from None
