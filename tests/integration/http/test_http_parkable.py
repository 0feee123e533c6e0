"""The event MPM's driver (mpmd.http.parkable) over a socket pair, no poller.

The same Session as the blocking driver serves a parked connection's ready
requests and says PARK when the next one is not there; a head whose header
stage expired is answered 408 through the session's reject path (Date,
Server, Connection: close, a Transaction for the access log) and then lingers.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from mpmd.http.channel import LINGER_MAX_BYTES
from mpmd.http.parkable import Fed, Parked, answer_timeout, feed, linger, new_parked, serve_parkable
from mpmd.http.settings import HttpDate

from .http_server import WAIT, Observer, hello, settings

SETTINGS = settings()


@pytest.fixture
def pair() -> Iterator[tuple[Parked, socket.socket]]:
    server, client = socket.socketpair()
    client.settimeout(WAIT)
    parked = new_parked(server, ("127.0.0.1", 1), ("127.0.0.1", 2), SETTINGS)
    yield parked, client
    client.close()
    server.close()


def fed_when_ready(parked: Parked) -> Fed:
    """Feed until the core has a head or the peer is quiet (a deadline, no sleeps)."""
    end = time.monotonic() + WAIT
    fed = feed(parked, SETTINGS, time.monotonic())
    while fed is Fed.WAIT and not parked.partial and time.monotonic() < end:
        fed = feed(parked, SETTINGS, time.monotonic())
    return fed


def read_response(client: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += client.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    fields = dict(line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:])
    length = int(fields[b"content-length"])
    while len(body) < length:
        body += client.recv(65536)
    return head + b"\r\n\r\n" + body


def test_served_then_parked_idle(pair: tuple[Parked, socket.socket]) -> None:
    parked, client = pair
    client.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    assert fed_when_ready(parked) is Fed.READY
    observer = Observer()
    assert serve_parkable(parked, hello, SETTINGS, observer, lambda: False) is True
    assert read_response(client).endswith(b"hello /a")
    assert observer.marks == ["R", "W", "F", "K"]  # no lingering close: it parks
    assert parked.served == 1 and parked.idle_keepalive and not parked.partial


def test_a_begun_next_head_parks_with_its_header_stage(pair: tuple[Parked, socket.socket]) -> None:
    parked, client = pair
    client.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n")
    assert fed_when_ready(parked) is Fed.READY
    assert serve_parkable(parked, hello, SETTINGS, Observer(), lambda: False) is True
    assert parked.partial and not parked.idle_keepalive and parked.head is not None


def test_the_client_closing_between_requests_is_fed_as_closed(
    pair: tuple[Parked, socket.socket],
) -> None:
    parked, client = pair
    client.shutdown(socket.SHUT_WR)
    assert fed_when_ready(parked) is Fed.CLOSED


def test_an_expired_head_gets_the_normal_408_then_lingers(
    pair: tuple[Parked, socket.socket],
) -> None:
    parked, client = pair
    client.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
    assert fed_when_ready(parked) is Fed.WAIT and parked.partial
    observer = Observer()
    assert answer_timeout(parked, hello, SETTINGS, observer, lambda: False, HttpDate()) is True
    response = read_response(client)
    head = response.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    assert head[0] == "HTTP/1.1 408 Request Timeout"
    names = {line.partition(":")[0].lower() for line in head[1:]}
    assert {"date", "server", "connection", "content-type", "content-length"} <= names
    assert "Connection: close" in head
    assert client.recv(1) == b""  # our side is shut down: the answer is all
    [txn] = observer.txns
    assert txn.status == 408 and txn.request.request_line == b"GET /slow HTTP/1.1"
    assert observer.marks[-2:] == ["F", "C"]
    # Lingering: what the client still sends is discarded until it closes.
    assert parked.linger_left == LINGER_MAX_BYTES and not parked.partial
    client.sendall(b"X-Late: 1\r\n")
    deadline = time.monotonic() + WAIT
    while linger(parked) and parked.linger_left == LINGER_MAX_BYTES:
        assert time.monotonic() < deadline
    assert parked.linger_left == LINGER_MAX_BYTES - len(b"X-Late: 1\r\n")
    client.close()
    while linger(parked):
        assert time.monotonic() < deadline
    assert parked.sock.fileno() == -1
