"""Reloads under load: a graceful reload every second, and a prefork -> event swap.

wrk runs with 50 keep-alive connections while the harness reloads the server (gunicorn:
HUP; Apache: USR1 = ``-k graceful``; mpmd: ``mpmd reload`` once it exists, see
bench.mpmd_server.RELOAD_READY).  What counts is what clients saw: socket errors and
non-2xx responses, and whether the server still serves afterwards.  The swap goes from
the prefork-like model to the event-like one (gunicorn sync -> gthread; Apache prefork ->
event, which Apache refuses, measured anyway).
"""

from __future__ import annotations

import time

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
    Metric("serving_after", "serving after"),
]


def run_reload(ctx: Ctx, result: ScenarioResult, servers: list[Server], swap: bool) -> None:
    for server in servers:
        cell = result.cell(server.name)
        reason = _unsupported(server, swap)
        if reason:
            cell.status = reason
            continue
        try:
            with ctx.run(server, Options(app=HELLO)) as handle:
                cell.samples.append(_under_load(ctx, handle, swap))
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


def _under_load(ctx: Ctx, handle: Handle, swap: bool) -> Sample:
    seconds = ctx.profile.reload_seconds
    run = wrk.WrkRun(handle.port, handle.server.url(HELLO, "/"), 50, seconds)
    proc = wrk.start(run)
    reloads = 0
    start = time.monotonic()
    if swap:
        time.sleep(seconds / 2)
        handle.server.swap(handle)
        reloads = 1
    else:
        for tick in range(1, seconds):
            time.sleep(max(0.0, start + tick - time.monotonic()))
            handle.server.reload(handle)
            reloads += 1
    res = wrk.finish(proc, run)
    serving = handle.alive() and probe.wait_serving(handle.port, run.path, 5.0)
    return {"rps": res.rps, "errors": res.errors, "non2xx": res.non2xx, "p99_ms": res.p99_ms,
            "reloads": reloads, "serving_after": float(serving),
            **{f"err_{k}": v for k, v in res.socket_errors.items()}}
