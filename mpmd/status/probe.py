"""Per-process facts from the OS: CPU times, memory (psutil), TCP connections.

A :class:`Probe` is the seam between the report and the OS, so the counting
rules are unit-tested with a fake.  :class:`PsutilProbe` never raises for a
process that vanished or is not ours to inspect: it leaves it out (or says
None), because a child may exit between the scoreboard read and the probe.

Cost, per report: ``cpu`` reads ``/proc/PID/stat`` (microseconds).
``resources`` also reads ``/proc/PID/smaps_rollup`` (USS, PSS; about a
millisecond) and counts connections by reading the TCP tables **once** for
all processes and each process's fd links, instead of psutil's
per-process ``net_connections``, which re-reads the whole table for every
process (tens of milliseconds each on a busy host).  Renderers ask for
resources only where they are shown (HTML, JSON, Prometheus, the terminal).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Protocol

import psutil

from mpmd.status.model import CpuTimes, Resources

_GONE = (psutil.Error, OSError)
_TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
_LISTEN = "0A"  # st column of /proc/net/tcp (include/net/tcp_states.h: TCP_LISTEN)


class Probe(Protocol):
    def cpu(self, pid: int) -> CpuTimes | None: ...

    def resources(self, pids: Iterable[int]) -> dict[int, Resources]: ...


class PsutilProbe:
    """The real OS, through psutil and ``/proc``."""

    def cpu(self, pid: int) -> CpuTimes | None:
        try:
            return _cpu_times(psutil.Process(pid))
        except _GONE:
            return None

    def resources(self, pids: Iterable[int]) -> dict[int, Resources]:
        established = _established_inodes()
        out = {}
        for pid in pids:
            res = self._one(pid, established)
            if res is not None:
                out[pid] = res
        return out

    def _one(self, pid: int, established: set[int] | None) -> Resources | None:
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                cpu = _cpu_times(proc)
                rss = int(proc.memory_info().rss)
                uss, pss = _unique_memory(proc)
        except _GONE:
            return None
        conns = None if established is None else _count_sockets(pid, established)
        return Resources(rss, uss, pss, cpu, conns)


def _cpu_times(proc: psutil.Process) -> CpuTimes:
    t = proc.cpu_times()
    return CpuTimes(t.user, t.system, t.children_user, t.children_system)


def _unique_memory(proc: psutil.Process) -> tuple[int | None, int | None]:
    """USS and PSS (Linux smaps); None where the platform or permissions deny them."""
    try:
        full: Any = proc.memory_full_info()
    except _GONE:
        return None, None
    uss = getattr(full, "uss", None)
    pss = getattr(full, "pss", None)
    return (int(uss) if uss is not None else None, int(pss) if pss is not None else None)


def _established_inodes() -> set[int] | None:
    """Inodes of every TCP socket that is not listening; None without ``/proc``."""
    inodes: set[int] = set()
    try:
        for table in _TCP_TABLES:
            with open(table, encoding="ascii") as f:
                next(f, None)  # the header line
                for line in f:
                    fields = line.split()
                    if len(fields) > 9 and fields[3] != _LISTEN:
                        inodes.add(int(fields[9]))
    except (OSError, ValueError):
        return None
    return inodes


def _count_sockets(pid: int, established: set[int]) -> int | None:
    """How many of ``pid``'s descriptors are TCP connections (listeners excluded)."""
    count = 0
    try:
        with os.scandir(f"/proc/{pid}/fd") as entries:
            for entry in entries:
                try:
                    link = os.readlink(entry.path)
                except OSError:
                    continue  # closed meanwhile
                if link.startswith("socket:[") and int(link[8:-1]) in established:
                    count += 1
    except OSError:
        return None
    return count
