"""Throughput scenarios: wrk against every server, interleaved rounds (A, B, A, B ...).

All servers of a scenario run at once (idle ones cost nothing), each gets a discarded
warm-up, then each round measures every server once, starting one server further each
round so no server is always first.  A sample holds req/s, requests per server
CPU-second (the whole process group, reaped children included), p50/p99 latency,
socket errors and non-2xx responses.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from bench import wrk
from bench.context import Ctx
from bench.procs import BenchError, group_cpu_seconds
from bench.results import Metric, Sample, ScenarioResult
from bench.servers import App, Handle, Options, Server
from bench.visitor import visitors

METRICS = [
    Metric("rps", "req/s"),
    Metric("req_per_cpu_s", "req/CPU-s"),
    Metric("p50_ms", "p50 ms", "{:.2f}", lower_is_better=True),
    Metric("p99_ms", "p99 ms", "{:.2f}", lower_is_better=True),
    Metric("errors", "sock err", lower_is_better=True),
    Metric("non2xx", "non-2xx", lower_is_better=True),
    Metric("visitor_ok", "visitor ok"),
    Metric("visitor_p99_ms", "visitor p99 ms", "{:.1f}", lower_is_better=True),
    Metric("visitor_failed", "visitor fail", lower_is_better=True),
]


@dataclass(frozen=True)
class Load:
    app: App
    path: str
    connections: int = 50
    headers: tuple[str, ...] = ()


def sample(handle: Handle, load: Load, seconds: int) -> Sample:
    path = handle.server.url(load.app, load.path)
    run = wrk.WrkRun(handle.port, path, load.connections, seconds, load.headers)
    cpu0 = group_cpu_seconds(handle.pgid)
    with visitors(handle.port, path) as tally:
        res = wrk.measure(run)
    cpu = group_cpu_seconds(handle.pgid) - cpu0
    return {
        **tally.figures("visitor_", seconds),
        "rps": res.rps, "requests": res.requests, "cpu_s": cpu,
        "req_per_cpu_s": res.requests / cpu if cpu > 0 else float("nan"),
        "p50_ms": res.p50_ms, "p99_ms": res.p99_ms,
        "errors": res.errors, "non2xx": res.non2xx,
        **{f"err_{k}": v for k, v in res.socket_errors.items()},
    }


def run_load(ctx: Ctx, result: ScenarioResult, servers: list[Server], load: Load) -> None:
    with ExitStack() as stack:
        handles = _start_all(ctx, stack, result, servers, load)
        for handle in handles if ctx.profile.warmup > 0 else []:
            sample(handle, load, ctx.profile.warmup)
        for rnd in range(ctx.profile.rounds):
            for handle in _rotate(handles, rnd):
                _one_round(ctx, result, handle, load, rnd)


def _start_all(ctx: Ctx, stack: ExitStack, result: ScenarioResult, servers: list[Server],
               load: Load) -> list[Handle]:
    ready = []
    for server, got in zip(servers, ctx.start_all(stack, [(s, Options(app=load.app))
                                                           for s in servers]), strict=True):
        if isinstance(got, BenchError):
            result.cell(server.name).status = f"error: {got}"[:300]
            ctx.log(f"{result.name}: {server.name} failed to start: {got}")
        else:
            ready.append(got)
    return ready


def _rotate(handles: list[Handle], rnd: int) -> list[Handle]:
    if not handles:
        return []
    k = rnd % len(handles)
    return handles[k:] + handles[:k]


def _one_round(ctx: Ctx, result: ScenarioResult, handle: Handle, load: Load, rnd: int) -> None:
    cell = result.cell(handle.server.name)
    if cell.status != "ok":
        return
    if not handle.alive():
        cell.status = "error: server exited during the scenario"
        return
    try:
        s = sample(handle, load, ctx.profile.seconds)
    except BenchError as exc:
        cell.status = f"error: {exc}"[:300]
        return
    cell.samples.append(s)
    ctx.log(f"{result.name} r{rnd + 1} {handle.server.name}: {s['rps']:.0f} req/s, "
            f"{s['req_per_cpu_s']:.0f} req/CPU-s, p99 {s['p99_ms']:.2f} ms, err {s['errors']:.0f}")
