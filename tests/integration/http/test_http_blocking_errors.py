"""serve_connection on real loopback sockets: handler failures, malformed
requests, lingering close, read timeouts, vanishing clients."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from structlog.testing import capture_logs

from mpmd.config.model import ReadTimeoutStage, RequestLimits, RequestReadTimeout
from mpmd.http.exchange import Exchange

from .http_server import WAIT, StartServer, echo, hello, settings


def test_handler_exception_is_500_and_keeps_the_connection(start_server: StartServer) -> None:
    def failing(exchange: Exchange) -> None:
        if exchange.request.path == b"/fail":
            raise RuntimeError("boom")
        hello(exchange)

    server = start_server(failing)
    client = server.connect()
    with capture_logs() as logs:
        response = client.get("/fail")
    assert response.status == 500
    assert b"Internal Server Error" in response.body and b"boom" not in response.body
    failures = [e for e in logs if e["event"] == "request_handler_failed"]
    assert len(failures) == 1 and failures[0]["exc_info"] is True
    assert client.get("/ok").body == b"hello /ok"  # Apache keeps the connection too
    client.sock.close()
    assert server.wait() == [2]
    assert [t.status for t in server.observer.txns] == [500, 200]


def test_exception_after_the_head_cuts_the_connection(start_server: StartServer) -> None:
    def half(exchange: Exchange) -> None:
        exchange.start_response(200, "OK", [("Content-Length", "100")])
        exchange.write(b"partial")
        raise RuntimeError("late")

    server = start_server(half)
    client = server.connect()
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    head = client._take_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert client.read_to_eof() == b"partial"  # then the server closed: short body
    assert server.wait() == [1]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
         400),
        (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        (b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    ],
)  # fmt: skip
def test_malformed_request_gets_its_status_and_a_close(
    start_server: StartServer, request_bytes: bytes, status: int
) -> None:
    server = start_server(hello)
    client = server.connect()
    client.send(request_bytes)
    response = client.response()
    assert response.status == status
    assert response.headers["connection"] == "close"
    assert response.headers["content-type"].startswith("text/html")
    assert client.closed()
    assert server.wait() == [0]
    assert [t.status for t in server.observer.txns] == [status]
    # No head reached a handler, but the request line is logged as sent (Apache's
    # %r is the_request); a line over LimitRequestLine (8190) is cut there.
    sent_line = request_bytes.partition(b"\r\n")[0]
    assert server.observer.txns[0].request.request_line == sent_line[:8190]


def test_a_rejected_upload_still_gets_its_response(start_server: StartServer) -> None:
    # The client keeps sending a body the server refused (413 from the head):
    # lingering close lets the response arrive instead of a reset.
    server = start_server(echo, settings(limits=RequestLimits(body=1000)))
    client = server.connect()
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 300000\r\n\r\n")
    client.sock.settimeout(WAIT)
    client.send(b"x" * 100_000)
    response = client.response()
    assert response.status == 413
    assert response.headers["connection"] == "close"


def test_lingering_close_delivers_a_large_response(start_server: StartServer) -> None:
    # The handler answers without reading an upload, so the connection closes
    # with unread input.  A plain close() would reset it and drop whatever of
    # the response is still queued; the lingering close delivers all of it.
    size = 8 * 1024 * 1024

    def big(exchange: Exchange) -> None:
        exchange.start_response(200, "OK", [("Content-Length", str(size))])
        exchange.write(b"x" * size)

    server = start_server(big)
    client = server.connect()
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n")
    client.send(b"u" * 100_000)
    response = client.response()
    assert response.headers["connection"] == "close"
    assert len(response.body) == size


FAST = RequestReadTimeout(header=ReadTimeoutStage(0.3), body=ReadTimeoutStage(0.3))


def test_partial_head_times_out_with_408(start_server: StartServer) -> None:
    server = start_server(hello, settings(read_timeout=FAST))
    client = server.connect()
    client.send(b"GET / HTTP/1.1\r\nHost")
    started = time.monotonic()
    response = client.response()
    assert response.status == 408
    assert 0.25 < time.monotonic() - started < WAIT
    assert client.closed()


def test_header_stage_deadline_follows_the_clock_seam(start_server: StartServer) -> None:
    # header=20-40,MinRate=500 with a clock that jumps 15 s per reading: the
    # partial head buys 0.04 s, so the second wait is past the deadline -> 408,
    # without the test waiting 20 s.
    ticks = iter(range(0, 10_000, 15))
    server = start_server(hello, clock=lambda: float(next(ticks)))
    client = server.connect()
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
    started = time.monotonic()
    assert client.response().status == 408
    assert time.monotonic() - started < 2.0


def test_silent_client_is_closed_without_a_response(start_server: StartServer) -> None:
    server = start_server(hello, settings(read_timeout=FAST))
    client = server.connect()
    assert client.closed()  # EOF, and not one byte before it
    assert server.wait() == [0]
    assert server.observer.txns == []


def test_body_timeout_is_408(start_server: StartServer) -> None:
    server = start_server(echo, settings(read_timeout=FAST))
    client = server.connect()
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
    response = client.response()
    assert response.status == 408 and response.headers["connection"] == "close"


def test_handler_without_a_response_is_500(start_server: StartServer) -> None:
    server = start_server(lambda exchange: None)
    client = server.connect()
    with capture_logs() as logs:
        assert client.get().status == 500
    assert [e["event"] for e in logs] == ["request_handler_failed"]


def test_handler_failing_mid_response_is_cut_short_without_a_second_traceback(
    start_server: StartServer,
) -> None:
    def broken(exchange: Exchange) -> None:
        exchange.start_response(200, "OK", [])
        exchange.write(b"partial")
        raise RuntimeError("late failure")

    server = start_server(broken)
    client = server.connect()
    with capture_logs() as logs:
        client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        client._take_until(b"\r\n\r\n")
        assert server.wait() == [1]
    events = [e for e in logs if e["log_level"] in ("warning", "error")]
    assert [e["event"] for e in events] == ["response_cut_short"]
    assert "late failure" in events[0]["error"] and "exc_info" not in events[0]


def test_client_vanishing_mid_response_ends_quietly(start_server: StartServer) -> None:
    def endless(exchange: Exchange) -> None:
        exchange.start_response(200, "OK", [])
        for _ in range(10_000):
            exchange.write(b"x" * 65536)

    server = start_server(endless)
    client = server.connect()
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    client._take_until(b"\r\n\r\n")
    with capture_logs() as logs:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.sock.close()  # linger 0: a reset
        assert server.wait() == [1]
    assert [e for e in logs if e["event"] == "request_handler_failed"] == []


@pytest.mark.parametrize(
    ("request_bytes", "status", "sentence"),
    [
        (b"GET / HTTX/1.1\r\nHost: t\r\n\r\n", 400, b"Malformed request line."),
        (b"GET / HTTP/1.1\r\nHost: t\r\nNo colon\r\n\r\n", 400, b"Malformed header field."),
        (b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501, b"Request method not implemented."),
    ],
)
def test_the_error_page_says_what_is_wrong_and_the_log_says_more(
    start_server: StartServer, request_bytes: bytes, status: int, sentence: bytes
) -> None:
    server = start_server(hello)
    client = server.connect()
    with capture_logs() as logs:
        client.send(request_bytes)
        response = client.response()
        assert server.wait() == [0]
    assert response.status == status
    # Apache's page shape: its doctype, title and heading, then what is wrong.
    assert response.body.startswith(b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n')
    assert b"<title>%d " % status in response.body and sentence in response.body
    for internal in (b"Expected", b"Invalid", b"RTSP", b"token", b"encountered"):
        assert internal not in response.body
    [event] = [e for e in logs if e["event"] == "request_rejected"]
    assert event["log_level"] == "debug" and event["status"] == status
    assert event["detail"] != event["reason"]  # llhttp's own words, for the operator
    assert event["request_line"] == request_bytes.partition(b"\r\n")[0].decode()
