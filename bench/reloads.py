"""Reloads under load: one a second, 50 in a row, and a prefork -> event swap.

wrk runs with 50 keep-alive connections while the harness reloads the server (gunicorn:
HUP; Apache: USR1 = ``-k graceful``; mpmd: ``mpmd reload``).  What counts is what
clients saw: socket errors, non-2xx responses and p99 latency, and whether the server
still serves afterwards.  The swap goes from the prefork-like model to the event-like
one (gunicorn sync -> gthread; Apache prefork -> event, which Apache refuses, measured
anyway).

Keep-alive connections carry at most 100 requests here (MaxKeepAliveRequests, Apache's
and mpmd's default; gunicorn has no such knob), not the load scenarios' unlimited
setting: with 50 connections and 8 threads, a thread-per-connection server that never
closes a connection leaves 42 of them in the listen queue for the whole run, and every
reload (which closes the served ones) queues the reconnecting clients behind them until
wrk times them out.  That measures starvation under a benchmark's setting, not what a
reload drops.

``reload50`` makes 50 reloads one after another: mpmd's ``mpmd reload`` returns once the
new generation serves, so the next starts then (at most one per RELOAD50_GAP s); the
peers' signals say nothing back, so they get one every RELOAD50_GAP s.
"""

from __future__ import annotations

import time
from typing import Protocol, cast

from bench import probe, wrk
from bench.context import Ctx
from bench.procs import BenchError
from bench.results import Metric, Sample, ScenarioResult
from bench.servers import HELLO, Handle, Options, Server

METRICS = [
    Metric("rps", "req/s"),
    Metric("errors", "sock err", lower_is_better=True),
    Metric("non2xx", "non-2xx", lower_is_better=True),
    Metric("p99_ms", "p99 ms", "{:.2f}", lower_is_better=True),
    Metric("reloads", "reloads"),
    Metric("reload_failed", "reloads failed", lower_is_better=True),
    Metric("serving_after", "serving after"),
]


#: keep-alive requests per connection during reloads (see the module docstring)
KEEPALIVE_REQUESTS = 100
RELOAD50_COUNT = 50
RELOAD50_GAP = 0.5  # seconds between reloads, at least
RELOAD50_MAX_EACH = 3.0  # the window allows this much per reload on average
RELOAD50_TAIL = 2.0  # seconds of load before the first reload and after the last
RELOAD50_WAIT = 60.0  # one synchronous reload may take this long before it counts as failed


class SyncReload(Protocol):
    """A server whose reload says when it is done (mpmd)."""

    def reload_and_wait(self, handle: Handle, timeout: float) -> bool: ...


def run_reload(ctx: Ctx, result: ScenarioResult, servers: list[Server], mode: str) -> None:
    """``mode``: "every-second", "fifty" or "swap"."""
    for server in servers:
        cell = result.cell(server.name)
        reason = _unsupported(server, mode == "swap")
        if reason:
            cell.status = reason
            continue
        try:
            opts = Options(app=HELLO, keepalive_requests=KEEPALIVE_REQUESTS)
            with ctx.run(server, opts) as handle:
                cell.samples.append(_under_load(ctx, handle, mode))
                if not cell.samples[-1]["serving_after"]:
                    cell.notes.append("stopped serving: " + _last_error(handle))
        except BenchError as exc:
            cell.status = f"error: {exc}"[:300]
        ctx.log(f"{result.name} {server.name}: {cell.samples[-1:]}")


def _last_error(handle: Handle) -> str:
    """The server's last error-log line (Apache writes error.log, the others stderr)."""
    for name in ("error.log", "server.log"):
        path = handle.root / name
        lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        if lines:
            return lines[-1][-300:]
    return "(no log line)"


def _unsupported(server: Server, swap: bool) -> str:
    if not server.reloads:
        return "not supported yet" if server.family == "mpmd" else "skipped: no graceful reload"
    if swap and not server.swap_to:
        return "skipped: no model to swap to"
    return ""


def _under_load(ctx: Ctx, handle: Handle, mode: str) -> Sample:
    seconds = ctx.profile.reload_seconds
    if mode == "fifty":  # an upper bound: wrk is stopped RELOAD50_TAIL s after the last one
        seconds = int(RELOAD50_COUNT * RELOAD50_MAX_EACH + RELOAD50_TAIL)
    run = wrk.WrkRun(handle.port, handle.server.url(HELLO, "/"), 50, seconds)
    proc = wrk.start(run)
    start = time.monotonic()
    if mode == "swap":
        time.sleep(seconds / 2)
        handle.server.swap(handle)
        reloads, failed = 1, 0
    elif mode == "fifty":
        time.sleep(RELOAD50_TAIL)  # load first, then reloads, then a tail of load
        reloads, failed = _fifty(handle, start + seconds - RELOAD50_TAIL)
        time.sleep(RELOAD50_TAIL)
    else:
        reloads, failed = _every_second(handle, start, seconds)
    res = wrk.stop(proc, run) if mode == "fifty" else wrk.finish(proc, run)
    serving = handle.alive() and probe.wait_serving(handle.port, run.path, 5.0)
    return {"rps": res.rps, "errors": res.errors, "non2xx": res.non2xx, "p99_ms": res.p99_ms,
            "reloads": reloads, "reload_failed": failed, "serving_after": float(serving),
            **{f"err_{k}": v for k, v in res.socket_errors.items()}}


def _every_second(handle: Handle, start: float, seconds: int) -> tuple[int, int]:
    reloads = 0
    for tick in range(1, seconds):
        time.sleep(max(0.0, start + tick - time.monotonic()))
        handle.server.reload(handle)
        reloads += 1
    return reloads, 0


def _fifty(handle: Handle, until: float) -> tuple[int, int]:
    """RELOAD50_COUNT reloads, each after the previous one (or RELOAD50_GAP), before ``until``."""
    sync = cast(SyncReload, handle.server) if hasattr(handle.server, "reload_and_wait") else None
    reloads = failed = 0
    while reloads < RELOAD50_COUNT and time.monotonic() < until:
        began = time.monotonic()
        if sync is not None:
            failed += not sync.reload_and_wait(handle, RELOAD50_WAIT)
        else:
            handle.server.reload(handle)
        reloads += 1
        time.sleep(max(0.0, began + RELOAD50_GAP - time.monotonic()))
    return reloads, failed
