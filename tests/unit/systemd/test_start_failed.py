"""A failed start tells the service manager why (``STATUS=failed to start: ...``)."""

from __future__ import annotations

import socket
from pathlib import Path

from mpmd.systemd.notify import Notifier


def test_start_failed_sends_the_first_line_of_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(path))
        manager.settimeout(2.0)
        notifier = Notifier.from_env({"NOTIFY_SOCKET": str(path)})
        assert notifier.start_failed("cannot import 'hello': KeyError: 'x'\nTraceback ...\n")
        assert manager.recv(4096) == b"STATUS=failed to start: cannot import 'hello': KeyError: 'x'"


def test_without_a_manager_it_is_a_no_op() -> None:
    assert Notifier.from_env({}).start_failed("anything") is False
