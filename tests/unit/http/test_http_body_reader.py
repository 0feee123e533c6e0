"""wsgi.input over the core (BodyReader), on a local socket pair."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator

import pytest

from mpmd.config.model import ReadTimeoutStage, RequestLimits
from mpmd.http.channel import Channel
from mpmd.http.connection import HTTPConnection
from mpmd.http.errors import RemoteProtocolError
from mpmd.http.events import Request
from mpmd.http.socket_exchange import BodyReader

BODY = b"line one\nline two\n\nlast line without newline"
CUTS = (0, 9, 26, 41, len(BODY))
CHUNKED = (
    b"".join(b"%x\r\n%s\r\n" % (b - a, BODY[a:b]) for a, b in itertools.pairwise(CUTS))
    + b"0\r\n\r\n"
)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def reader_for(
    pair: tuple[socket.socket, socket.socket], head: bytes, body: bytes, timeout: float = 5.0
) -> BodyReader:
    server, client = pair
    channel = Channel(server, HTTPConnection(RequestLimits()), 5.0, time.monotonic)
    client.sendall(head + b"\r\n" + body)
    request = channel.next_event()
    assert isinstance(request, Request)
    return BodyReader(channel, request, ReadTimeoutStage(timeout))


HEADS = {
    "length": b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n" % len(BODY),
    "chunked": b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n",
}
WIRE = {"length": BODY, "chunked": CHUNKED}


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_read_in_pieces(pair: tuple[socket.socket, socket.socket], framing: str) -> None:
    body = reader_for(pair, HEADS[framing], WIRE[framing])
    assert body.read(4) == b"line"
    assert body.read(0) == b""
    assert body.read(5) == b" one\n"
    assert body.read() == BODY[9:]
    assert body.read() == b"" and body.read(10) == b""


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_readline_and_iteration(pair: tuple[socket.socket, socket.socket], framing: str) -> None:
    body = reader_for(pair, HEADS[framing], WIRE[framing])
    assert body.readline() == b"line one\n"
    assert body.readline(4) == b"line"
    assert body.readline() == b" two\n"
    assert list(body) == [b"\n", b"last line without newline"]
    assert body.readline() == b""


def test_readlines_with_hint(pair: tuple[socket.socket, socket.socket]) -> None:
    body = reader_for(pair, HEADS["length"], BODY)
    assert body.readlines(3) == [b"line one\n"]
    assert body.readlines() == [b"line two\n", b"\n", b"last line without newline"]


def test_no_body_reads_empty(pair: tuple[socket.socket, socket.socket]) -> None:
    body = reader_for(pair, b"GET / HTTP/1.1\r\nHost: h\r\n", b"")
    assert body.read() == b"" and body.readline() == b"" and list(body) == []


def test_first_read_sends_100_continue(pair: tuple[socket.socket, socket.socket]) -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n"
    body = reader_for(pair, head, b"")
    client = pair[1]
    client.settimeout(0.05)
    with pytest.raises(TimeoutError):
        client.recv(100)  # nothing before the handler reads
    client.sendall(b"data")
    assert body.read() == b"data"
    client.settimeout(5.0)
    assert client.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"


def test_body_timeout_is_408(pair: tuple[socket.socket, socket.socket]) -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n"
    body = reader_for(pair, head, b"abc", timeout=0.2)
    with pytest.raises(RemoteProtocolError) as info:
        body.read()
    assert info.value.error_status_hint == 408


def test_drain_discards_the_rest(pair: tuple[socket.socket, socket.socket]) -> None:
    body = reader_for(pair, HEADS["chunked"], CHUNKED)
    assert body.read(4) == b"line"
    assert body.drain(1000)
    assert body.read() == b""


def test_drain_gives_up_past_its_limit(pair: tuple[socket.socket, socket.socket]) -> None:
    body = reader_for(pair, HEADS["length"], BODY)
    assert not body.drain(5)
