"""Run profiles: ``--quick`` for development (under 2 minutes), ``--full`` for releases.

Every duration and count the scenarios use comes from here, so each load loop is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    seconds: int  # one wrk sample
    warmup: int  # discarded wrk run per server before the rounds
    rounds: int  # interleaved rounds (A, B, A, B ...); medians over these
    pressure_seconds: int  # normal-client window beside slow or idle clients
    pressure_rounds: int
    kills: int  # SIGKILLs in the respawn scenario
    reload_seconds: int
    scenarios: tuple[str, ...]  # the default selection
    servers: tuple[str, ...] | None  # the default selection; None = all


QUICK = Profile(
    name="quick", seconds=2, warmup=1, rounds=1, pressure_seconds=3, pressure_rounds=1,
    kills=5, reload_seconds=4,
    scenarios=("hello", "hello-close", "sleep50", "slow300", "respawn", "memory-hello"),
    servers=(
        "mpmd-prefork", "mpmd-worker", "mpmd-event", "gunicorn-sync", "gunicorn-gthread",
        "uvicorn-asgi", "uvicorn-wsgi", "waitress", "apache-event",
    ),
)

FULL = Profile(
    name="full", seconds=5, warmup=2, rounds=3, pressure_seconds=8, pressure_rounds=1,
    kills=20, reload_seconds=10, scenarios=(), servers=None,  # () = every scenario
)

PROFILES = {"quick": QUICK, "full": FULL}
