"""The shared-memory scoreboard: layout and typed access.

Laid out as Apache's (``include/scoreboard.h``): a global header, one process
slot per ``ServerLimit`` and ``ServerLimit x ThreadLimit`` worker slots, in one
``MAP_SHARED`` mapping created by the master before it forks, so every child
writes its own slots and the master reads them all without any message passing.

Concurrency: each worker slot has exactly one writer (the thread that owns
it); process slots are written by the master at fork/reap and by the child
for its own counters.  Readers take :func:`Scoreboard.snapshot`, which copies
the raw bytes once; a field read mid-update may be stale by one request,
which maintenance tolerates (Apache makes the same trade).

Privacy: worker slots hold client addresses and request lines (query
strings included).  Without a ScoreBoardFile the mapping is anonymous, as
Apache's default; a ScoreBoardFile is created mode 0600, owned by the
master's user, and children never reopen it (they inherit the mapping).
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import time
from dataclasses import dataclass

from mpmd.scoreboard.states import State

# ctypes layouts: native alignment, fixed-size fields only.


class Header(ctypes.Structure):
    _fields_ = (
        ("server_limit", ctypes.c_int32),
        ("thread_limit", ctypes.c_int32),
        ("generation", ctypes.c_int32),  # the current generation
        ("master_pid", ctypes.c_int32),
        ("start_time", ctypes.c_double),  # wall clock, first start
        ("restart_time", ctypes.c_double),  # wall clock, last (re)start
        # Totals of generations that have finished, so the server's counters
        # never go back at a reload (Apache keeps them across restarts too).
        ("carried_accesses", ctypes.c_uint64),
        ("carried_bytes", ctypes.c_uint64),
        ("carried_duration_us", ctypes.c_uint64),
        ("finished", ctypes.c_uint8),  # this generation is gone: readers skip it
    )


class ProcessSlot(ctypes.Structure):
    _fields_ = (
        ("pid", ctypes.c_int32),  # 0 = no process
        ("generation", ctypes.c_int32),
        ("quiescing", ctypes.c_uint8),  # told to stop; not counted as capacity
        ("not_accepting", ctypes.c_uint8),  # event MPM admission flag
        ("threads", ctypes.c_uint16),  # worker slots this process uses
        ("recycle", ctypes.c_uint8),  # the child asks to be replaced (max connections/memory)
        ("connections", ctypes.c_int32),
        ("keep_alive", ctypes.c_int32),
        ("closing", ctypes.c_int32),
        ("started", ctypes.c_double),  # wall clock
        # why the child could not start (e.g. the application failed to
        # import): read by the master to explain a failed reload
        ("failure", ctypes.c_char * 240),
    )


FAILURE_FIELD = ProcessSlot.failure.size


class WorkerSlot(ctypes.Structure):
    _fields_ = (
        ("status", ctypes.c_char),
        ("generation", ctypes.c_int32),
        ("pid", ctypes.c_int32),
        ("access_count", ctypes.c_uint64),  # requests served by this slot (all processes)
        ("bytes_served", ctypes.c_uint64),
        ("my_access_count", ctypes.c_uint64),  # by the current process
        ("my_bytes_served", ctypes.c_uint64),
        ("conn_count", ctypes.c_uint32),  # requests on the current connection
        ("conn_bytes", ctypes.c_uint64),
        ("duration_us", ctypes.c_uint64),  # summed request durations
        ("start_time", ctypes.c_double),  # wall clock: current/last request began
        ("stop_time", ctypes.c_double),  # wall clock: last request ended
        ("last_used", ctypes.c_double),
        ("client", ctypes.c_char * 48),
        ("request", ctypes.c_char * 128),
    )


REQUEST_FIELD = WorkerSlot.request.size
CLIENT_FIELD = WorkerSlot.client.size
#: the ScoreBoardFile's mode: it holds client addresses and request lines
FILE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class ProcessView:
    """A copy of one process slot with its worker states, for maintenance."""

    slot: int
    pid: int
    generation: int
    quiescing: bool
    not_accepting: bool
    states: bytes  # one letter per worker slot in use (len == threads)
    connections: int = 0
    keep_alive: int = 0
    closing: int = 0
    recycle: bool = False  # the child asked to be replaced

    def count(self, letters: frozenset[int]) -> int:
        return sum(1 for s in self.states if s in letters)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole scoreboard at one moment (see :meth:`Scoreboard.snapshot`)."""

    generation: int
    processes: tuple[ProcessView, ...]

    def live(self, generation: int | None = None) -> tuple[ProcessView, ...]:
        """Processes with a pid, optionally only of ``generation``."""
        return tuple(
            p
            for p in self.processes
            if p.pid and (generation is None or p.generation == generation)
        )


class Scoreboard:
    """A scoreboard mapping; create in the master, inherit across fork."""

    def __init__(self, server_limit: int, thread_limit: int, path: str = "") -> None:
        self.server_limit = server_limit
        self.thread_limit = thread_limit
        self.path = path
        size = self._size(server_limit, thread_limit)
        self._map, self._inode, staged = self._map_memory(size, path)
        self.header = Header.from_buffer(self._map, 0)
        offset = ctypes.sizeof(Header)
        self._procs = (ProcessSlot * server_limit).from_buffer(self._map, offset)
        offset += ctypes.sizeof(self._procs)
        workers_t = WorkerSlot * (server_limit * thread_limit)
        self._workers = workers_t.from_buffer(self._map, offset)
        self._init_header()
        if staged:
            # Only now, complete, does it replace the previous generation's
            # file: a reader never sees half a scoreboard, and the old
            # generation keeps its own (now unlinked) file mapped.
            os.replace(staged, path)

    @staticmethod
    def _size(server_limit: int, thread_limit: int) -> int:
        return (
            ctypes.sizeof(Header)
            + ctypes.sizeof(ProcessSlot) * server_limit
            + ctypes.sizeof(WorkerSlot) * server_limit * thread_limit
        )

    @staticmethod
    def _map_memory(size: int, path: str) -> tuple[mmap.mmap, int, str]:
        """The mapping, its file's inode and the staged file name (file-backed only)."""
        if not path:
            return mmap.mmap(-1, size, flags=mmap.MAP_SHARED), 0, ""
        # ScoreBoardFile: a file ``mpmd status`` can read.  Each generation
        # gets a fresh file, renamed into place once initialised.  It holds
        # client addresses and request lines (query strings, tokens), so it
        # is created FILE_MODE (0600: the master's user only, like the control
        # socket) in the open itself, never widened and narrowed afterwards;
        # O_EXCL | O_NOFOLLOW: a name planted in a shared directory is never
        # written through.  Children inherit the mapping across fork, so they
        # need no access to the file after dropping privileges (User/Group).
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        staged = f"{path}.{os.getpid()}.{time.monotonic_ns()}"
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(staged, flags, FILE_MODE)
        try:
            os.ftruncate(fd, size)
            return mmap.mmap(fd, size, flags=mmap.MAP_SHARED), os.fstat(fd).st_ino, staged
        finally:
            os.close(fd)

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
        procs = tuple(self._view(i) for i in range(self.server_limit))
        return Snapshot(generation=self.header.generation, processes=procs)

    def _view(self, slot: int) -> ProcessView:
        p = self._procs[slot]
        base = slot * self.thread_limit
        n = p.threads if p.pid else 0
        states = b"".join(self._workers[base + t].status for t in range(n))
        return ProcessView(
            slot=slot,
            pid=p.pid,
            generation=p.generation,
            quiescing=bool(p.quiescing),
            not_accepting=bool(p.not_accepting),
            states=states,
            connections=p.connections,
            keep_alive=p.keep_alive,
            closing=p.closing,
            recycle=bool(p.recycle),
        )

    def close(self) -> None:
        """Drop the mapping (the master at exit; views must be gone first)."""
        del self.header, self._procs, self._workers
        self._map.close()
        if self.path and self._inode:
            # Unlink only our own file: a newer generation's may be there now.
            with contextlib.suppress(FileNotFoundError):
                if os.stat(self.path).st_ino == self._inode:
                    os.unlink(self.path)

    @classmethod
    def load(cls, path: str) -> Scoreboard:
        """A private copy of the ScoreBoardFile at ``path``, as it is now.

        For readers outside the server (``mpmd status``): sized from the
        file's own header, it can never write the server's scoreboard nor
        change while it is read, and closing it leaves the file alone.
        Raises OSError if the file cannot be read, ValueError if it does not
        hold a whole scoreboard.
        """
        with open(path, "rb") as f:
            data = f.read()
        if len(data) < ctypes.sizeof(Header):
            raise ValueError("too short for a scoreboard")
        head = Header.from_buffer_copy(data)
        size = cls._size(head.server_limit, head.thread_limit)
        if head.server_limit < 1 or head.thread_limit < 1 or len(data) < size:
            raise ValueError("not a complete scoreboard")
        board = cls(head.server_limit, head.thread_limit)  # anonymous memory, path ""
        board._map[:size] = data[:size]
        return board
