"""The event child's admission probes: what they read, and that each costly
fact is taken at most once per poller turn."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import pytest

from mpmd.mpm.event.child import ChildProbes
from mpmd.scoreboard.board import ProcessView, Snapshot

GEN = 2
OWN = 0


def view(slot: int, states: bytes = b"_W", generation: int = GEN, quiescing: bool = False,
         not_accepting: bool = False, pid: int = 1) -> ProcessView:
    return ProcessView(slot, pid and 1000 + slot, generation, quiescing, not_accepting, states)


class Board:
    """A scoreboard that counts how often it is copied."""

    def __init__(self, *others: ProcessView) -> None:
        self.snapshot_calls = 0
        self.processes = (view(OWN), *others)

    def snapshot(self) -> Snapshot:
        self.snapshot_calls += 1
        return Snapshot(GEN, self.processes)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def probes(board: Board, listeners: tuple[socket.socket, ...] = ()) -> ChildProbes:
    return ChildProbes(listeners, OWN, board.snapshot)


@pytest.mark.parametrize(
    ("other", "room"),
    [
        (view(1), True),  # accepting, a '_' (ready) worker
        (view(1, states=b"WK"), False),  # no idle worker
        (view(1, not_accepting=True), False),  # its admission rule says no
        (view(1, quiescing=True), False),  # draining
        (view(1, generation=GEN - 1), False),  # an old generation
        (view(1, pid=0), False),  # an open slot
    ],
    ids=["ready", "all busy", "not accepting", "quiescing", "old generation", "open slot"],
)
def test_room_elsewhere(other: ProcessView, room: bool) -> None:
    assert probes(Board(other)).others_have_room() is room


def test_own_room_does_not_count() -> None:
    assert probes(Board()).others_have_room() is False


def test_serving_children_count_this_one_and_leave_out_quiescing_and_old() -> None:
    board = Board(view(1), view(2, quiescing=True), view(3, generation=GEN - 1), view(4, pid=0))
    assert probes(board).serving_children() == 2


def test_one_snapshot_per_turn() -> None:
    board = Board(view(1))
    turn = probes(board)
    assert board.snapshot_calls == 0  # nothing is read until asked
    turn.others_have_room()
    turn.serving_children()
    turn.others_have_room()
    assert board.snapshot_calls == 1
    turn.next_turn().serving_children()  # the next turn reads afresh
    assert board.snapshot_calls == 2


def test_clients_waiting_sees_the_listen_queue(listener: socket.socket) -> None:
    assert probes(Board(), (listener,)).clients_waiting() is False
    client = socket.create_connection(listener.getsockname())
    try:
        deadline = time.monotonic() + 5
        while not select.select([listener], [], [], 0.05)[0]:
            assert time.monotonic() < deadline, "the connection never queued"
        turn = probes(Board(), (listener,))
        assert turn.clients_waiting() is True
        listener.accept()[0].close()
        assert turn.clients_waiting() is True  # the turn's answer stands
        assert turn.next_turn().clients_waiting() is False
    finally:
        client.close()
