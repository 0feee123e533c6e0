"""Replays the conformance corpus into the sans-I/O core in many chunkings.

Every case is fed whole, per line, per byte and at random sizes (fixed seeds);
the outcome must not depend on the chunking, and must be what RFC 9112 requires
(see cases/*.yaml and README.md).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from corpus import LIMITS, Case, ExpectedRequest, load_cases, marks

from mpmd.http.connection import HTTPConnection
from mpmd.http.errors import RemoteProtocolError
from mpmd.http.events import NEED_DATA, PAUSED, Data, EndOfMessage, Request

CASES = load_cases()
CHUNKINGS = ["whole", "lines", "bytes", "random-1", "random-2", "random-3"]
#: Bytes sent right behind every case: never a request if the case was rejected.
FOLLOWER = b"GET /follower HTTP/1.1\r\nHost: x\r\n\r\n"


def pieces(data: bytes, how: str) -> list[bytes]:
    """``data`` cut whole, after each LF, per byte, or at random sizes (seeded)."""
    if how == "whole":
        return [data]
    if how == "lines":
        return [line for line in data.splitlines(keepends=True) if line]
    if how == "bytes":
        return [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(int(how.removeprefix("random-")))
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 40)
        out.append(data[i : i + n])
        i += n
    return out


#: One parsed request: (head, body, trailers), as the core reported it.
Parsed = tuple[Request, bytes, tuple[tuple[bytes, bytes], ...]]


def replay(chunks: Iterable[bytes]) -> tuple[list[Parsed], int | None, bool]:
    """Drive a core like a server: (requests, error status, connection ended)."""
    conn = HTTPConnection(LIMITS)
    feed = iter(chunks)
    parsed: list[Parsed] = []
    body = b""
    for _ in range(100_000):
        try:
            event = conn.next_event()
        except RemoteProtocolError as error:
            return parsed, error.error_status_hint, True
        if event is NEED_DATA:
            piece = next(feed, None)
            if piece is None:
                return parsed, None, False
            conn.receive_data(piece)
        elif event is PAUSED:
            conn.send_response(200, "OK", [("Content-Length", "0")])
            conn.send_eom()
            if not conn.keep_alive:
                return parsed, None, True
            conn.start_next_cycle()
        elif isinstance(event, Request):
            parsed.append((event, b"", ()))
        elif isinstance(event, Data):
            body += event.data
        elif isinstance(event, EndOfMessage):
            parsed[-1] = (parsed[-1][0], body, event.trailers)
            body = b""
    raise AssertionError("replay did not finish")


def check_request(got: Parsed, want: ExpectedRequest) -> None:
    request, body, trailers = got
    assert request.method == want.method
    assert request.http_version == want.version
    if want.target is not None:
        assert request.target == want.target
    for name, value in want.headers.items():
        assert request.header(name) == value, name
    if want.body is not None:
        assert body == want.body
    assert {k.lower(): v for k, v in trailers} == want.trailers


def _params() -> list[object]:
    return [
        pytest.param(c, how, id=f"{c.name}-{how}", marks=marks(c))
        for c in CASES
        for how in CHUNKINGS
    ]


@pytest.mark.parametrize(("case", "how"), _params())
def test_case(case: Case, how: str) -> None:
    parsed, error, ended = replay(pieces(case.send + FOLLOWER, how))
    expected = len(case.requests)
    if case.error is None and not case.closes:
        expected += 1  # the follower is a request of its own
    assert len(parsed) == expected, [p[0].target for p in parsed]
    for got, want in zip(parsed, case.requests, strict=False):
        check_request(got, want)
    assert error == case.error
    if case.error is None and not case.closes:
        assert parsed[-1][0].target == b"/follower" and not ended
    else:  # the connection ends: the follower is never a request
        assert ended
        assert all(p[0].target != b"/follower" for p in parsed)


def test_corpus_is_not_trivial() -> None:
    assert len(CASES) >= 60
    assert sum(case.error is not None for case in CASES) >= 30


def test_asterisk_form_is_only_for_options() -> None:
    """The fix this corpus drove in mpmd/http/reader.py (RFC 9112 §3.2.4)."""
    for method in (b"GET", b"POST", b"HEAD"):
        assert replay([method + b" * HTTP/1.1\r\nHost: x\r\n\r\n"])[1] == 400
    parsed, error, _ = replay([b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"])
    assert error is None and parsed[0][0].path == b"*"
