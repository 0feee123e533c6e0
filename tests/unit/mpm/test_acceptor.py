"""Accepting with exclusive wake-ups, and recovering a wake-up that went astray."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from mpmd.mpm.acceptor import Accepted, Acceptor

# docs/architecture.md: an idle child looks at its listeners level-triggered
# "twice a second", so an orphaned connection waits at most half a second.
PROBE_EVERY = 0.5


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    yield sock
    sock.close()


@pytest.fixture
def clients() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


def connect(listener: socket.socket, clients: list[socket.socket]) -> None:
    clients.append(socket.create_connection(listener.getsockname(), timeout=5))


def child(listener: socket.socket) -> tuple[select.epoll, Acceptor]:
    epoll = select.epoll()
    acceptor = Acceptor((listener,), epoll)
    acceptor.resume()
    return epoll, acceptor


def close_all(accepted: list[Accepted]) -> None:
    for a in accepted:
        a.sock.close()


def in_epoll_wait(thread: threading.Thread) -> bool:
    """The thread is blocked in epoll_wait (syscall 232 on x86-64, 22 on arm64's pwait)."""
    with open(f"/proc/self/task/{thread.native_id}/syscall") as f:
        number = f.read().split()[0]
    return number in ("232", "281", "22")


def test_a_wakeup_absorbed_by_a_stopping_child_is_found_by_a_probe(
    listener: socket.socket, clients: list[socket.socket]
) -> None:
    children = [child(listener), child(listener)]
    got: dict[int, list[tuple[int, int]]] = {}
    waiters = [
        threading.Thread(target=lambda i=i: got.__setitem__(i, children[i][0].poll(1.5)))
        for i in range(2)
    ]
    for thread in waiters:
        thread.start()
    deadline = time.monotonic() + 5
    while not all(in_epoll_wait(t) for t in waiters):
        assert time.monotonic() < deadline, "the waiters never blocked in epoll_wait"
        time.sleep(0.001)
    connect(listener, clients)
    for thread in waiters:
        thread.join()
    woken = [i for i in (0, 1) if got[i]]
    assert len(woken) == 1  # EPOLLEXCLUSIVE: one blocked child is woken
    stopping, other = children[woken[0]], children[1 - woken[0]]
    stopping[1].pause()  # it stops without accepting: the kernel wakes nobody else
    assert other[0].poll(0.1) == []  # the hazard the probe exists for
    ready = other[1].probe(set(), now=PROBE_EVERY + 1.0)
    accepted = other[1].accept(ready)
    assert accepted is not None
    accepted.sock.close()
    for epoll, _ in children:
        epoll.close()


def test_probe_looks_at_most_once_per_interval_and_only_while_listening(
    listener: socket.socket, clients: list[socket.socket]
) -> None:
    epoll, acceptor = child(listener)
    connect(listener, clients)
    fd = listener.fileno()
    assert acceptor.probe(set(), now=10.0) == {fd}
    assert acceptor.probe(set(), now=10.0 + PROBE_EVERY - 0.01) == set()  # too soon
    assert acceptor.probe(set(), now=10.0 + PROBE_EVERY) == {fd}  # twice a second
    acceptor.pause()
    assert acceptor.probe(set(), now=20.0) == set()  # paused: not this child's to take
    epoll.close()


def test_leftovers_takes_what_waits_up_to_the_limit(
    listener: socket.socket, clients: list[socket.socket]
) -> None:
    epoll, acceptor = child(listener)
    for _ in range(3):
        connect(listener, clients)
    acceptor.pause()
    taken = acceptor.leftovers(limit=2)
    assert len(taken) == 2 and acceptor.pending() == {listener.fileno()}
    rest = acceptor.leftovers(limit=5)
    assert len(rest) == 1 and acceptor.pending() == set()
    close_all(taken + rest)
    epoll.close()
