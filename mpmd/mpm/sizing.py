"""Apache 2.4's MPM sizing rules: defaults, clamps and their exact warnings.

Each MPM owns a few directives that exist only while it is loaded
(``StartServers``, ``ThreadsPerChild`` …) and a ``check_config`` pass that
clamps impossible combinations with a warning instead of refusing to start.
This module is that pass for prefork, worker and event, written from
``server/mpm/{prefork,worker,event}/*.c`` (httpd 2.4.58): the same defaults,
the same order of checks, and the same startup warning texts (AH00175-AH00187,
AH00300-AH00323, AH00497-AH00520), plus the silent adjustments Apache makes
later in ``*_run()`` with one listener bucket.

Guarantees: :data:`DEFINITIONS` describes all three MPMs whether or not this
build can run them; ``build`` is pure — it reads the values the configuration
set and reports each clamp through ``warn`` with the directive's location.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mpmd.config.model import MpmSettings, PreforkSettings, ThreadedSettings
from mpmd.errors import Location

#: ``warn(message, where)``: report one clamp.
Warn = Callable[[str, Location | None], None]


@dataclass(frozen=True)
class Setting:
    """One value the configuration set, and where."""

    value: int | float
    where: Location | None = None


#: Canonical directive name (aliases already folded: MaxClients ->
#: MaxRequestWorkers, MaxRequestsPerChild -> MaxConnectionsPerChild) -> value.
MpmValues = Mapping[str, Setting]


@dataclass(frozen=True)
class MpmDefinition:
    module: str  # "mpm_prefork_module"
    name: str  # "prefork"
    threaded: bool
    directives: frozenset[str]  # directive names that exist only when this MPM is loaded
    build: Callable[[MpmValues, Warn], MpmSettings]


@dataclass(frozen=True)
class _Limits:
    """Compile-time limits and defaults of one MPM (its ``#define``s)."""

    max_server_limit: int
    max_thread_limit: int
    default_server_limit: int
    default_start: int


_PREFORK = _Limits(
    max_server_limit=200000, max_thread_limit=1, default_server_limit=256, default_start=5
)
_WORKER = _Limits(
    max_server_limit=20000, max_thread_limit=20000, default_server_limit=16, default_start=3
)
_EVENT = _Limits(
    max_server_limit=20000, max_thread_limit=100000, default_server_limit=16, default_start=3
)

#: worker.c/event.c defaults: DEFAULT_THREADS_PER_CHILD 25, DEFAULT_THREAD_LIMIT 64,
#: MinSpareThreads = DEFAULT_MIN_FREE_DAEMON (3) * 25, MaxSpareThreads = 10 * 25,
#: and MaxRequestWorkers = DEFAULT_SERVER_LIMIT * 25 computed in pre_config.
_THREADS_PER_CHILD = 25
_THREAD_LIMIT = 64
_MIN_SPARE_THREADS = 75
_MAX_SPARE_THREADS = 250
_THREADED_MAX_WORKERS = 400
_ASYNC_FACTOR = 2.0


def _get(values: MpmValues, name: str, default: int) -> tuple[int, Location | None]:
    setting = values.get(name)
    if setting is None:
        return default, None
    return int(setting.value), setting.where


def _where(values: MpmValues, *names: str) -> Location | None:
    """The location of the first of ``names`` the configuration set."""
    for name in names:
        if name in values:
            return values[name].where
    return None


def _server_limit(values: MpmValues, limits: _Limits, warn: Warn) -> int:
    value, where = _get(values, "ServerLimit", limits.default_server_limit)
    if value > limits.max_server_limit:
        warn(
            f"WARNING: ServerLimit of {value} exceeds compile-time limit of "
            f"{limits.max_server_limit} servers, decreasing to {limits.max_server_limit}.",
            where,
        )
        return limits.max_server_limit
    if value < 1:
        warn(f"WARNING: ServerLimit of {value} not allowed, increasing to 1.", where)
        return 1
    return value


def _start_servers(values: MpmValues, default: int, warn: Warn) -> int:
    value, where = _get(values, "StartServers", default)
    if value < 1:
        warn(f"WARNING: StartServers of {value} not allowed, increasing to 1.", where)
        return 1
    return value


def _max_connections(values: MpmValues) -> int:
    # Negative values are refused when the directive is parsed.
    return _get(values, "MaxConnectionsPerChild", 0)[0]


def build_prefork(values: MpmValues, warn: Warn) -> PreforkSettings:
    """prefork_check_config(), then the adjustments of prefork_run()."""
    server_limit = _server_limit(values, _PREFORK, warn)
    workers, where = _get(values, "MaxRequestWorkers", _PREFORK.default_server_limit)
    if workers > server_limit:
        warn(
            f"WARNING: MaxRequestWorkers of {workers} exceeds ServerLimit value of "
            f"{server_limit} servers, decreasing MaxRequestWorkers to {server_limit}. "
            "To increase, please see the ServerLimit directive.",
            where or _where(values, "ServerLimit"),
        )
        workers = server_limit
    elif workers < 1:
        warn(f"WARNING: MaxRequestWorkers of {workers} not allowed, increasing to 1.", where)
        workers = 1
    start = _start_servers(values, _PREFORK.default_start, warn)
    min_spare, min_where = _get(values, "MinSpareServers", 5)
    if min_spare < 1:
        warn(
            f"WARNING: MinSpareServers of {min_spare} not allowed, increasing to 1 "
            "to avoid almost certain server failure. Please read the documentation.",
            min_where,
        )
        min_spare = 1
    max_spare = _get(values, "MaxSpareServers", 10)[0]
    return PreforkSettings(
        # prefork_run(): never start more than MaxRequestWorkers, and keep
        # MaxSpareServers above MinSpareServers (both silent in Apache).
        start_servers=min(start, workers),
        server_limit=server_limit,
        max_request_workers=workers,
        max_connections_per_child=_max_connections(values),
        thread_limit=1,
        min_spare_servers=min_spare,
        max_spare_servers=max(max_spare, min_spare + 1),
    )


def _thread_limit(values: MpmValues, limits: _Limits, warn: Warn) -> int:
    value, where = _get(values, "ThreadLimit", _THREAD_LIMIT)
    if value > limits.max_thread_limit:
        warn(
            f"WARNING: ThreadLimit of {value} exceeds compile-time limit of "
            f"{limits.max_thread_limit} threads, decreasing to {limits.max_thread_limit}.",
            where,
        )
        return limits.max_thread_limit
    if value < 1:
        warn(f"WARNING: ThreadLimit of {value} not allowed, increasing to 1.", where)
        return 1
    return value


def _threads_per_child(values: MpmValues, thread_limit: int, warn: Warn) -> int:
    value, where = _get(values, "ThreadsPerChild", _THREADS_PER_CHILD)
    if value > thread_limit:
        warn(
            f"WARNING: ThreadsPerChild of {value} exceeds ThreadLimit of {thread_limit} "
            f"threads, decreasing to {thread_limit}. "
            "To increase, please see the ThreadLimit directive.",
            where or _where(values, "ThreadLimit"),
        )
        return thread_limit
    if value < 1:
        warn(f"WARNING: ThreadsPerChild of {value} not allowed, increasing to 1.", where)
        return 1
    return value


def _max_workers(values: MpmValues, tpc: int, server_limit: int, warn: Warn) -> int:
    """MaxRequestWorkers: at least one child's threads, a multiple of them, within ServerLimit."""
    workers, where = _get(values, "MaxRequestWorkers", _THREADED_MAX_WORKERS)
    where = where or _where(values, "ThreadsPerChild", "ServerLimit")
    if workers < tpc:
        warn(
            f"WARNING: MaxRequestWorkers of {workers} is less than ThreadsPerChild of {tpc}, "
            f"increasing to {tpc}. MaxRequestWorkers must be at least as large as the "
            "number of threads in a single server.",
            where,
        )
        workers = tpc
    daemons = workers // tpc
    if workers % tpc:
        warn(
            f"WARNING: MaxRequestWorkers of {workers} is not an integer multiple of "
            f"ThreadsPerChild of {tpc}, decreasing to nearest multiple {daemons * tpc}, "
            f"for a maximum of {daemons} servers.",
            where,
        )
        workers = daemons * tpc
    if daemons > server_limit:
        warn(
            f"WARNING: MaxRequestWorkers of {workers} would require {daemons} servers and "
            f"would exceed ServerLimit of {server_limit}, decreasing to {server_limit * tpc}. "
            "To increase, please see the ServerLimit directive.",
            where,
        )
        workers = server_limit * tpc
    return workers


def _min_spare_threads(values: MpmValues, warn: Warn) -> int:
    value, where = _get(values, "MinSpareThreads", _MIN_SPARE_THREADS)
    if value < 1:
        warn(
            f"WARNING: MinSpareThreads of {value} not allowed, increasing to 1 "
            "to avoid almost certain server failure. Please read the documentation.",
            where,
        )
        return 1
    return value


def _async_factor(values: MpmValues) -> float:
    setting = values.get("AsyncRequestWorkerFactor")
    if setting is None:
        return _ASYNC_FACTOR
    # event.c set_worker_factor(): values below 1 are silently raised to 1.
    return max(1.0, float(setting.value))


def build_threaded(limits: _Limits, values: MpmValues, warn: Warn) -> ThreadedSettings:
    """worker/event_check_config(), then the adjustments of worker/event_run()."""
    server_limit = _server_limit(values, limits, warn)
    thread_limit = _thread_limit(values, limits, warn)
    tpc = _threads_per_child(values, thread_limit, warn)
    workers = _max_workers(values, tpc, server_limit, warn)
    start = _start_servers(values, limits.default_start, warn)
    min_spare = _min_spare_threads(values, warn)
    max_spare = _get(values, "MaxSpareThreads", _MAX_SPARE_THREADS)[0]
    return ThreadedSettings(
        # *_run(): never start more children than MaxRequestWorkers allows, and
        # keep room for one child's threads between the spare bounds (silent).
        start_servers=min(start, workers // tpc),
        server_limit=server_limit,
        max_request_workers=workers,
        max_connections_per_child=_max_connections(values),
        thread_limit=thread_limit,
        threads_per_child=tpc,
        min_spare_threads=min_spare,
        max_spare_threads=max(max_spare, min_spare + tpc),
        async_request_worker_factor=_async_factor(values),
    )


_PREFORK_DIRECTIVES = frozenset(
    {
        "StartServers",
        "MinSpareServers",
        "MaxSpareServers",
        "ServerLimit",
        "MaxRequestWorkers",
        "MaxClients",
    }
)
_THREADED_DIRECTIVES = frozenset(
    {
        "StartServers",
        "MinSpareThreads",
        "MaxSpareThreads",
        "ThreadsPerChild",
        "ThreadLimit",
        "ServerLimit",
        "MaxRequestWorkers",
        "MaxClients",
    }
)

DEFINITIONS: dict[str, MpmDefinition] = {
    "mpm_prefork_module": MpmDefinition(
        module="mpm_prefork_module",
        name="prefork",
        threaded=False,
        directives=_PREFORK_DIRECTIVES,
        build=build_prefork,
    ),
    "mpm_worker_module": MpmDefinition(
        module="mpm_worker_module",
        name="worker",
        threaded=True,
        directives=_THREADED_DIRECTIVES,
        build=functools.partial(build_threaded, _WORKER),
    ),
    "mpm_event_module": MpmDefinition(
        module="mpm_event_module",
        name="event",
        threaded=True,
        directives=_THREADED_DIRECTIVES | {"AsyncRequestWorkerFactor"},
        build=functools.partial(build_threaded, _EVENT),
    ),
}
