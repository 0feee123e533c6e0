"""The sans-I/O core, response side: framing, Connection, states and misuse."""

from __future__ import annotations

import pytest

from mpmd.config.model import RequestLimits
from mpmd.http.connection import MAX_DRAIN, HTTPConnection, State
from mpmd.http.errors import LocalProtocolError, RemoteProtocolError
from mpmd.http.events import NEED_DATA, Data, EndOfMessage, Request
from mpmd.http.framing import check_headers

DATE = "Mon, 01 Jan 2024 00:00:00 GMT"


def connection(head: bytes, body: bytes = b"", *, read_all: bool = True) -> HTTPConnection:
    """A connection whose request ``head`` arrived (and ``body``, consumed if ``read_all``)."""
    conn = HTTPConnection(RequestLimits(), server_header="mpmd/test")
    conn.receive_data(head + b"\r\n" + body)
    assert isinstance(conn.next_event(), Request)
    for _ in range(100):
        if not read_all or isinstance(conn.next_event(), EndOfMessage):
            break
    return conn


def lines(head: bytes) -> list[str]:
    return head.decode("latin-1").split("\r\n")


GET11 = b"GET / HTTP/1.1\r\nHost: h\r\n"
GET10 = b"GET / HTTP/1.0\r\n"


@pytest.mark.parametrize(
    ("request_head", "status", "headers", "framing_lines", "body_out", "keep_alive"),
    [
        # HTTP/1.1 without a length: chunked
        (GET11, 200, [], ["Transfer-Encoding: chunked"], b"3\r\nabc\r\n0\r\n\r\n", True),
        # the handler's Content-Length is kept
        (GET11, 200, [("Content-Length", "3")], ["Content-Length: 3"], b"abc", True),
        # HTTP/1.0 without a length: delimited by closing
        (GET10, 200, [], ["Connection: close"], b"abc", False),
        # HTTP/1.0 keep-alive is confirmed when it can be kept
        (GET10[:-2] + b"\r\nConnection: keep-alive\r\n", 200, [("Content-Length", "3")],
         ["Content-Length: 3", "Connection: keep-alive"], b"abc", True),
        # HEAD: the length a GET would have, no body
        (b"HEAD / HTTP/1.1\r\nHost: h\r\n", 200, [("Content-Length", "3")],
         ["Content-Length: 3"], b"", True),
        (b"HEAD / HTTP/1.1\r\nHost: h\r\n", 200, [], [], b"", True),
        # 204: never a Content-Length (RFC 9110 §8.6), never a body
        (GET11, 204, [("Content-Length", "3")], [], b"", True),
        # 304: no body; a Content-Length describes the 200 and is kept
        (GET11, 304, [("Content-Length", "3")], ["Content-Length: 3"], b"", True),
        # hop-by-hop fields are the server's: dropped; Connection: close honoured
        (GET11, 200, [("Transfer-Encoding", "gzip"), ("Keep-Alive", "timeout=1"),
                      ("Content-Length", "3")], ["Content-Length: 3"], b"abc", True),
        (GET11, 200, [("Connection", "close"), ("Content-Length", "3")],
         ["Content-Length: 3", "Connection: close"], b"abc", False),
    ],
)  # fmt: skip
def test_response_framing(
    request_head: bytes,
    status: int,
    headers: list[tuple[str, str]],
    framing_lines: list[str],
    body_out: bytes,
    keep_alive: bool,
) -> None:
    conn = connection(request_head)
    head = conn.send_response(status, "Whatever", headers, date=DATE)
    got = lines(head)
    assert got[0] == f"HTTP/1.1 {status} Whatever"
    assert got[1:3] == [f"Date: {DATE}", "Server: mpmd/test"]
    assert got[3:-2] == framing_lines
    assert got[-2:] == ["", ""]
    assert conn.send_data(b"abc") + conn.send_eom() == body_out
    assert conn.keep_alive is keep_alive
    assert conn.states == (State.DONE, State.DONE)


def test_handler_date_and_server_win() -> None:
    conn = connection(GET11)
    head = conn.send_response(200, "OK", [("Date", "x"), ("Server", "y")], date=DATE)
    assert lines(head)[1:3] == ["Date: x", "Server: y"]
    assert head.count(b"Date:") == 1 and head.count(b"Server:") == 1


def test_set_close_says_connection_close() -> None:
    conn = connection(GET11)
    conn.set_close()
    head = conn.send_response(200, "OK", [("Content-Length", "0")])
    assert "Connection: close" in lines(head)
    assert not conn.keep_alive


def test_set_close_after_the_head_still_closes() -> None:
    conn = connection(GET11)
    conn.send_response(200, "OK", [("Content-Length", "0")])
    conn.set_close()
    conn.send_eom()
    assert not conn.keep_alive
    with pytest.raises(LocalProtocolError):
        conn.start_next_cycle()


def test_writing_past_content_length_is_a_local_error() -> None:
    conn = connection(GET11)
    conn.send_response(200, "OK", [("Content-Length", "3")])
    assert conn.send_data(b"ab") == b"ab"
    with pytest.raises(LocalProtocolError):
        conn.send_data(b"cd")
    assert conn.states[1] is State.ERROR
    assert not conn.keep_alive


def test_ending_short_of_content_length_is_a_local_error() -> None:
    conn = connection(GET11)
    conn.send_response(200, "OK", [("Content-Length", "3")])
    conn.send_data(b"ab")
    with pytest.raises(LocalProtocolError, match="1 bytes short"):
        conn.send_eom()
    assert not conn.keep_alive


def test_frame_data_for_sendfile() -> None:
    conn = connection(GET11)
    conn.send_response(200, "OK", [])
    assert conn.frame_data(10) == (b"a\r\n", b"\r\n")
    assert conn.frame_data(0) == (b"", b"")  # never an early last chunk
    head_conn = connection(b"HEAD / HTTP/1.1\r\nHost: h\r\n")
    head_conn.send_response(200, "OK", [("Content-Length", "10")])
    assert head_conn.frame_data(10) is None


@pytest.mark.parametrize(
    "misuse",
    [
        lambda c: c.send_data(b"x"),
        lambda c: c.send_eom(),
        lambda c: c.send_continue(),  # the request did not expect it
        lambda c: c.start_next_cycle(),
        lambda c: (c.send_response(200, "OK", []), c.send_response(200, "OK", [])),
    ],
)
def test_moves_the_state_lacks_are_local_errors(misuse) -> None:  # type: ignore[no-untyped-def]
    conn = connection(GET11)
    with pytest.raises(LocalProtocolError):
        misuse(conn)


def test_no_response_before_a_request() -> None:
    conn = HTTPConnection(RequestLimits())
    with pytest.raises(LocalProtocolError, match="cannot response while the server is IDLE"):
        conn.send_response(200, "OK", [])


def test_informational_status_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        connection(GET11).send_response(101, "Switching Protocols", [])


@pytest.mark.parametrize(
    "headers",
    [[("X", "a\r\nSet-Cookie: evil")], [("X", "a\nb")], [("X", "a\0")], [("X\r\nY", "a")],
     [("X", "caf\u00e9\u20ac")]],
)  # fmt: skip
def test_header_injection_is_refused_and_a_500_still_possible(
    headers: list[tuple[str, str]],
) -> None:
    conn = connection(GET11)
    with pytest.raises(LocalProtocolError):
        conn.send_response(200, "OK", headers)
    assert conn.states[1] is State.SEND_RESPONSE
    assert conn.send_response(500, "Internal Server Error", [("Content-Length", "0")])


@pytest.mark.parametrize(
    "headers",
    [[("X", "a\r\nb")], [("X", "a\0")], [("Bad Name", "v")], [("", "v")], [("X:", "v")]],
)
def test_check_headers_raises_value_error(headers: list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError):
        check_headers(headers)


def test_check_headers_accepts_ordinary_fields() -> None:
    check_headers([("Content-Type", "text/html; charset=utf-8"), ("X-Tab", "a\tb"), ("E", "")])


def test_100_continue_once_and_only_before_the_response() -> None:
    conn = connection(
        b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n",
        read_all=False,
    )
    assert conn.send_continue() == b"HTTP/1.1 100 Continue\r\n\r\n"
    with pytest.raises(LocalProtocolError):
        conn.send_continue()


def test_error_response_after_a_remote_error() -> None:
    conn = HTTPConnection(RequestLimits())
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.error_status_hint == 400
    head = conn.send_response(400, "Bad Request", [("Content-Length", "2")])
    assert lines(head)[-3] == "Connection: close"
    assert conn.send_data(b"no") + conn.send_eom() == b"no"
    assert not conn.keep_alive


def test_fail_lets_the_driver_answer_a_timeout() -> None:
    conn = HTTPConnection(RequestLimits())
    conn.receive_data(b"GET / HT")
    assert conn.next_event() is NEED_DATA
    conn.fail(RemoteProtocolError("request header read timeout", 408))
    head = conn.send_response(408, "Request Timeout", [("Content-Length", "0")])
    assert "Connection: close" in lines(head)
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


POST = b"POST / HTTP/1.1\r\nHost: h\r\n"


@pytest.mark.parametrize(
    ("head", "body", "keep_alive"),
    [
        # the whole body arrived: the driver discards it from the queue
        (POST + b"Content-Length: 5\r\n", b"hello", True),
        # a small remainder by Content-Length may be drained
        (POST + b"Content-Length: 100\r\n", b"x", True),
        # too much to drain, or unknown (chunked): close instead
        (POST + b"Content-Length: %d\r\n" % (MAX_DRAIN + 10), b"x", False),
        (POST + b"Transfer-Encoding: chunked\r\n", b"1\r\nx\r\n", False),
        # the client may be waiting for 100 Continue that never came: close
        (POST + b"Expect: 100-continue\r\nContent-Length: 5\r\n", b"", False),
    ],
)
def test_responding_before_the_body_is_read(head: bytes, body: bytes, keep_alive: bool) -> None:
    conn = connection(head, body, read_all=False)
    head_bytes = conn.send_response(200, "OK", [("Content-Length", "0")])
    assert ("Connection: close" in lines(head_bytes)) is not keep_alive
    conn.send_eom()
    assert conn.keep_alive is keep_alive


def test_draining_the_rest_then_the_next_cycle() -> None:
    conn = connection(POST + b"Content-Length: 5\r\n", b"he", read_all=False)
    conn.send_response(200, "OK", [("Content-Length", "0")])
    conn.send_eom()
    conn.receive_data(b"lloGET /next HTTP/1.1\r\nHost: h\r\n\r\n")
    drained = [conn.next_event() for _ in range(2)]
    assert drained == [Data(b"he"), Data(b"llo")]
    assert isinstance(conn.next_event(), EndOfMessage)
    conn.start_next_cycle()
    request = conn.next_event()
    assert isinstance(request, Request) and request.target == b"/next"
