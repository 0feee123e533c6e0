"""sd_notify over real AF_UNIX datagram sockets: a path in a temporary
directory and an abstract name, as systemd uses both."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from structlog.testing import capture_logs

from mpmd.systemd.notify import Heartbeat, Notifier, socket_address


@dataclass
class Receiver:
    sock: socket.socket
    env_value: str  # what NOTIFY_SOCKET holds

    def messages(self, count: int = 1) -> list[str]:
        out = []
        for _ in range(count):
            out.append(self.sock.recv(4096).decode())
        return out

    def nothing_pending(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.recv(4096)
        except BlockingIOError:
            return True
        finally:
            self.sock.settimeout(2.0)
        return False


@pytest.fixture
def path_receiver() -> Iterator[Receiver]:
    # A short directory: sun_path holds 108 bytes, pytest's tmp_path can be longer.
    directory = tempfile.mkdtemp(prefix="sdn", dir="/tmp")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)
    try:
        yield Receiver(sock, path)
    finally:
        sock.close()
        shutil.rmtree(directory)


@pytest.fixture
def abstract_receiver() -> Iterator[Receiver]:
    name = f"mpmd-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2.0)
    try:
        yield Receiver(sock, "@" + name)
    finally:
        sock.close()


def test_ready_with_status_reaches_a_path_socket(path_receiver: Receiver) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path_receiver.env_value})
    assert notifier.enabled
    assert notifier.ready("serving, generation 1")
    assert path_receiver.messages() == ["READY=1\nSTATUS=serving, generation 1"]


def test_abstract_socket_name(abstract_receiver: Receiver) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": abstract_receiver.env_value})
    assert notifier.stopping() and notifier.mainpid(4242) and notifier.watchdog()
    assert abstract_receiver.messages(3) == ["STOPPING=1", "MAINPID=4242", "WATCHDOG=1"]


def test_reloading_sends_monotonic_usec_in_the_same_datagram(path_receiver: Receiver) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path_receiver.env_value})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.reloading("reloading")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    (message,) = path_receiver.messages()
    lines = message.split("\n")
    assert lines[0] == "RELOADING=1"
    assert lines[1].startswith("MONOTONIC_USEC=")
    assert before <= int(lines[1].removeprefix("MONOTONIC_USEC=")) <= after
    assert lines[2:] == ["STATUS=reloading"]
    assert path_receiver.nothing_pending()  # one datagram, not two


def test_reloading_uses_the_clock_seam(abstract_receiver: Receiver) -> None:
    notifier = Notifier(socket_address(abstract_receiver.env_value), clock_usec=lambda: 123456)
    notifier.reloading()
    assert abstract_receiver.messages() == ["RELOADING=1\nMONOTONIC_USEC=123456"]


def test_status_is_kept_on_one_line(abstract_receiver: Receiver) -> None:
    notifier = Notifier(socket_address(abstract_receiver.env_value))
    notifier.status("line one\nREADY=1")
    assert abstract_receiver.messages() == ["STATUS=line one READY=1"]


@pytest.mark.parametrize("environ", [{}, {"NOTIFY_SOCKET": ""}])
def test_without_notify_socket_everything_is_a_no_op(environ: dict[str, str]) -> None:
    notifier = Notifier.from_env(environ)
    assert not notifier.enabled
    assert not notifier.ready("x") and not notifier.reloading() and not notifier.watchdog()
    assert notifier.watchdog_interval() is None


def test_unsupported_socket_form_disables_and_warns() -> None:
    with capture_logs() as logs:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert [e["event"] for e in logs] == ["sd_notify_unsupported_socket"]


def test_a_failing_send_never_raises_and_is_logged_once() -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": "/nonexistent/mpmd/notify"})
    with capture_logs() as logs:
        assert notifier.ready() is False
        assert notifier.watchdog() is False
    failures = [e for e in logs if e["event"] == "sd_notify_failed"]
    assert len(failures) == 1
    assert failures[0]["message"] == "READY=1"
    assert failures[0]["notify_socket"] == "/nonexistent/mpmd/notify"


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "4000000"}
    assert Notifier.from_env(env).watchdog_interval() == 2.0
    own = dict(env, WATCHDOG_PID=str(os.getpid()))
    assert Notifier.from_env(own).watchdog_interval() == 2.0


@pytest.mark.parametrize("extra", [
    {"WATCHDOG_PID": "1"},  # meant for another process
    {"WATCHDOG_USEC": "0"},
    {"WATCHDOG_USEC": "soon"},
    {"WATCHDOG_USEC": ""},
])
def test_no_watchdog_for_us(extra: dict[str, str]) -> None:
    env = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "4000000", **extra}
    assert Notifier.from_env(env).watchdog_interval() is None


def test_heartbeat_pings_when_due(abstract_receiver: Receiver) -> None:
    now = [100.0]
    notifier = Notifier(socket_address(abstract_receiver.env_value), watchdog_usec=10_000_000)
    beat = Heartbeat(notifier, clock=lambda: now[0])
    assert beat.deadline() == 100.0
    beat.tick()  # due at once: the first ping after start
    assert abstract_receiver.messages() == ["WATCHDOG=1"]
    assert beat.deadline() == 105.0
    now[0] = 104.9
    beat.tick()
    assert abstract_receiver.nothing_pending()
    now[0] = 105.0
    beat.tick()
    assert abstract_receiver.messages() == ["WATCHDOG=1"]
    assert beat.deadline() == 110.0


def test_heartbeat_without_watchdog_does_nothing(abstract_receiver: Receiver) -> None:
    beat = Heartbeat(Notifier(socket_address(abstract_receiver.env_value)))
    beat.tick()
    assert beat.deadline() is None
    assert abstract_receiver.nothing_pending()
