"""The scoreboard's typed read/write API: who writes which slot, and when.

One :class:`Scoreboard` per generation, over one shared
:class:`~mpmd.scoreboard.layout.Region` (the layout and its mapping live in
:mod:`mpmd.scoreboard.layout`, the frozen copies in :mod:`mpmd.scoreboard.views`).

Concurrency: each worker slot has exactly one writer (the thread that owns
it); process slots are written by the master at fork/reap (:meth:`claim`,
:meth:`assign`, :meth:`release`) and by the child for its own counters.
Readers take :meth:`Scoreboard.snapshot`, which copies each slot once; a
field read mid-update may be stale by one request, which maintenance
tolerates (Apache makes the same trade).
"""

from __future__ import annotations

import ctypes
import os
import time

from mpmd.scoreboard.layout import (
    CLIENT_FIELD,
    FAILURE_FIELD,
    FILE_MODE,
    REQUEST_FIELD,
    Header,
    ProcessSlot,
    Region,
    WorkerSlot,
    read_file,
    region_size,
)
from mpmd.scoreboard.states import State
from mpmd.scoreboard.views import ProcessView, Snapshot, process_view

# What readers import from here: the API and the layout's field sizes.
__all__ = [
    "CLIENT_FIELD", "FAILURE_FIELD", "FILE_MODE", "REQUEST_FIELD", "Header", "ProcessSlot",
    "ProcessView", "Scoreboard", "Snapshot", "WorkerSlot",
]


class Scoreboard:
    """A scoreboard mapping; create in the master, inherit across fork."""

    def __init__(self, server_limit: int, thread_limit: int, path: str = "") -> None:
        self.server_limit = server_limit
        self.thread_limit = thread_limit
        self.path = path
        self._region = Region(region_size(server_limit, thread_limit), path)
        memory = self._region.memory
        self.header = Header.from_buffer(memory, 0)
        offset = ctypes.sizeof(Header)
        self._procs = (ProcessSlot * server_limit).from_buffer(memory, offset)
        offset += ctypes.sizeof(self._procs)
        workers_t = WorkerSlot * (server_limit * thread_limit)
        self._workers = workers_t.from_buffer(memory, offset)
        self._init_header()
        self._region.publish()  # only now, complete, may a reader find it

    def _init_header(self) -> None:
        now = time.time()
        h = self.header
        h.server_limit, h.thread_limit = self.server_limit, self.thread_limit
        h.master_pid = os.getpid()
        h.start_time = h.restart_time = now
        for w in self._workers:
            w.status = State.OPEN.value

    # -- typed access -------------------------------------------------------

    def process(self, slot: int) -> ProcessSlot:
        return self._procs[slot]

    def worker(self, slot: int, thread: int = 0) -> WorkerSlot:
        return self._workers[slot * self.thread_limit + thread]

    def claim(self, slot: int, generation: int, threads: int) -> None:
        """Prepare ``slot`` for a new child (master side, *before* fork, so the
        child's first writes can never be overwritten by the master's)."""
        proc = self._procs[slot]
        proc.generation, proc.threads = generation, threads
        proc.quiescing = proc.not_accepting = proc.recycle = 0
        proc.failure = b""
        proc.connections = proc.keep_alive = proc.closing = 0
        proc.started = time.time()
        for t in range(threads):
            w = self.worker(slot, t)
            w.status, w.generation = State.STARTING.value, generation
            w.my_access_count = w.my_bytes_served = w.conn_count = 0

    def assign(self, slot: int, pid: int) -> None:
        """Record the forked child's pid (master side, right after fork)."""
        self._procs[slot].pid = pid
        for t in range(max(self._procs[slot].threads, 1)):
            self.worker(slot, t).pid = pid

    def release(self, slot: int) -> None:
        """The child in ``slot`` is gone: open its slots (master side, after reap)."""
        proc = self._procs[slot]
        for t in range(max(proc.threads, 1)):
            w = self.worker(slot, t)
            w.status, w.pid = State.OPEN.value, 0
        proc.pid = proc.connections = proc.keep_alive = proc.closing = 0

    # -- totals and snapshots -------------------------------------------------

    def totals(self) -> tuple[int, int, int]:
        """Requests, bytes and microseconds served by every worker slot."""
        accesses = served = duration = 0
        for w in self._workers:
            accesses += w.access_count
            served += w.bytes_served
            duration += w.duration_us
        return accesses, served, duration

    def carry(self, accesses: int, served: int, duration_us: int) -> None:
        h = self.header
        h.carried_accesses, h.carried_bytes, h.carried_duration_us = accesses, served, duration_us

    def carried(self) -> tuple[int, int, int]:
        h = self.header
        return h.carried_accesses, h.carried_bytes, h.carried_duration_us

    def snapshot(self) -> Snapshot:
        procs = []
        for slot, proc in enumerate(self._procs):
            base, n = slot * self.thread_limit, proc.threads if proc.pid else 0
            states = b"".join(self._workers[base + t].status for t in range(n))
            procs.append(process_view(slot, proc, states))
        return Snapshot(generation=self.header.generation, processes=tuple(procs))

    def close(self) -> None:
        """Drop the mapping (the master at exit; views must be gone first)."""
        del self.header, self._procs, self._workers
        self._region.close()

    @classmethod
    def load(cls, path: str) -> Scoreboard:
        """A private copy of the ScoreBoardFile at ``path``, as it is now.

        For readers outside the server (``mpmd status``): sized from the
        file's own header, it can never write the server's scoreboard nor
        change while it is read, and closing it leaves the file alone.
        Raises OSError if the file cannot be read, ValueError if it does not
        hold a whole scoreboard.
        """
        head, data = read_file(path)
        board = cls(head.server_limit, head.thread_limit)  # anonymous memory, path ""
        board._region.memory[: len(data)] = data
        return board
