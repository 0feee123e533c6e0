"""Property: whatever bytes arrive, in whatever pieces, the core raises nothing
but RemoteProtocolError, and never an error that hides a bug of ours."""

from __future__ import annotations

import itertools

import httptools
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpmd.config.model import RequestLimits
from mpmd.http.connection import HTTPConnection
from mpmd.http.errors import RemoteProtocolError
from mpmd.http.events import NEED_DATA, PAUSED, ConnectionClosed

LIMITS = RequestLimits(line=200, fields=8, field_size=100, body=1000)

#: Pieces of plausible requests, so the fuzzer reaches past the request line.
FRAGMENTS = st.sampled_from([
    b"GET / HTTP/1.1\r\n", b"POST /x?y HTTP/1.0\r\n", b"HEAD * HTTP/1.1\r\n", b"Host: h\r\n",
    b"Content-Length: 3\r\n", b"Content-Length: 99999\r\n", b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n", b"Connection: close\r\n", b"Connection: upgrade\r\n",
    b"Upgrade: h2c\r\n", b"Expect: 100-continue\r\n", b"\r\n", b"abc", b"3\r\nabc\r\n",
    b"0\r\n\r\n", b"5;x=y\r\n", b"T: 1\r\n", b" folded\r\n", b"\x00", b"\xff", b" ", b":",
])  # fmt: skip
STREAMS = st.lists(st.one_of(FRAGMENTS, st.binary(max_size=20)), max_size=25).map(b"".join)


def _drive(data: bytes, cuts: list[int]) -> None:
    conn = HTTPConnection(LIMITS)
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    for _ in range(10_000):
        event = conn.next_event()
        if event is NEED_DATA:
            conn.receive_data(pieces.pop(0) if pieces else b"")
        elif event is PAUSED:
            conn.send_response(200, "OK", [("Content-Length", "0")])
            conn.send_eom()
            if not conn.keep_alive:
                return
            conn.start_next_cycle()
        elif isinstance(event, ConnectionClosed):
            return
    raise AssertionError("the core did not come to an end")


def _check(data: bytes, cuts: list[int]) -> None:
    try:
        _drive(data, cuts)
    except RemoteProtocolError as error:
        # an internal error would be chained from a non-parser exception
        assert error.__cause__ is None or isinstance(error.__cause__, httptools.HttpParserError)
        assert error.error_status_hint in {400, 413, 414, 417, 431, 501, 505}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STREAMS, st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_request_like_streams(data: bytes, cuts: list[int]) -> None:
    _check(data, cuts)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    _check(data, [])
