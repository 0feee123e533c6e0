"""The scoreboard's layout and the shared memory it lives in.

Laid out as Apache's (``include/scoreboard.h``): a global header, one process
slot per ``ServerLimit`` and ``ServerLimit x ThreadLimit`` worker slots, in one
``MAP_SHARED`` :class:`Region` the master creates before it forks, so every
child writes its own slots and the master reads them all without any message
passing.  Only fixed-size fields with native alignment: a reader sizes the
whole region from the header alone (:func:`region_size`).

Privacy: worker slots hold client addresses and request lines (query
strings included).  Without a ScoreBoardFile the region is anonymous, as
Apache's default; a ScoreBoardFile is created mode 0600, owned by the
master's user, and children never reopen it (they inherit the mapping).
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import time

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


def region_size(server_limit: int, thread_limit: int) -> int:
    """Bytes of a scoreboard for these limits: header, process and worker slots."""
    return (
        ctypes.sizeof(Header)
        + ctypes.sizeof(ProcessSlot) * server_limit
        + ctypes.sizeof(WorkerSlot) * server_limit * thread_limit
    )


class Region:
    """One scoreboard's shared memory: anonymous, or a ScoreBoardFile.

    A file-backed region is written under a staged name; :meth:`publish`
    renames it into place once its owner has initialised it, so a reader
    never sees half a scoreboard and the previous generation keeps its own
    (by then unlinked) file mapped.
    """

    def __init__(self, size: int, path: str = "") -> None:
        self.path = path
        self._staged = ""
        self._inode = 0
        if not path:
            self.memory = mmap.mmap(-1, size, flags=mmap.MAP_SHARED)
            return
        # Each generation gets a fresh file.  It holds client addresses and
        # request lines (query strings, tokens), so it is created FILE_MODE
        # (0600: the master's user only, like the control socket) in the open
        # itself, never widened and narrowed afterwards; O_EXCL | O_NOFOLLOW:
        # a name planted in a shared directory is never written through.
        # Children inherit the mapping across fork, so they need no access to
        # the file after dropping privileges (User/Group).
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._staged = f"{path}.{os.getpid()}.{time.monotonic_ns()}"
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self._staged, flags, FILE_MODE)
        try:
            os.ftruncate(fd, size)
            self.memory = mmap.mmap(fd, size, flags=mmap.MAP_SHARED)
            self._inode = os.fstat(fd).st_ino
        finally:
            os.close(fd)

    def publish(self) -> None:
        """The region is complete: its file (if any) takes the ScoreBoardFile's name."""
        if self._staged:
            os.replace(self._staged, self.path)
            self._staged = ""

    def close(self) -> None:
        """Unmap (every ctypes view of it must be gone) and remove our own file."""
        self.memory.close()
        if self.path and self._inode:
            # Unlink only our own file: a newer generation's may be there now.
            with contextlib.suppress(FileNotFoundError):
                if os.stat(self.path).st_ino == self._inode:
                    os.unlink(self.path)


def read_file(path: str) -> tuple[Header, bytes]:
    """The header and bytes of the complete scoreboard in the file at ``path``.

    Raises OSError if the file cannot be read, ValueError if it does not
    hold a whole scoreboard.
    """
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < ctypes.sizeof(Header):
        raise ValueError("too short for a scoreboard")
    head = Header.from_buffer_copy(data)
    size = region_size(head.server_limit, head.thread_limit)
    if head.server_limit < 1 or head.thread_limit < 1 or len(data) < size:
        raise ValueError("not a complete scoreboard")
    return head, data[:size]
