"""collect(): mod_status's counting rules on synthetic scoreboards."""

from __future__ import annotations

import dataclasses

import pytest

from mpmd.scoreboard.states import State
from mpmd.server import single_process_board
from mpmd.status.auto import render_auto
from mpmd.status.collect import collect, max_servers
from mpmd.status.model import CpuTimes

from .apache_auto import parse_auto
from .boards import FACTS, FakeProbe, board, child, served


def test_scoreboard_shows_max_request_workers_slots_plus_busy_ones_beyond() -> None:
    b = board(server_limit=4, threads=3)
    child(b, 0, 101, b"_W_")
    child(b, 3, 104, b"GG_")  # beyond MaxRequestWorkers (2 processes): shown while in use
    report = collect((b,), FACTS, servers=2, probe=FakeProbe())
    assert report.scoreboard == "_W_..." + "GG_"
    b.release(3)
    assert collect((b,), FACTS, servers=2, probe=FakeProbe()).scoreboard == "_W_..."


def test_max_servers_is_apaches_max_daemons() -> None:
    assert max_servers(150, 25) == 6
    assert max_servers(256, 1) == 256
    assert max_servers(10, 25) == 1


def test_busy_graceful_idle_follow_mod_status() -> None:
    b = board(server_limit=5, threads=4, generation=3)
    child(b, 0, 101, b"_WKR")  # 1 idle, 3 busy
    child(b, 1, 102, b"S_GC")  # S neither; 1 idle; G graceful; C busy
    child(b, 2, 103, b"WW__", quiescing=True)  # quiescing: not counted at all
    child(b, 3, 104, b"__W.", generation=2)  # older generation: its idle is not capacity
    report = collect((b,), FACTS, servers=5, probe=FakeProbe())
    assert (report.busy, report.graceful, report.idle) == (3 + 1 + 1, 1, 1 + 1)
    rows = {p.pid: (p.busy, p.graceful, p.idle) for p in report.processes}
    assert rows == {101: (3, 0, 1), 102: (1, 1, 1), 103: (2, 0, 2), 104: (1, 0, 2)}
    assert [p.stopping for p in report.processes] == [False, False, True, False]
    assert [p.old_generation for p in report.processes] == [False, False, False, True]
    assert report.stopping == 1


def test_totals_sum_every_slot_even_of_exited_children() -> None:
    b = board()
    child(b, 0, 101, b"___")
    served(b, 0, 1, count=3, sent=3000, micros=4500)
    child(b, 1, 102, b"___")
    served(b, 1, 0, count=2, sent=100, micros=1500)
    b.release(1)  # its slot's counters stay, as Apache's do
    totals = collect((b,), FACTS, servers=4, probe=FakeProbe()).totals
    assert (totals.accesses, totals.bytes, totals.kbytes, totals.duration_ms) == (5, 3100, 3, 6)


def test_older_boards_add_their_live_slots_only() -> None:
    new, old = board(server_limit=2, threads=2, generation=2), board(4, 1, generation=1)
    child(new, 0, 201, b"__")
    child(old, 2, 101, b"G", quiescing=True)
    report = collect((new, old), FACTS, servers=2, probe=FakeProbe())
    assert report.scoreboard == "__.." + "G"
    assert report.generation == 2
    assert [(p.pid, p.old_generation) for p in report.processes] == [(201, False), (101, True)]
    assert (report.busy, report.graceful, report.idle) == (0, 0, 2)


def test_detail_adds_worker_rows_and_resources() -> None:
    b = board()
    child(b, 0, 101, b"_W_")
    served(b, 0, 1, count=1, sent=10, micros=1000, request=b"GET /slow HTTP/1.1",
           client=b"127.0.0.1")
    served(b, 0, 2, count=4, sent=40, micros=4000)
    probe = FakeProbe()
    report = collect((b,), FACTS, servers=4, probe=probe, detail=True)
    rows = {(w.process, w.thread): w for w in report.workers}
    assert set(rows) == {(0, 1), (0, 2)}  # an idle slot that never served is not listed
    current = rows[(0, 1)]
    assert (current.state, current.request, current.client) == ("W", "GET /slow HTTP/1.1",
                                                                 "127.0.0.1")
    assert current.request_ms >= 1900  # in progress: since it started, 2 s ago
    assert rows[(0, 2)].request_ms == pytest.approx(1000, abs=50)  # the last one's duration
    assert report.processes[0].resources is not None
    assert report.processes[0].resources.connections == 2
    assert report.master_resources is not None


def test_without_detail_no_rows_and_no_resource_probe() -> None:
    b = board()
    child(b, 0, 101, b"_W_")
    served(b, 0, 1, count=1, sent=10, micros=1000)
    probe = FakeProbe()
    report = collect((b,), FACTS, servers=4, probe=probe)
    assert report.workers == ()
    assert report.processes[0].resources is None


def test_cpu_is_master_plus_children() -> None:
    b = board()
    child(b, 0, 101, b"___")
    child(b, 1, 102, b"___")
    report = collect((b,), FACTS, servers=4, probe=FakeProbe())
    assert report.cpu == CpuTimes(3.0, 1.5, 0.75, 0.0)


def test_connections_come_from_the_process_slot_for_async_mpms() -> None:
    b = board()
    child(b, 0, 101, b"_W_")
    proc = b.process(0)
    proc.connections, proc.keep_alive, proc.closing = 7, 5, 1
    report = collect((b,), FACTS, servers=4, probe=FakeProbe())
    assert (report.connections, report.keep_alive, report.closing) == (7, 5, 1)


def test_connections_are_counted_from_letters_for_thread_per_connection_mpms() -> None:
    b = board()
    child(b, 0, 101, b"KWC")
    child(b, 1, 102, b"_R_")
    facts = dataclasses.replace(FACTS, asynchronous=False, mpm="worker")
    report = collect((b,), facts, servers=4, probe=FakeProbe())
    assert [p.connections for p in report.processes] == [3, 1]
    assert (report.keep_alive, report.closing) == (0, 1)


def test_a_board_is_required() -> None:
    with pytest.raises(ValueError):
        collect((), FACTS, servers=1, probe=FakeProbe())


def test_single_process_mode_counts_its_idle_workers() -> None:
    """``-X`` (issue 12 item 7): its one process is the current generation, so
    IdleWorkers is the ``_`` of the Scoreboard line, as for a master's children."""
    threads = 25  # ThreadsPerChild's default
    b = single_process_board(threads)
    for thread in range(threads):  # what the child writes once it serves
        b.worker(0, thread).status = State.READY.value
    b.worker(0, 3).status = State.WRITE.value  # the status request itself
    report = collect((b,), FACTS, servers=max_servers(400, threads), probe=FakeProbe())
    assert report.scoreboard == "___W" + "_" * 21
    assert [(p.pid, p.old_generation) for p in report.processes] == [(b.header.master_pid,
                                                                      False)]
    _, values = parse_auto(render_auto(report, "localhost"))
    assert values["IdleWorkers"] == str(values["Scoreboard"].count("_")) == "24"
    assert values["BusyWorkers"] == "1"
    assert values["ParentServerConfigGeneration"] == "1"
