"""Scenarios under pressure: slow clients trickling request heads, or thousands of idle
keep-alive connections, while a normal client is measured.

The crowd runs in its own process (bench.crowd); each sample starts a fresh server, so
that what one crowd left behind never leaks into the next sample.  The normal client
beside slow clients opens a new connection per request (a new visitor), 2 at a time,
each request bounded by a 2 s timeout: its p50/p99 and how many failed are the result.
Beside idle connections, wrk with 50 connections is the normal client.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import visitor
from bench.context import Ctx
from bench.loads import Load
from bench.loads import sample as wrk_sample
from bench.procs import BenchError
from bench.results import Metric, Sample, ScenarioResult
from bench.servers import HELLO, Handle, Options, Server

REPO = Path(__file__).resolve().parents[1]
NORMAL_CLIENTS = 2
READY_DEADLINE_S = 40.0

SLOW_METRICS = [
    Metric("p50_ms", "p50 ms", "{:.2f}", lower_is_better=True),
    Metric("p99_ms", "p99 ms", "{:.2f}", lower_is_better=True),
    Metric("ok", "ok req"),
    Metric("failed", "failed", lower_is_better=True),
    Metric("slow_opened", "slow open"),
    Metric("slow_cut", "slow cut"),
]

IDLE_METRICS = [
    Metric("rps", "req/s"),
    Metric("p99_ms", "p99 ms", "{:.2f}", lower_is_better=True),
    Metric("errors", "sock err", lower_is_better=True),
    Metric("visitor_ok", "visitor ok"),
    Metric("visitor_p99_ms", "visitor p99 ms", "{:.1f}", lower_is_better=True),
    Metric("visitor_failed", "visitor fail", lower_is_better=True),
    Metric("idle_opened", "idle open"),
    Metric("idle_served", "idle served"),
    Metric("idle_cut", "idle cut"),
]


@dataclass(frozen=True)
class Crowd:
    mode: str  # "slow" | "idle"
    count: int


def run_pressure(ctx: Ctx, result: ScenarioResult, servers: list[Server], crowd: Crowd) -> None:
    """Per round: start fresh servers all at once, then one crowd at a time; each server
    is stopped right after its sample, so no crowd leftovers carry over."""
    for rnd in range(ctx.profile.pressure_rounds):
        k = rnd % max(1, len(servers))
        order = [s for s in servers[k:] + servers[:k] if result.cell(s.name).status == "ok"]
        with ExitStack() as stack:
            started = ctx.start_all(stack, [(s, Options(app=HELLO)) for s in order])
            for server, got in zip(order, started, strict=True):
                _one(ctx, result, server, got, crowd)


def _one(ctx: Ctx, result: ScenarioResult, server: Server, got: Handle | BenchError,
         crowd: Crowd) -> None:
    cell = result.cell(server.name)
    try:
        if isinstance(got, BenchError):
            raise got
        cell.samples.append(_sample(ctx, got, crowd))
    except BenchError as exc:
        cell.status = f"error: {exc}"[:300]
    finally:
        if isinstance(got, Handle):
            ctx.groups.stop(got.pgid)
    ctx.log(f"{result.name} {server.name}: {_brief(cell.samples[-1:])}")


def _brief(samples: list[Sample]) -> str:
    if not samples:
        return "no sample"
    return ", ".join(f"{k} {v:.4g}" for k, v in samples[0].items())


def _sample(ctx: Ctx, handle: Handle, crowd: Crowd) -> Sample:
    seconds = ctx.profile.pressure_seconds
    path = handle.server.url(HELLO, "/")
    proc = _start_crowd(handle.port, crowd, path, READY_DEADLINE_S + seconds + 10)
    try:
        ready = _read_json_line(proc, READY_DEADLINE_S, prefix="ready ")
        if crowd.mode == "slow":
            measured = visitor.run_for(handle.port, path, seconds, NORMAL_CLIENTS)
        else:
            measured = wrk_sample(handle, Load(HELLO, "/"), seconds)
        if proc.stdin:
            proc.stdin.write("stop\n")
            proc.stdin.flush()
        final = _read_json_line(proc, 15.0)
    finally:
        _end(proc)
    return {**measured, **_crowd_figures(crowd.mode, ready, final)}


def _crowd_figures(mode: str, ready: dict[str, Any], final: dict[str, Any]) -> Sample:
    if mode == "slow":
        return {"slow_opened": ready["opened"], "slow_cut": final["cut"],
                "slow_connect_failed": ready["connect_failed"]}
    return {"idle_opened": ready["opened"], "idle_served": final["served"],
            "idle_cut": final["cut"], "idle_connect_failed": ready["connect_failed"]}


def _start_crowd(port: int, crowd: Crowd, path: str, seconds: float) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "bench.crowd", crowd.mode, "--port", str(port),
            "--count", str(crowd.count), "--seconds", str(seconds), "--path", path]
    return subprocess.Popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)


def _read_json_line(proc: subprocess.Popen[str], deadline_s: float,
                    prefix: str = "") -> dict[str, Any]:
    assert proc.stdout is not None
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        readable, _, _ = select.select([proc.stdout], [], [], end - time.monotonic())
        if not readable:
            break
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(prefix) and line[len(prefix):].lstrip().startswith("{"):
            data: dict[str, Any] = json.loads(line[len(prefix):])
            return data
    raise BenchError(f"crowd gave no {prefix or 'final '}line within {deadline_s} s")


def _end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)
