"""Run profiles: ``--quick`` for development (under 2 minutes), ``--full`` for releases.

Every duration and count the scenarios use comes from here, so each load loop is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    seconds: int  # one wrk sample
    warmup: int  # discarded wrk run per server before the rounds (0 = none)
    rounds: int  # interleaved rounds (A, B, A, B ...); medians over these
    pressure_seconds: int  # normal-client window beside slow or idle clients
    pressure_rounds: int
    kills: int  # SIGKILLs in the respawn scenario
    reload_seconds: int
    memory_load_seconds: int
    scenarios: tuple[str, ...]  # the default selection
    servers: tuple[str, ...] | None  # the default selection; None = all


QUICK = Profile(
    name="quick", seconds=2, warmup=0, rounds=1, pressure_seconds=2, pressure_rounds=1,
    kills=4, reload_seconds=4, memory_load_seconds=1,
    scenarios=("hello", "hello-close", "slow300", "respawn", "memory-hello"),
    servers=(
        "mpmd-prefork", "mpmd-worker", "mpmd-event", "gunicorn-sync", "gunicorn-gthread",
        "uvicorn-asgi", "apache-event",
    ),
)

FULL = Profile(
    name="full", seconds=4, warmup=1, rounds=3, pressure_seconds=6, pressure_rounds=1,
    kills=20, reload_seconds=10, memory_load_seconds=3,
    scenarios=(), servers=None,  # () and None: every scenario, every server
)

PROFILES = {"quick": QUICK, "full": FULL}
