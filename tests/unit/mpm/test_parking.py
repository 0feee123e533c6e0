"""The event MPM's parking lot: one-shot epoll re-arming, deadlines, reclaiming."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import pytest

from mpmd.config.model import RequestLimits, RequestReadTimeout
from mpmd.http.blocking import ConnectionSettings
from mpmd.http.parkable import Parked, new_parked
from mpmd.mpm.parking import ParkingLot

SETTINGS = ConnectionSettings(
    keep_alive=True, keep_alive_timeout=5.0, max_keep_alive_requests=100, timeout=60.0,
    limits=RequestLimits(), read_timeout=RequestReadTimeout(), server_header="mpmd/test",
)


@pytest.fixture
def epoll() -> Iterator[select.epoll]:
    ep = select.epoll()
    yield ep
    ep.close()


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made: list[tuple[socket.socket, socket.socket]] = []
    yield made
    for a, b in made:
        a.close()
        b.close()


def parked(pairs: list[tuple[socket.socket, socket.socket]], deadline: float) -> Parked:
    server, client = socket.socketpair()
    pairs.append((server, client))
    conn = new_parked(server, ("127.0.0.1", 1), ("127.0.0.1", 2), SETTINGS)
    conn.deadline = deadline
    return conn


def test_a_parked_connection_fires_once_then_is_rearmed_by_park(
    epoll: select.epoll, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    lot = ParkingLot(epoll)
    conn = parked(pairs, deadline=1e9)
    lot.park(conn)
    pairs[0][1].send(b"x")
    assert epoll.poll(1.0) == [(conn.sock.fileno(), select.EPOLLIN)]
    assert lot.unpark(conn.sock.fileno()) is conn and len(lot) == 0
    assert epoll.poll(0) == []  # one-shot: disarmed although the byte is unread
    lot.park(conn)
    assert [fd for fd, _ in epoll.poll(1.0)] == [conn.sock.fileno()]
    assert lot.unpark(conn.sock.fileno()) is conn
    assert lot.unpark(conn.sock.fileno()) is None  # a stale event finds nothing


def test_park_says_when_the_poller_sleeps_past_the_new_deadline(
    epoll: select.epoll, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    lot = ParkingLot(epoll)
    assert lot.timeout(now=100.0, longest=1.0) == 1.0  # the poller sleeps until 101
    assert lot.park(parked(pairs, deadline=100.5)) is True  # sooner: wake the poller
    assert lot.park(parked(pairs, deadline=105.0)) is False
    assert lot.timeout(now=100.0, longest=1.0) == pytest.approx(0.5)
    assert lot.park(parked(pairs, deadline=100.7)) is False  # the poller wakes at 100.5


def test_expire_answers_only_what_is_due_and_still_parked(
    epoll: select.epoll, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    lot = ParkingLot(epoll)
    due, later, moved = (parked(pairs, d) for d in (10.0, 20.0, 10.0))
    for conn in (due, later, moved):
        lot.park(conn)
    lot.unpark(moved.sock.fileno())  # went to a worker: its timer is stale
    lot.expire(now=15.0)
    assert len(lot) == 1 and later.sock.fileno() in lot
    assert due.sock.fileno() == -1 and moved.sock.fileno() != -1  # closed / untouched
    assert pairs[0][1].recv(100) == b""  # no byte of a request came: a quiet close


def test_expire_reschedules_a_deadline_moved_by_minrate(
    epoll: select.epoll, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    lot = ParkingLot(epoll)
    conn = parked(pairs, deadline=10.0)
    lot.park(conn)
    conn.deadline = 12.0  # bytes came at MinRate meanwhile
    lot.expire(now=11.0)
    assert conn.sock.fileno() in lot
    assert lot.timeout(now=11.0, longest=5.0) == pytest.approx(1.0)
    lot.expire(now=12.0)
    assert len(lot) == 0


def test_reclaim_closes_only_long_idle_keepalive_connections(
    epoll: select.epoll, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    lot = ParkingLot(epoll)
    old, fresh, head = (parked(pairs, 1e9) for _ in range(3))
    old.idle_keepalive = fresh.idle_keepalive = True
    old.parked_at, fresh.parked_at, head.parked_at = 0.0, 9.5, 0.0
    for conn in (old, fresh, head):
        lot.park(conn)
    assert lot.idle_keepalive == 2
    lot.reclaim_keepalive(now=10.0, idle_for=1.0)
    assert len(lot) == 2 and lot.idle_keepalive == 1
    assert old.sock.fileno() == -1


def test_expire_hands_back_a_begun_head_for_a_worker_to_answer(
    epoll: select.epoll, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    lot = ParkingLot(epoll)
    quiet, begun = parked(pairs, 10.0), parked(pairs, 10.0)
    begun.partial = True  # part of a head came: it gets a 408 (from a worker's session)
    for conn in (quiet, begun):
        lot.park(conn)
    assert lot.expire(now=11.0) == [begun]
    assert begun.timed_out and begun.sock.fileno() != -1 and len(lot) == 0
    assert quiet.sock.fileno() == -1 and not quiet.timed_out
