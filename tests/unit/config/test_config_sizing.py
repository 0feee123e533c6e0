"""Apache's MPM defaults, clamps and exact warning texts (mpmd.mpm.sizing)."""

from __future__ import annotations

import pytest

from mpmd.config.model import MpmSettings, PreforkSettings, ThreadedSettings
from mpmd.errors import Location
from mpmd.mpm.sizing import DEFINITIONS, Setting

HERE = Location("/etc/mpmd.conf", 7)


def run(
    module: str, **values: int | float
) -> tuple[MpmSettings, list[tuple[str, Location | None]]]:
    warnings: list[tuple[str, Location | None]] = []
    settings = DEFINITIONS[module].build(
        {name: Setting(value, HERE) for name, value in values.items()},
        lambda text, where: warnings.append((text, where)),
    )
    return settings, warnings


def texts(warnings: list[tuple[str, Location | None]]) -> list[str]:
    return [text for text, _ in warnings]


THREADED = ["mpm_worker_module", "mpm_event_module"]


def test_definitions_describe_all_three_mpms() -> None:
    assert {d.name: d.threaded for d in DEFINITIONS.values()} == {
        "prefork": False,
        "worker": True,
        "event": True,
    }
    assert "AsyncRequestWorkerFactor" in DEFINITIONS["mpm_event_module"].directives
    assert "AsyncRequestWorkerFactor" not in DEFINITIONS["mpm_worker_module"].directives
    assert "ThreadsPerChild" not in DEFINITIONS["mpm_prefork_module"].directives
    assert "MinSpareServers" not in DEFINITIONS["mpm_event_module"].directives


# --- prefork ---------------------------------------------------------------


def test_prefork_defaults_are_apaches() -> None:
    settings, warnings = run("mpm_prefork_module")
    assert settings == PreforkSettings(
        start_servers=5,
        server_limit=256,
        max_request_workers=256,
        max_connections_per_child=0,
        thread_limit=1,
        min_spare_servers=5,
        max_spare_servers=10,
    )
    assert warnings == []


def test_prefork_max_request_workers_above_server_limit() -> None:
    settings, warnings = run("mpm_prefork_module", MaxRequestWorkers=300)
    assert settings.max_request_workers == 256
    assert warnings == [
        (
            "WARNING: MaxRequestWorkers of 300 exceeds ServerLimit value of 256 servers, "
            "decreasing MaxRequestWorkers to 256. To increase, please see the ServerLimit "
            "directive.",
            HERE,
        )
    ]


def test_prefork_server_limit_above_compile_time_limit() -> None:
    settings, warnings = run("mpm_prefork_module", ServerLimit=300000, MaxRequestWorkers=10)
    assert settings.server_limit == 200000
    assert texts(warnings) == [
        "WARNING: ServerLimit of 300000 exceeds compile-time limit of 200000 servers, "
        "decreasing to 200000."
    ]


def test_prefork_server_limit_below_one_then_workers_follow() -> None:
    settings, warnings = run("mpm_prefork_module", ServerLimit=0)
    assert (settings.server_limit, settings.max_request_workers) == (1, 1)
    assert texts(warnings) == [
        "WARNING: ServerLimit of 0 not allowed, increasing to 1.",
        "WARNING: MaxRequestWorkers of 256 exceeds ServerLimit value of 1 servers, "
        "decreasing MaxRequestWorkers to 1. To increase, please see the ServerLimit directive.",
    ]


def test_prefork_max_request_workers_below_one() -> None:
    settings, warnings = run("mpm_prefork_module", MaxRequestWorkers=0)
    assert settings.max_request_workers == 1
    assert texts(warnings) == ["WARNING: MaxRequestWorkers of 0 not allowed, increasing to 1."]


@pytest.mark.parametrize("module", ["mpm_prefork_module", *THREADED])
def test_start_servers_below_one(module: str) -> None:
    settings, warnings = run(module, StartServers=-2)
    assert settings.start_servers == 1
    assert texts(warnings) == ["WARNING: StartServers of -2 not allowed, increasing to 1."]


def test_prefork_min_spare_servers_below_one() -> None:
    settings, warnings = run("mpm_prefork_module", MinSpareServers=0, MaxSpareServers=0)
    assert isinstance(settings, PreforkSettings)
    assert (settings.min_spare_servers, settings.max_spare_servers) == (1, 2)
    assert texts(warnings) == [
        "WARNING: MinSpareServers of 0 not allowed, increasing to 1 to avoid almost certain "
        "server failure. Please read the documentation."
    ]


def test_prefork_max_spare_raised_to_min_plus_one_silently() -> None:
    settings, warnings = run("mpm_prefork_module", MinSpareServers=8, MaxSpareServers=8)
    assert isinstance(settings, PreforkSettings)
    assert settings.max_spare_servers == 9
    assert warnings == []  # prefork_run() adjusts this without a message


def test_prefork_start_servers_capped_by_max_request_workers() -> None:
    settings, warnings = run("mpm_prefork_module", StartServers=50, MaxRequestWorkers=20)
    assert settings.start_servers == 20
    assert warnings == []


# --- worker and event --------------------------------------------------------


@pytest.mark.parametrize("module", THREADED)
def test_threaded_defaults_are_apaches(module: str) -> None:
    settings, warnings = run(module)
    assert settings == ThreadedSettings(
        start_servers=3,
        server_limit=16,
        max_request_workers=400,
        max_connections_per_child=0,
        thread_limit=64,
        threads_per_child=25,
        min_spare_threads=75,
        max_spare_threads=250,
        async_request_worker_factor=2.0,
    )
    assert warnings == []


@pytest.mark.parametrize("module", THREADED)
def test_threads_per_child_above_thread_limit(module: str) -> None:
    settings, warnings = run(module, ThreadsPerChild=100, MaxRequestWorkers=640)
    assert isinstance(settings, ThreadedSettings)
    assert settings.threads_per_child == 64
    assert texts(warnings) == [
        "WARNING: ThreadsPerChild of 100 exceeds ThreadLimit of 64 threads, decreasing to 64. "
        "To increase, please see the ThreadLimit directive."
    ]


@pytest.mark.parametrize("module", THREADED)
def test_threads_per_child_below_one(module: str) -> None:
    settings, warnings = run(module, ThreadsPerChild=0, MaxRequestWorkers=16)
    assert isinstance(settings, ThreadedSettings)
    assert settings.threads_per_child == 1
    assert texts(warnings) == ["WARNING: ThreadsPerChild of 0 not allowed, increasing to 1."]


@pytest.mark.parametrize(
    ("module", "limit"), [("mpm_worker_module", 20000), ("mpm_event_module", 100000)]
)
def test_thread_limit_compile_time_maximum(module: str, limit: int) -> None:
    settings, warnings = run(module, ThreadLimit=500000)
    assert settings.thread_limit == limit
    assert texts(warnings) == [
        f"WARNING: ThreadLimit of 500000 exceeds compile-time limit of {limit} threads, "
        f"decreasing to {limit}."
    ]


@pytest.mark.parametrize("module", THREADED)
def test_thread_limit_below_one_clamps_threads_per_child_too(module: str) -> None:
    settings, warnings = run(module, ThreadLimit=0, MaxRequestWorkers=16)
    assert settings.thread_limit == 1
    assert texts(warnings) == [
        "WARNING: ThreadLimit of 0 not allowed, increasing to 1.",
        "WARNING: ThreadsPerChild of 25 exceeds ThreadLimit of 1 threads, decreasing to 1. "
        "To increase, please see the ThreadLimit directive.",
    ]


@pytest.mark.parametrize("module", THREADED)
def test_server_limit_compile_time_maximum(module: str) -> None:
    settings, warnings = run(module, ServerLimit=25000)
    assert settings.server_limit == 20000
    assert texts(warnings) == [
        "WARNING: ServerLimit of 25000 exceeds compile-time limit of 20000 servers, "
        "decreasing to 20000."
    ]


@pytest.mark.parametrize("module", THREADED)
def test_max_request_workers_below_threads_per_child_is_raised(module: str) -> None:
    settings, warnings = run(module, MaxRequestWorkers=10)
    assert settings.max_request_workers == 25
    assert warnings == [
        (
            "WARNING: MaxRequestWorkers of 10 is less than ThreadsPerChild of 25, increasing "
            "to 25. MaxRequestWorkers must be at least as large as the number of threads in a "
            "single server.",
            HERE,
        )
    ]


@pytest.mark.parametrize("module", THREADED)
def test_max_request_workers_rounded_down_to_a_multiple(module: str) -> None:
    settings, warnings = run(module, MaxRequestWorkers=410)
    assert settings.max_request_workers == 400
    assert texts(warnings) == [
        "WARNING: MaxRequestWorkers of 410 is not an integer multiple of ThreadsPerChild of 25, "
        "decreasing to nearest multiple 400, for a maximum of 16 servers."
    ]


@pytest.mark.parametrize("module", THREADED)
def test_max_request_workers_beyond_server_limit(module: str) -> None:
    settings, warnings = run(module, MaxRequestWorkers=1000)
    assert settings.max_request_workers == 400
    assert texts(warnings) == [
        "WARNING: MaxRequestWorkers of 1000 would require 40 servers and would exceed "
        "ServerLimit of 16, decreasing to 400. To increase, please see the ServerLimit directive."
    ]


@pytest.mark.parametrize("module", THREADED)
def test_min_spare_threads_below_one(module: str) -> None:
    settings, warnings = run(module, MinSpareThreads=0)
    assert isinstance(settings, ThreadedSettings)
    assert settings.min_spare_threads == 1
    assert texts(warnings) == [
        "WARNING: MinSpareThreads of 0 not allowed, increasing to 1 to avoid almost certain "
        "server failure. Please read the documentation."
    ]


@pytest.mark.parametrize("module", THREADED)
def test_max_spare_threads_raised_to_min_plus_threads_per_child(module: str) -> None:
    settings, warnings = run(module, MinSpareThreads=50, MaxSpareThreads=60)
    assert isinstance(settings, ThreadedSettings)
    assert settings.max_spare_threads == 75
    assert warnings == []


@pytest.mark.parametrize("module", THREADED)
def test_threaded_start_servers_capped_by_children_allowed(module: str) -> None:
    settings, warnings = run(module, StartServers=20, MaxRequestWorkers=100)
    assert settings.start_servers == 4
    assert warnings == []


@pytest.mark.parametrize(("given", "kept"), [(1.5, 1.5), (0.25, 1.0), (3, 3.0)])
def test_async_request_worker_factor(given: float, kept: float) -> None:
    settings, warnings = run("mpm_event_module", AsyncRequestWorkerFactor=given)
    assert isinstance(settings, ThreadedSettings)
    assert settings.async_request_worker_factor == kept
    assert warnings == []


def test_max_connections_per_child_is_passed_through() -> None:
    settings, _ = run("mpm_worker_module", MaxConnectionsPerChild=1000)
    assert settings.max_connections_per_child == 1000
