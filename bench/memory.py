"""Memory: RSS, PSS and USS of the master and its workers, idle and after load.

PSS adds up to what the server really costs (shared pages divided among sharers); USS
is what killing one process would free.  Measured for the hello app and for an app that
imports ~50 MB of modules, with and without preloading where the server has it
(gunicorn ``preload_app``, mpmd ``WSGIPreload On``).  Apache serves its static file.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import psutil

from bench.context import Ctx
from bench.loads import Load, sample
from bench.procs import BenchError
from bench.results import Metric, Sample, ScenarioResult
from bench.servers import App, Handle, Options, Server

MB = 1024 * 1024
SETTLE_S = 0.5

METRICS = [
    Metric("idle_pss_mb", "idle PSS MB", "{:.1f}", lower_is_better=True),
    Metric("load_pss_mb", "loaded PSS MB", "{:.1f}", lower_is_better=True),
    Metric("load_rss_mb", "loaded RSS MB", "{:.1f}", lower_is_better=True),
    Metric("load_uss_mb", "loaded USS MB", "{:.1f}", lower_is_better=True),
    Metric("master_uss_mb", "master USS MB", "{:.1f}", lower_is_better=True),
    Metric("worker_uss_mb", "worker USS MB", "{:.1f}", lower_is_better=True),
]


@dataclass(frozen=True)
class Footprint:
    rss: float
    pss: float
    uss: float
    master_uss: float
    worker_uss: float  # mean over workers (the master itself when single-process)


def run_memory(ctx: Ctx, result: ScenarioResult, servers: list[Server], app: App) -> None:
    """Start every configuration at once, then measure one at a time (each stopped after)."""
    jobs = []
    for server in servers:
        for preload in (False, True) if server.preloads else (False,):
            jobs.append((server, Options(app=app, preload=preload)))
    with ExitStack() as stack:
        started = ctx.start_all(stack, jobs)
        time.sleep(SETTLE_S)  # workers finish importing after they first answer
        for (server, opts), got in zip(jobs, started, strict=True):
            _one(ctx, result, server.name + ("+preload" if opts.preload else ""), got)


def _one(ctx: Ctx, result: ScenarioResult, name: str, got: Handle | BenchError) -> None:
    cell = result.cell(name)
    try:
        if isinstance(got, BenchError):
            raise got
        cell.samples.append(_measure(ctx, got))
        ctx.log(f"{result.name} {name}: loaded PSS {cell.samples[-1]['load_pss_mb']:.1f} MB")
    except BenchError as exc:
        cell.status = f"error: {exc}"[:300]
    finally:
        if isinstance(got, Handle):
            ctx.groups.stop(got.pgid)


def _measure(ctx: Ctx, handle: Handle) -> Sample:
    idle = footprint(handle.pgid)
    sample(handle, Load(handle.opts.app, "/"), ctx.profile.memory_load_seconds)
    loaded = footprint(handle.pgid)
    return {
        "idle_rss_mb": idle.rss, "idle_pss_mb": idle.pss, "idle_uss_mb": idle.uss,
        "load_rss_mb": loaded.rss, "load_pss_mb": loaded.pss, "load_uss_mb": loaded.uss,
        "master_uss_mb": loaded.master_uss, "worker_uss_mb": loaded.worker_uss,
    }


def footprint(master_pid: int) -> Footprint:
    """Totals over the master and all its descendants, in MiB."""
    master = psutil.Process(master_pid)
    procs = [master, *master.children(recursive=True)]
    infos = {p.pid: _full_info(p) for p in procs}
    live = {pid: i for pid, i in infos.items() if i is not None}
    workers = [i.uss for pid, i in live.items() if pid != master_pid]
    master_uss = live[master_pid].uss if master_pid in live else 0.0
    return Footprint(
        rss=sum(i.rss for i in live.values()) / MB,
        pss=sum(i.pss for i in live.values()) / MB,
        uss=sum(i.uss for i in live.values()) / MB,
        master_uss=master_uss / MB,
        worker_uss=(sum(workers) / len(workers) if workers else master_uss) / MB,
    )


def _full_info(proc: psutil.Process) -> Any:
    try:
        return proc.memory_full_info()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
