"""The conformance corpus (tests/conformance/cases) end to end, under every MPM.

One real mpmd per MPM, with the corpus limits, serves every case over a fresh
loopback connection.  Each case is sent in ONE write followed by a valid
request (the "follower").  Accepted cases must be answered once per request,
the follower included, unless the case closes; rejected cases must get exactly
one error response with the expected status and then EOF: the follower is never
answered, so no byte after a rejected request can be taken as a new request.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import MPMS, Server, ServerSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))

from corpus import LIMIT_DIRECTIVES, Case, load_cases, marks

pytestmark = pytest.mark.slow

CASES = load_cases()
FOLLOWER = b"GET /follower HTTP/1.1\r\nHost: x\r\n\r\n"
READ_TIMEOUT = 10.0
#: Short mod_reqtimeout stages so the 408 cases take about a second each.
TIMEOUTS = "RequestReadTimeout header=1 body=1\n"


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[bytes, bytes]
    body: bytes


@pytest.fixture(scope="module", params=MPMS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server per MPM for all cases (the corpus limits and short read timeouts)."""
    root = tmp_path_factory.mktemp(f"conformance-{request.param}")
    srv = Server(root, ServerSpec(mpm=request.param, extra=LIMIT_DIRECTIVES + TIMEOUTS))
    try:
        yield srv.start()
    finally:
        srv.kill_group()


def parse_one(buf: bytes, head_only: bool) -> tuple[Response, bytes] | None:
    """The first complete final response in ``buf`` and the rest, or None if incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
    rest = buf[end + 4 :]
    if 100 <= status < 200:  # interim (100 Continue): skip it
        return parse_one(rest, head_only)
    if head_only or status in (204, 304):
        return Response(status, headers, b""), rest
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        return _dechunk(status, headers, rest)
    length = int(headers.get(b"content-length", b"0"))
    if len(rest) < length:
        return None
    return Response(status, headers, rest[:length]), rest[length:]


def _dechunk(
    status: int, headers: dict[bytes, bytes], data: bytes
) -> tuple[Response, bytes] | None:
    body = b""
    for _ in range(10_000):
        line_end = data.find(b"\r\n")
        if line_end < 0:
            return None
        size = int(data[:line_end].split(b";")[0], 16)
        if len(data) < line_end + 2 + size + 2:
            return None
        body += data[line_end + 2 : line_end + 2 + size]
        data = data[line_end + 2 + size + 2 :]
        if size == 0:
            return Response(status, headers, body), data
    raise AssertionError("too many chunks")


def parse_all(buf: bytes, head_flags: list[bool]) -> tuple[list[Response], bytes]:
    """Every complete response in ``buf`` (the n-th answers a HEAD if head_flags[n])."""
    out: list[Response] = []
    while buf:
        parsed = parse_one(buf, head_flags[len(out)] if len(out) < len(head_flags) else False)
        if parsed is None:
            break
        response, buf = parsed
        out.append(response)
    return out, buf


def exchange(
    server: Server, case: Case, until_eof: bool, count: int
) -> tuple[list[Response], bytes, bool]:
    """Send case + follower in one write; read until EOF, or ``count`` responses."""
    heads = [r.method == "HEAD" for r in case.requests] + [False]
    buf, eof = b"", False
    deadline = time.monotonic() + READ_TIMEOUT
    with socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(case.send + FOLLOWER)
        while time.monotonic() < deadline:
            if not until_eof and len(parse_all(buf, heads)[0]) >= count:
                break
            data = sock.recv(65536)
            if not data:
                eof = True
                break
            buf += data
    responses, rest = parse_all(buf, heads)
    return responses, rest, eof


def _params() -> list[object]:
    return [pytest.param(case, id=case.name, marks=marks(case)) for case in CASES]


@pytest.mark.parametrize("case", _params())
def test_case_end_to_end(server: Server, case: Case) -> None:
    ends = case.error is not None or case.closes
    count = case.responses + (0 if ends else 1)
    responses, rest, eof = exchange(server, case, until_eof=ends, count=count)
    statuses = [r.status for r in responses]
    served = len(case.requests) - (1 if case.error_in_body else 0)
    expected = [200] * served + ([case.error] if case.error is not None else [])
    if not ends:
        expected.append(200)  # the follower
    assert statuses == expected and rest == b""
    for response, want in zip(responses, case.requests[:served], strict=False):
        if want.target == b"/echo" and want.body is not None:
            assert response.body == want.body
    if ends:
        assert eof, "the connection must close after the last response"
        assert responses[-1].headers.get(b"connection", b"").lower() == b"close" or case.closes


def read_to_eof(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (bounded by READ_TIMEOUT)."""
    buf = b""
    deadline = time.monotonic() + READ_TIMEOUT
    while time.monotonic() < deadline:
        data = sock.recv(65536)
        if not data:
            return buf
        buf += data
    raise AssertionError(f"no EOF within {READ_TIMEOUT} s; got {buf[:200]!r}")


@pytest.mark.parametrize(
    "partial",
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n", id="head"),
        pytest.param(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", id="body"),
    ],
)
def test_stalled_request_gets_408_then_close(server: Server, partial: bytes) -> None:
    """RFC 9110 §15.5.9 / mod_reqtimeout: a request that stops arriving gets 408 and
    the connection closes (the timeout cannot be expressed as a corpus case)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(partial)
        responses, rest = parse_all(read_to_eof(sock), [False])
    assert [r.status for r in responses] == [408] and rest == b""
