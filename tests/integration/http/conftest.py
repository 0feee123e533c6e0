"""Fixture: start loopback servers for the blocking driver (see http_server.py)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from mpmd.http.blocking import ConnectionSettings
from mpmd.http.exchange import Handler

from .http_server import Server, StartServer, settings


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    servers: list[Server] = []

    def start(
        handler: Handler,
        conn_settings: ConnectionSettings | None = None,
        *,
        draining: Callable[[], bool] = lambda: False,
        wrap: Callable[[socket.socket], socket.socket] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Server:
        server = Server(handler, conn_settings or settings(), draining, wrap, clock)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
