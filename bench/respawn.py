"""Child replacement after SIGKILL: how long until the master has a new child, and the
port still answers.

One server at a time; a worker (a direct child of the master, found in /proc) is
killed, then the clock runs until a child that was not there before exists and the
worker count is back, and until a GET succeeds.  Between kills the server is left to
settle (full worker count, serving).  A kill not repaired within the deadline counts as
a failure, not as a time.
"""

from __future__ import annotations

import os
import signal
import time
from contextlib import ExitStack

from bench import probe
from bench.context import Ctx
from bench.procs import BenchError, children, wait_until
from bench.results import Cell, Metric, Sample, ScenarioResult
from bench.servers import HELLO, Handle, Options, Server

REPAIR_DEADLINE_S = 10.0
SETTLE_S = 0.2

METRICS = [
    Metric("child_ms", "new child ms", "{:.1f}", lower_is_better=True),
    Metric("serving_ms", "serving ms", "{:.1f}", lower_is_better=True),
    Metric("unrepaired", "unrepaired", lower_is_better=True),
]


def run_respawn(ctx: Ctx, result: ScenarioResult, servers: list[Server]) -> None:
    for server in servers:
        if not server.respawns:
            result.cell(server.name).status = "skipped: does not replace killed workers"
    able = [s for s in servers if s.respawns]
    with ExitStack() as stack:
        started = ctx.start_all(stack, [(s, Options(app=HELLO)) for s in able])
        for server, got in zip(able, started, strict=True):
            _kills(ctx, result.cell(server.name), got)
            if isinstance(got, Handle):
                ctx.groups.stop(got.pgid)


def _kills(ctx: Ctx, cell: Cell, got: Handle | BenchError) -> None:
    try:
        if isinstance(got, BenchError):
            raise got
        for _ in range(ctx.profile.kills):
            cell.samples.append(_kill_one(got))
    except BenchError as exc:
        cell.status = f"error: {exc}"[:300]
    ctx.log(f"respawn {cell.server}: {sorted(round(s['child_ms'], 1) for s in cell.samples)}")


def _kill_one(handle: Handle) -> Sample:
    want = handle.server.workers
    path = handle.server.url(HELLO, "/")
    _settle(handle, want, path)
    before = set(children(handle.pgid))
    os.kill(min(before), signal.SIGKILL)
    start = time.monotonic()
    replaced = wait_until(lambda: _replaced(handle.pgid, before, want), REPAIR_DEADLINE_S, 0.0005)
    child_ms = (time.monotonic() - start) * 1000
    serving = probe.wait_serving(handle.port, path, REPAIR_DEADLINE_S)
    serving_ms = (time.monotonic() - start) * 1000
    if not (replaced and serving):
        return {"child_ms": float("nan"), "serving_ms": float("nan"), "unrepaired": 1}
    return {"child_ms": child_ms, "serving_ms": serving_ms, "unrepaired": 0}


def _replaced(master: int, before: set[int], want: int) -> bool:
    now = set(children(master))
    return bool(now - before) and len(now) >= want


def _settle(handle: Handle, want: int, path: str) -> None:
    if not wait_until(lambda: len(children(handle.pgid)) >= want, REPAIR_DEADLINE_S):
        raise BenchError(f"{handle.server.name} stays below {want} workers")
    if not probe.wait_serving(handle.port, path, REPAIR_DEADLINE_S):
        raise BenchError(f"{handle.server.name} stopped serving")
    time.sleep(SETTLE_S)  # let the new worker finish booting before the next kill
