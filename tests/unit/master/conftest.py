"""The fake master fixture shared by the in-process master tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.master.fakes import PREFORK, FakeMaster, Start


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start a fake master on ``conf`` (its first generation serving, unless
    ``ready=False``); every master started is closed after the test."""
    started: list[FakeMaster] = []

    def _start(conf: str = PREFORK, ready: bool = True) -> FakeMaster:
        master = FakeMaster(tmp_path / str(len(started)), conf).__enter__()
        started.append(master)
        if ready:
            master.ready(1)
            master.loop(lambda: master.sup.progress.ready_sent, within=1.0)
        return master

    yield _start
    for master in started:
        master.__exit__()
