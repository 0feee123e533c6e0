"""The scenario table: name -> what it measures and how it runs.

Each entry builds an empty :class:`~bench.results.ScenarioResult` and a runner; the
runner fills one cell per server.  Servers that cannot take part (Apache has no WSGI)
are recorded as skipped with the reason, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench import loads, memory, pressure, reloads, respawn
from bench.context import Ctx
from bench.loads import Load
from bench.pressure import Crowd
from bench.results import Metric, ScenarioResult
from bench.servers import BIG, FILES, HELLO, SLEEPY, App, Server

Runner = Callable[[Ctx, ScenarioResult, list[Server]], None]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    kind: str
    metrics: list[Metric]
    key: str
    app: App
    runner: Runner
    description: str = ""

    def new_result(self) -> ScenarioResult:
        return ScenarioResult(self.name, self.title, self.kind, list(self.metrics), self.key,
                              description=self.description)


def _load(load: Load) -> Runner:
    return lambda ctx, res, servers: loads.run_load(ctx, res, servers, load)


def _crowd(crowd: Crowd) -> Runner:
    return lambda ctx, res, servers: pressure.run_pressure(ctx, res, servers, crowd)


def _memory(app: App) -> Runner:
    return lambda ctx, res, servers: memory.run_memory(ctx, res, servers, app)


def _reload(mode: str) -> Runner:
    return lambda ctx, res, servers: reloads.run_reload(ctx, res, servers, mode)


CLOSE = ("Connection: close",)
SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("hello", "hello, keep-alive, 50 connections", "load", loads.METRICS, "rps", HELLO,
             _load(Load(HELLO, "/")), "wrk -c50 keep-alive; Apache serves hello.txt"),
    Scenario("hello-close", "hello, Connection: close, 50 connections", "load", loads.METRICS,
             "rps", HELLO, _load(Load(HELLO, "/", headers=CLOSE)),
             "wrk -c50 -H 'Connection: close': a new TCP connection per request"),
    Scenario("static10k", "10 KiB static file, keep-alive, 50 connections", "load",
             loads.METRICS, "rps", FILES, _load(Load(FILES, "/10k.bin")),
             "Apache and mpmd serve DocumentRoot; WSGI peers use wsgi.file_wrapper"),
    Scenario("static1m", "1 MiB static file, keep-alive, 50 connections", "load",
             loads.METRICS, "rps", FILES, _load(Load(FILES, "/1m.bin")),
             "Apache and mpmd serve DocumentRoot; WSGI peers use wsgi.file_wrapper"),
    Scenario("sleep50", "app sleeping 50 ms, 200 connections", "load", loads.METRICS, "rps",
             SLEEPY, _load(Load(SLEEPY, "/", connections=200)),
             "time.sleep(0.05) in WSGI; asyncio.sleep in uvicorn-asgi. Ceiling with 8 "
             "workers: 160 req/s"),
    Scenario("slow300", "300 slow clients trickling request heads", "slow",
             pressure.SLOW_METRICS, "ok", HELLO, _crowd(Crowd("slow", 300)),
             "normal client: 2 at a time, new connection per request, 2 s timeout"),
    Scenario("slow1000", "1,000 slow clients trickling request heads", "slow",
             pressure.SLOW_METRICS, "ok", HELLO, _crowd(Crowd("slow", 1000)),
             "normal client: 2 at a time, new connection per request, 2 s timeout"),
    Scenario("idle5000", "5,000 idle keep-alive connections + 50 active", "idle",
             pressure.IDLE_METRICS, "rps", HELLO, _crowd(Crowd("idle", 5000)),
             "each idle connection made one request first; wrk -c50 measures meanwhile"),
    Scenario("respawn", "child replacement after SIGKILL", "respawn", respawn.METRICS,
             "child_ms", HELLO, respawn.run_respawn,
             "time until a new child of the master exists / the port answers"),
    Scenario("memory-hello", "memory, hello app", "memory", memory.METRICS, "load_pss_mb",
             HELLO, _memory(HELLO), "sum over master and workers, idle and after a wrk run"),
    Scenario("memory-big", "memory, app importing ~50 MB", "memory", memory.METRICS,
             "load_pss_mb", BIG, _memory(BIG), "with and without preload"),
    Scenario("reload1s", "graceful reload every second under load", "reload",
             reloads.METRICS, "errors", HELLO, _reload("every-second"),
             "gunicorn HUP, Apache USR1 (-k graceful), mpmd reload; MaxKeepAliveRequests 100"),
    Scenario("reload50", "50 graceful reloads in a row under load", "reload",
             reloads.METRICS, "errors", HELLO, _reload("fifty"),
             "mpmd: each `mpmd reload` waited for (it returns once the new generation "
             "serves); peers: a signal every 0.5 s; MaxKeepAliveRequests 100"),
    Scenario("mpm-swap", "prefork -> event swap under load", "reload", reloads.METRICS,
             "errors", HELLO, _reload("swap"),
             "gunicorn sync -> gthread (HUP), Apache prefork -> event (graceful), mpmd reload; "
             "MaxKeepAliveRequests 100"),
]}


def select(names: list[str] | None, default: tuple[str, ...]) -> list[Scenario]:
    wanted = names if names is not None else list(default or SCENARIOS)
    unknown = [n for n in wanted if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    return [SCENARIOS[n] for n in wanted]


def applicable(scenario: Scenario, servers: list[Server]) -> tuple[list[Server], dict[str, str]]:
    """The servers that can run ``scenario``, and why the others cannot."""
    ok, skipped = [], {}
    for server in servers:
        if server.serves(scenario.app):
            ok.append(server)
        else:
            skipped[server.name] = "skipped: serves static files only"
    return ok, skipped
