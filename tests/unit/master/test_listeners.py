"""A Listen address that cannot be bound names the Listen line that asked for it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mpmd.config.model import ListenAddress
from mpmd.errors import Location, StartupError
from mpmd.master.listeners import bind_all, bind_one


def test_busy_port_names_the_listen_line() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        address = ListenAddress("tcp", "127.0.0.1", port, where=Location("/etc/mpmd/ports.conf", 7))
        with pytest.raises(StartupError) as info:
            bind_one(address, 8)
    # Apache: "(98)Address already in use: AH00072: make_sock: could not bind to address ..."
    assert str(info.value) == (
        f"AH00072: make_sock: could not bind to address 127.0.0.1:{port}: Address already in use"
        " (Listen on line 7 of /etc/mpmd/ports.conf)"
    )


def test_bind_all_closes_what_it_bound_and_names_the_failing_line(tmp_path: Path) -> None:
    not_a_socket = tmp_path / "plain"
    not_a_socket.write_text("x")
    first = ListenAddress("tcp", "127.0.0.1", 0, where=Location("/m.conf", 1))
    second = ListenAddress("unix", path=str(not_a_socket), where=Location("/m.conf", 2))
    with pytest.raises(StartupError) as info:
        bind_all((first, second), 8)
    assert str(info.value) == (
        f"could not bind to unix:{not_a_socket}: exists and is not a socket"
        " (Listen on line 2 of /m.conf)"
    )


def test_an_address_without_a_line_is_still_named() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        with pytest.raises(StartupError) as info:
            bind_one(ListenAddress("tcp", "127.0.0.1", port), 8)
    assert str(info.value).endswith(f"127.0.0.1:{port}: Address already in use")
