"""Synthetic scoreboards and a fake OS probe for the status tests."""

from __future__ import annotations

import time
from collections.abc import Iterable

from mpmd.scoreboard.board import Scoreboard
from mpmd.status.model import CpuTimes, Resources, ServerFacts

FACTS = ServerFacts(version="mpmd/0.1.0 (Python 3.11.2)", mpm="event", built="2026-01-01T00:00:00",
                    asynchronous=True, extended=True)


def board(server_limit: int = 4, threads: int = 3, generation: int = 1) -> Scoreboard:
    b = Scoreboard(server_limit, threads)
    b.header.generation = generation
    b.header.restart_time = b.header.start_time = time.time() - 100
    return b


def child(b: Scoreboard, slot: int, pid: int, states: bytes, *, generation: int | None = None,
          quiescing: bool = False) -> None:
    """A live child in ``slot`` whose workers are in ``states``."""
    gen = b.header.generation if generation is None else generation
    b.claim(slot, gen, len(states))
    b.assign(slot, pid)
    for thread, letter in enumerate(states):
        b.worker(slot, thread).status = bytes([letter])
    b.process(slot).quiescing = int(quiescing)


def served(b: Scoreboard, slot: int, thread: int, *, count: int, sent: int, micros: int,
           request: bytes = b"", client: bytes = b"") -> None:
    w = b.worker(slot, thread)
    w.access_count = w.my_access_count = count
    w.bytes_served = w.my_bytes_served = sent
    w.duration_us = micros
    w.request, w.client = request, client
    w.start_time = time.time() - 2.0
    w.stop_time = w.last_used = time.time() - 1.0


class FakeProbe:
    """Every process used 1 s user and 0.5 s system, and has 10 MB resident."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def cpu(self, pid: int) -> CpuTimes | None:
        self.asked.append(pid)
        return CpuTimes(1.0, 0.5, 0.25, 0.0)

    def resources(self, pids: Iterable[int]) -> dict[int, Resources]:
        pids = list(pids)
        self.asked += pids
        return {pid: Resources(rss=10 << 20, uss=4 << 20, pss=6 << 20,
                               cpu=CpuTimes(1.0, 0.5, 0.25, 0.0), connections=2)
                for pid in pids}
