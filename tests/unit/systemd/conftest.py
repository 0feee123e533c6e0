"""Fixtures for the systemd unit tests: running code in a forked child that
holds given sockets at file descriptors 3, 4, … as systemd would pass them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest

REPORT_FD = 250  # above anything the child moves into 3..N
STAGING_FD = 200


def _child(fds: list[int], body: Callable[[], Any], write_end: int) -> None:
    os.dup2(write_end, REPORT_FD)
    staged = [os.dup2(fd, STAGING_FD + i) for i, fd in enumerate(fds)]
    for i, fd in enumerate(staged):
        os.dup2(fd, 3 + i)
    for fd in staged:
        os.close(fd)
    try:
        report: Any = {"result": body()}
    except BaseException as exc:
        report = {"error": f"{type(exc).__name__}: {exc}"}
    os.write(REPORT_FD, json.dumps(report).encode())


def run_with_fds(fds: list[int], body: Callable[[], Any]) -> Any:
    """Fork; in the child put ``fds`` at 3.. and return ``body()``'s JSON result."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            _child(fds, body, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as pipe:
        chunks.append(pipe.read())  # EOF when the child exits: bounded by its life
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    report = json.loads(b"".join(chunks) or b'{"error": "no report"}')
    return report


@pytest.fixture
def in_child() -> Callable[..., Any]:
    return run_with_fds
