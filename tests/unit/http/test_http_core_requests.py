"""The sans-I/O core, request side: bytes in, events out."""

from __future__ import annotations

import pytest

from mpmd.config.model import RequestLimits
from mpmd.http.connection import HTTPConnection, State
from mpmd.http.errors import LocalProtocolError, RemoteProtocolError
from mpmd.http.events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Request,
)

from .http_core_helpers import pieces, run, status_of

STREAM = (
    b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.org\r\nUser-Agent:  t \r\nX-Empty:\r\n\r\n"
    b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world"
    b"PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\nX-More: 1\r\n\r\n"
    b"GET /last HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
)


@pytest.mark.parametrize("how", ["whole", "bytes", "random"])
def test_any_chunking_gives_the_same_events(how: str) -> None:
    whole, _ = run([STREAM])
    outcome, _ = run(pieces(STREAM, how))
    assert outcome == whole
    kinds = [type(item).__name__ for item in outcome]
    assert kinds == [
        "Request", "EndOfMessage",
        "Request", "Data", "EndOfMessage",
        "Request", "Data", "EndOfMessage",
        "Request", "EndOfMessage",
    ]  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
def test_random_chunkings_agree(seed: int) -> None:
    assert run(pieces(STREAM, "random", seed))[0] == run([STREAM])[0]


def test_request_fields() -> None:
    outcome, _ = run([STREAM])
    first = outcome[0]
    assert isinstance(first, Request)
    assert (first.method, first.target, first.path, first.query) == (
        "GET", b"/a/b?x=1&y=2", b"/a/b", b"x=1&y=2",
    )  # fmt: skip
    assert first.http_version == "1.1"
    # values lose surrounding whitespace; names keep the client's spelling
    assert first.headers == ((b"Host", b"example.org"), (b"User-Agent", b"t"), (b"X-Empty", b""))
    assert first.header(b"user-agent") == b"t"
    assert (first.content_length, first.chunked, first.keep_alive) == (None, False, True)
    post = outcome[2]
    assert isinstance(post, Request) and post.content_length == 11
    assert outcome[3] == Data(b"hello world")


def test_chunked_body_with_extensions_and_trailers() -> None:
    outcome, _ = run([STREAM])
    put = outcome[5]
    assert isinstance(put, Request) and put.chunked and put.content_length is None
    assert outcome[6] == Data(b"hello world")
    assert outcome[7] == EndOfMessage(((b"X-Checksum", b"abc"), (b"X-More", b"1")))


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\nHost: h\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, Close\r\n", False),
        (b"GET / HTTP/1.0\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n", True),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n", True),
    ],
)
def test_keep_alive_from_version_and_connection(head: bytes, keep_alive: bool) -> None:
    conn = HTTPConnection(RequestLimits())
    conn.receive_data(head + b"\r\n")
    request = conn.next_event()
    assert isinstance(request, Request) and request.keep_alive is keep_alive
    assert isinstance(conn.next_event(), EndOfMessage)
    conn.send_response(200, "OK", [("Content-Length", "0")])
    conn.send_eom()
    assert conn.keep_alive is keep_alive


def test_pipelined_requests_wait_for_their_turn() -> None:
    conn = HTTPConnection(RequestLimits())
    conn.receive_data(b"".join(b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n" % i for i in range(3)))
    for i in range(3):
        request = conn.next_event()
        assert isinstance(request, Request) and request.target == b"/%d" % i
        assert isinstance(conn.next_event(), EndOfMessage)
        assert conn.next_event() is PAUSED  # the next request is parsed, but not ours yet
        conn.send_response(200, "OK", [("Content-Length", "0")])
        assert conn.next_event() is PAUSED
        conn.send_eom()
        conn.start_next_cycle()
    assert conn.next_event() is NEED_DATA


def test_eof_between_requests_is_connection_closed() -> None:
    outcome, conn = run([b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"])
    assert isinstance(outcome[-1], ConnectionClosed)
    assert conn.states[0] is State.CLOSED
    assert isinstance(conn.next_event(), ConnectionClosed)  # and stays so


@pytest.mark.parametrize(
    "partial",
    [b"GET / HT", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab"],
)
def test_eof_inside_a_request_is_an_error(partial: bytes) -> None:
    assert status_of(partial) == 400


def test_data_after_eof_is_a_local_error() -> None:
    conn = HTTPConnection(RequestLimits())
    conn.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"GET")


def test_bytes_after_a_closing_request_are_ignored() -> None:
    outcome, conn = run([b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\ngarbage\x00"])
    assert [type(item) for item in outcome] == [Request, EndOfMessage]
    assert not conn.keep_alive
    assert not conn._reader.events  # nothing parsed, queued or failed after the close


def test_http10_body_is_never_close_delimited() -> None:
    # RFC 9112 §6.3: a request without Content-Length or chunked has no body.
    outcome, _ = run([b"POST / HTTP/1.0\r\n\r\n"])
    assert [type(item) for item in outcome] == [Request, EndOfMessage]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n", True),
        (b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n", True),
        # RFC 9110 §10.1.1: a server MUST ignore 100-continue from HTTP/1.0
        (b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n", False),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n", False),
    ],
)
def test_expect_continue(head: bytes, expected: bool) -> None:
    conn = HTTPConnection(RequestLimits())
    conn.receive_data(head + b"\r\n")
    request = conn.next_event()
    assert isinstance(request, Request) and request.expect_continue is expected


def test_upgrade_is_ignored_and_its_body_delivered() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        b"Content-Length: 3\r\n\r\nabc"
        b"GET /next HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        b"GET /last HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    for how in ("whole", "bytes"):
        outcome, _ = run(pieces(data, how))
        targets = [item.target for item in outcome if isinstance(item, Request)]
        assert targets == [b"/", b"/next", b"/last"]
        assert outcome[1] == Data(b"abc")


@pytest.mark.parametrize(
    ("target", "path", "query"),
    [
        (b"/p?q", b"/p", b"q"),
        (b"/p#frag", b"/p", b""),
        (b"*", b"*", b""),
        (b"http://example.org/x/y?z=1", b"/x/y", b"z=1"),
        (b"http://example.org", b"/", b""),
    ],
)
def test_target_forms(target: bytes, path: bytes, query: bytes) -> None:
    conn = HTTPConnection(RequestLimits())
    method = b"OPTIONS" if target == b"*" else b"GET"
    conn.receive_data(method + b" " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n")
    request = conn.next_event()
    assert isinstance(request, Request) and (request.path, request.query) == (path, query)


SMALL = RequestLimits(line=100, fields=5, field_size=50, body=10)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
        (b"GET /" + b"a" * 80 + b" HTTP/1.1\r\nHost: h\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: y\r\n" * 5 + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: y\r\n" * 4 + b"\r\n", None),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"v" * 50 + b"\r\n\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n" + b"x" * 11, 413),
        (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n" + b"x" * 10, None),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"8\r\n12345678\r\n3\r\n123\r\n0\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"1\r\nx\r\n0\r\n" + b"T: 1\r\n" * 6 + b"\r\n", 431),
    ],
)  # fmt: skip
def test_limits(data: bytes, status: int | None) -> None:
    assert status_of(data, SMALL) == status


def test_body_limit_from_content_length_is_known_at_the_head() -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99\r\n\r\n"
    outcome, _ = run([head], SMALL, eof=False)
    assert outcome == [("error", 413)]  # no Request event: nothing for a handler


def test_chunked_body_limit_fails_when_exceeded() -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n"
    outcome, _ = run([data, b"8\r\n12345678\r\n"], SMALL, eof=False)
    assert isinstance(outcome[0], Request)
    assert outcome[1:] == [Data(b"12345678"), ("error", 413)]


def test_zero_body_limit_is_unlimited() -> None:
    limits = RequestLimits(body=0)
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 2_000_000
    outcome, _ = run([data], limits)
    assert outcome[1] == Data(b"x" * 2_000_000)


def test_a_head_that_never_ends_is_cut_at_the_bound() -> None:
    # One header value trickling in: llhttp buffers it, so the reads are bounded.
    conn = HTTPConnection(SMALL)
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\nX: ")
    for _ in range(1000):
        conn.receive_data(b"v" * 64)
        if conn._reader.events:
            break
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.error_status_hint == 431
    assert len(conn._reader.events) == 0


@pytest.mark.parametrize("start", [b"0\r\nX-Trailer: ", b"5;ext="])
def test_chunk_lines_and_trailers_that_never_end_are_cut(start: bytes) -> None:
    conn = HTTPConnection(SMALL)
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert isinstance(conn.next_event(), Request)
    conn.receive_data(start)
    for _ in range(1000):
        conn.receive_data(b"v" * 64)
        if conn._reader.events:
            break
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.error_status_hint == 400


def test_many_small_chunks_are_fine() -> None:
    body = b"".join(b"1\r\n%c\r\n" % (97 + i % 26) for i in range(2000)) + b"0\r\n\r\n"
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    outcome, _ = run(pieces(head + body, "random"), RequestLimits(line=100, fields=5))
    assert isinstance(outcome[1], Data) and len(outcome[1].data) == 2000


SMUGGLING = [
    # RFC 9112 §6.3: Content-Length with Transfer-Encoding
    (b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", 400),
    (b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", 400),
    # duplicate, differing or malformed Content-Length
    (b"Content-Length: 3\r\nContent-Length: 3\r\n", 400),
    (b"Content-Length: 3\r\nContent-Length: 4\r\n", 400),
    (b"Content-Length: +3\r\n", 400),
    (b"Content-Length: -1\r\n", 400),
    (b"Content-Length: 3, 3\r\n", 400),
    (b"Content-Length: 0x3\r\n", 400),
    (b"Content-Length: \r\n", 400),
    (b"Content-Length: 99999999999999999999999\r\n", 400),
    # Transfer-Encoding other than exactly chunked
    (b"Transfer-Encoding: gzip\r\n", 400),
    (b"Transfer-Encoding: chunked, gzip\r\n", 400),
    (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400),
    (b"Transfer-Encoding: gzip, chunked\r\n", 501),
    (b"Transfer-Encoding: identity\r\n", 400),
    # header syntax
    (b"X: a\r\n folded\r\n", 400),
    (b"X : a\r\n", 400),
    (b" X: a\r\n", 400),
    (b"X: a\x00b\r\n", 400),
    (b"X\r\n", 400),
    (b"Expect: something\r\n", 417),
]


@pytest.mark.parametrize(("fields", "status"), SMUGGLING)
def test_smuggling_shapes_are_refused(fields: bytes, status: int) -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n"
    outcome, _ = run([data])
    assert outcome == [("error", status)]  # and not one event more


CHUNKED = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    "body",
    [b"zz\r\n", b"-1\r\n", b"3 \r\nabc\r\n", b"3\r\nabcX\r\n", b"fffffffffffffffffff\r\n"],
)
def test_bad_chunks_fail_the_body(body: bytes) -> None:
    outcome, _ = run([CHUNKED + body + b"0\r\n\r\n"])
    assert isinstance(outcome[0], Request)
    assert outcome[-1] == ("error", 400)
    assert not any(isinstance(item, EndOfMessage) for item in outcome)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # RFC 9112 §3.2: Host is required
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\nHost: h\n\n", 400),
        (b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"GET / HTTP/0.9\r\n\r\n", 505),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        (b"FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
        (b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org\r\n\r\n", 501),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 501),  # a TLS ClientHello
    ],
)
def test_malformed_requests(data: bytes, status: int) -> None:
    outcome, _ = run([data])
    assert outcome == [("error", status)]


def test_a_bad_pipelined_request_comes_after_the_good_one() -> None:
    data = b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nX : y\r\n\r\n"
    outcome, _ = run([data])
    assert [type(item) for item in outcome] == [Request, EndOfMessage, tuple]
    assert outcome[-1] == ("error", 400)


def test_after_an_error_the_core_refuses_everything() -> None:
    conn = HTTPConnection(RequestLimits())
    conn.receive_data(b"GET / HTTP/1.1\r\nX : y\r\n\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    for _ in range(3):
        with pytest.raises(RemoteProtocolError):
            conn.next_event()
    assert not conn.keep_alive
    assert conn.states[0] is State.ERROR


# -- refused requests keep their request line; the client sees no parser internals --


def _refusal(data: bytes, how: str) -> RemoteProtocolError:
    conn = HTTPConnection(RequestLimits())
    for piece in pieces(data, how):
        conn.receive_data(piece)
    for _ in range(100):
        try:
            event = conn.next_event()
        except RemoteProtocolError as error:
            return error
        assert event is not NEED_DATA, "no error was raised"
        if event is PAUSED:  # a good request before the bad one: answer it
            conn.send_response(200, "OK", [("Content-Length", "0")])
            conn.send_eom()
            conn.start_next_cycle()
    raise AssertionError("no error was raised")


@pytest.mark.parametrize("how", ["whole", "bytes", "random"])
@pytest.mark.parametrize(
    ("data", "status", "line"),
    [
        (b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 501, b"BREW /pot HTTP/1.1"),
        (b"GET /tea HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n", 400, b"GET /tea HTTP/1.1"),
        (b"\r\nGET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400, b"GET /a b HTTP/1.1"),
        (b"GET / HTTP/1.1\r\n\r\n", 400, b"GET / HTTP/1.1"),  # no Host
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, b"GET / HTTP/2.0"),
        (b"GET / HTTP/1.2\r\nBad Field\r\n\r\n", 400, b"GET / HTTP/1.2"),
        # after a served request in the same read: its line, not the first one's
        (b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nFOO /x HTTP/1.1\r\n\r\n", 501, b"FOO /x HTTP/1.1"),
        (b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nabPUT\x01", 501, b"PUT\x01"),
    ],
)
def test_a_refused_request_carries_its_request_line(
    data: bytes, status: int, line: bytes, how: str
) -> None:
    """Whole, it is the line as sent; cut into pieces, llhttp may refuse a bad
    method or target before the line's end came: then as far as it came."""
    error = _refusal(data, how)
    assert error.error_status_hint == status
    assert error.request_line is not None
    if how == "whole":
        assert error.request_line == line
    else:
        assert error.request_line and line.startswith(error.request_line)


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTX/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n",
        b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_the_reason_is_in_http_terms_and_the_detail_is_llhttps(data: bytes) -> None:
    error = _refusal(data, "whole")
    assert str(error).startswith(("malformed", "invalid"))
    for internal in ("Expected", "Invalid", "llhttp", "RTSP", "char"):
        assert internal not in str(error)
    assert error.detail != str(error)


def test_http_1_2_is_served_as_11_and_remembers_its_line() -> None:
    outcome, _ = run([b"GET /v HTTP/1.2\r\nHost: x\r\n\r\n"])
    request = outcome[0]
    assert isinstance(request, Request)
    assert request.http_version == "1.1" and request.keep_alive
    assert request.request_line == b"GET /v HTTP/1.2"


def test_a_timed_out_head_reports_its_complete_request_line() -> None:
    conn = HTTPConnection(RequestLimits())
    conn.receive_data(b"GET /slow HTTP/1.1\r\nHost:")
    assert conn.next_event() is NEED_DATA
    assert conn.received_line() == b"GET /slow HTTP/1.1"
    partial = HTTPConnection(RequestLimits())
    partial.receive_data(b"GET /sl")
    assert partial.received_line() is None  # Apache logs "-" for a line not received


@pytest.mark.parametrize("how", ["whole", "bytes", "random"])
def test_repeated_content_type_and_forbidden_trailers_are_refused(how: str) -> None:
    twice = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: a/b\r\nContent-Type: a/b\r\n\r\n"
    assert run(pieces(twice, how))[0] == [("error", 400)]
    chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
    for field in (b"Host", b"Content-Length", b"Transfer-Encoding", b"Content-Type", b"TE"):
        outcome, _ = run(pieces(chunked + field + b": 1\r\n\r\n", how))
        assert outcome[-1] == ("error", 400), field
    allowed, _ = run(pieces(chunked + b"Server-Timing: a\r\n\r\n", how))
    assert allowed[-2:] == [EndOfMessage(((b"Server-Timing", b"a"),)), ConnectionClosed()]
