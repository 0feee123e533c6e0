"""System-test fixtures: a real mpmd per test, under each of the three MPMs."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import MPMS, Server, ServerSpec


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
    for server in started:
        server.events()  # every test's error log must be JSON lines, read or not
