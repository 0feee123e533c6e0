"""Scoreboards -> :class:`~mpmd.status.model.StatusReport`, with mod_status's rules.

Theory of operation.  A serving child holds its own generation's scoreboard
first, then those of older generations still draining
(:attr:`mpmd.app.runtime.Runtime.boards`); ``mpmd status`` holds a copy of
the ScoreBoardFile.  :func:`collect` walks every slot once and counts as
``mod_status.c`` (httpd 2.4) does:

* **Scoreboard string**: one letter per worker slot of the first board whose
  process slot is below ``max_servers`` (MaxRequestWorkers / ThreadsPerChild,
  Apache's AP_MPMQ_MAX_DAEMONS), so its length is MaxRequestWorkers; slots
  beyond that, and every slot of an older board, appear only when not open
  (``.``), as Apache prints slots above the limits only while in use.
* **BusyWorkers / GracefulWorkers / IdleWorkers** count only processes that
  have a pid and are not quiescing: ``_`` of the current generation is idle,
  ``G`` graceful, anything else but ``. S I`` busy.
* **Totals** (accesses, bytes, duration) sum every worker slot: the counters
  are kept per slot across the processes that held it, so they do not drop
  when a child is replaced.

Reading is racy by design (Apache's trade): a field may be one request stale.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from mpmd.scoreboard.board import Scoreboard, WorkerSlot
from mpmd.status.model import (
    CpuTimes,
    ProcessStatus,
    Resources,
    ServerFacts,
    StatusReport,
    Totals,
    WorkerStatus,
)
from mpmd.status.probe import Probe

_READY, _OPEN, _STARTING = ord("_"), ord("."), ord("S")
_IDLE_KILL, _GRACEFUL, _WRITE = ord("I"), ord("G"), ord("W")
#: letters that are neither busy nor graceful (mod_status: READY, DEAD, STARTING, IDLE_KILL)
_NOT_SERVING = frozenset((_READY, _OPEN, _STARTING, _IDLE_KILL))
_BUSY, _GRACEFUL_KIND, _IDLE = 0, 1, 2  # indexes of a process's own counts
#: letters of a worker that holds a connection (for MPMs that do not publish counts)
_ON_CONNECTION = frozenset(b"RWKCLD")


def max_servers(max_request_workers: int, threads_per_child: int) -> int:
    """Apache's AP_MPMQ_MAX_DAEMONS: how many processes MaxRequestWorkers allows."""
    return max(max_request_workers // max(threads_per_child, 1), 1)


@dataclass
class _Scan:
    """Running counts while the boards are walked (local to one :func:`collect`)."""

    generation: int
    detail: bool
    now: float
    letters: list[str] = field(default_factory=list)
    processes: list[ProcessStatus] = field(default_factory=list)
    workers: list[WorkerStatus] = field(default_factory=list)
    busy: int = 0
    graceful: int = 0
    idle: int = 0
    accesses: int = 0
    bytes: int = 0
    duration_us: int = 0


def collect(
    boards: Sequence[Scoreboard],
    facts: ServerFacts,
    *,
    servers: int,
    probe: Probe,
    detail: bool = False,
    now: float | None = None,
) -> StatusReport:
    """The report for ``boards`` (own generation's first).

    ``servers`` is :func:`max_servers` for the first board; ``detail`` adds
    per-process resources and the per-worker rows (HTML, JSON, terminal).
    """
    if not boards:
        raise ValueError("no scoreboard to report on")
    head = boards[0].header
    scan = _Scan(generation=head.generation, detail=detail,
                 now=time.time() if now is None else now)
    for index, board in enumerate(boards):
        if index and board.header.finished:
            continue  # its counts were carried into the live boards already
        _scan_board(scan, board, servers if index == 0 else 0, facts.asynchronous)
    carried = boards[0].carried()
    scan.accesses += carried[0]
    scan.bytes += carried[1]
    scan.duration_us += carried[2]
    processes, master = tuple(scan.processes), None
    if detail:
        found = probe.resources([head.master_pid, *(p.pid for p in processes)])
        processes = tuple(replace(p, resources=found.get(p.pid)) for p in processes)
        master = found.get(head.master_pid)
    return StatusReport(
        facts=facts, now=scan.now, restart_time=head.restart_time, start_time=head.start_time,
        generation=head.generation, master_pid=head.master_pid, load=os.getloadavg(),
        cpu=_cpu(head.master_pid, master, processes, probe),
        totals=Totals(scan.accesses, scan.bytes, scan.duration_us // 1000),
        busy=scan.busy, graceful=scan.graceful, idle=scan.idle,
        processes=processes, workers=tuple(scan.workers), scoreboard="".join(scan.letters),
        master_resources=master,
    )


def _scan_board(scan: _Scan, board: Scoreboard, servers: int, asynchronous: bool) -> None:
    for slot in range(board.server_limit):
        proc = board.process(slot)
        live = bool(proc.pid)
        counting = live and not proc.quiescing
        own = [0, 0, 0]  # busy, graceful, idle of this process
        for thread in range(board.thread_limit):
            worker = board.worker(slot, thread)
            state = worker.status[0] if worker.status else _OPEN
            if slot < servers or state != _OPEN:
                scan.letters.append(chr(state))
            _count(scan, own, state, counting, proc.generation == scan.generation)
            _add_totals(scan, worker)
            if scan.detail and (worker.access_count or state not in (_READY, _OPEN)):
                scan.workers.append(_worker_row(worker, slot, thread, state, scan.now))
        if live:
            scan.processes.append(_process_row(board, slot, own, asynchronous,
                                               scan.generation))


def _kind(state: int) -> int | None:
    if state == _READY:
        return _IDLE
    if state == _GRACEFUL:
        return _GRACEFUL_KIND
    return None if state in _NOT_SERVING else _BUSY


def _count(scan: _Scan, own: list[int], state: int, counting: bool, current: bool) -> None:
    """One worker slot into its process's counts and, while the process is
    not quiescing, into Apache's totals (idle only for the current generation)."""
    kind = _kind(state)
    if kind is None:
        return
    own[kind] += 1
    if not counting:
        return
    if kind == _IDLE:
        scan.idle += int(current)
    elif kind == _GRACEFUL_KIND:
        scan.graceful += 1
    else:
        scan.busy += 1


def _add_totals(scan: _Scan, worker: WorkerSlot) -> None:
    scan.accesses += worker.access_count
    scan.bytes += worker.bytes_served
    scan.duration_us += worker.duration_us


def _process_row(
    board: Scoreboard, slot: int, own: list[int], asynchronous: bool, generation: int
) -> ProcessStatus:
    proc = board.process(slot)
    if asynchronous:
        conns, keep_alive, closing = proc.connections, proc.keep_alive, proc.closing
    else:  # a thread (or process) per connection: its letters say how many
        states = [board.worker(slot, t).status for t in range(board.thread_limit)]
        conns = sum(1 for s in states if s and s[0] in _ON_CONNECTION)
        keep_alive, closing = 0, sum(1 for s in states if s == b"C")
    return ProcessStatus(
        slot=slot, pid=proc.pid, generation=proc.generation,
        old_generation=proc.generation != generation, stopping=bool(proc.quiescing),
        accepting=not proc.not_accepting, threads=proc.threads,
        busy=own[0], graceful=own[1], idle=own[2],
        connections=conns, keep_alive=keep_alive, closing=closing, started=proc.started,
    )


def _worker_row(worker: WorkerSlot, slot: int, thread: int, state: int,
                now: float) -> WorkerStatus:
    start, stop = worker.start_time, worker.stop_time
    if state == _WRITE and start > 0:
        request_s = now - start  # in progress: how long so far
    else:
        request_s = stop - start if start > 0 and stop >= start else 0.0
    return WorkerStatus(
        process=slot, thread=thread, pid=worker.pid, generation=worker.generation,
        state=chr(state), accesses=worker.access_count, my_accesses=worker.my_access_count,
        conn_accesses=worker.conn_count, bytes=worker.bytes_served,
        my_bytes=worker.my_bytes_served, conn_bytes=worker.conn_bytes,
        duration_ms=worker.duration_us // 1000, last_used=worker.last_used,
        request_ms=max(int(request_s * 1000), 0),
        client=worker.client.decode("latin-1"), request=worker.request.decode("latin-1"),
    )


def _cpu(master_pid: int, master: Resources | None, processes: Sequence[ProcessStatus],
         probe: Probe) -> CpuTimes:
    """Master (its children_* include reaped children) plus every live child:
    Apache's global times plus each process's."""
    total = CpuTimes()
    master_cpu = master.cpu if master is not None else probe.cpu(master_pid)
    if master_cpu is not None:
        total += master_cpu
    for process in processes:
        if process.pid == master_pid:
            continue  # -X: the one process is both
        cpu = process.resources.cpu if process.resources else probe.cpu(process.pid)
        if cpu is not None:
            total += cpu
    return total
