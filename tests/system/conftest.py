"""System-test fixtures: a real mpmd per test, under every MPM that exists."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import Server, ServerSpec

from mpmd.mpm import registry

MPMS = [m.removeprefix("mpm_").removesuffix("_module") for m in registry.available_modules()]


@pytest.fixture(params=MPMS)
def mpm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Build (and always kill) servers: ``make_server(mpm="prefork", start=False, **spec)``."""
    started: list[Server] = []

    def make(start: bool = True, args: tuple[str, ...] = (), **spec: object) -> Server:
        root = tmp_path / f"srv{len(started)}"
        root.mkdir()
        server = Server(root, ServerSpec(**spec))  # type: ignore[arg-type]
        started.append(server)
        if start:
            server.start(*args)
        return server

    yield make
    for server in started:
        server.kill_group()
