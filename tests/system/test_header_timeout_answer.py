"""A head that misses RequestReadTimeout is answered alike under every MPM.

Apache answers it from mod_reqtimeout through ``ap_die``: a normal 408 error
response (Date, Server, ``Connection: close``, its error page), a line in the
access log with the request line as received, then a lingering close.  The
event MPM cuts such heads in its poller rather than in a thread, and answers
them through the same reject path as prefork and worker.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable

from harness import Server, wait_for

HEADER_TIMEOUT = "RequestReadTimeout header=1 body=5\n"
PARTIAL_HEAD = b"GET /stalled?q=1 HTTP/1.1\r\nHost: x\r\n"
ANSWER_WAIT = 10.0


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_stalled_head_gets_a_normal_408_and_an_access_log_line(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm, extra=HEADER_TIMEOUT)
    with socket.create_connection(("127.0.0.1", server.port), timeout=ANSWER_WAIT) as sock:
        sock.sendall(PARTIAL_HEAD)  # ... and nothing more: the header stage expires
        raw = read_until_closed(sock)  # the server shut down its side after the answer
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = {name.lower(): value for name, _, value in (f.partition(": ") for f in lines[1:])}
        assert lines[0] == "HTTP/1.1 408 Request Timeout", raw[:300]
        assert "date" in fields and fields["date"].endswith(" GMT")  # RFC 9110 §6.6.1
        assert fields.get("server", "").startswith("mpmd")
        assert fields.get("connection") == "close"
        assert fields.get("content-type") == "text/html; charset=iso-8859-1"
        assert int(fields["content-length"]) == len(body)
        assert b"<title>408 Request Timeout</title>" in body
        # Lingering close (RFC 9112 §9.6): bytes the client still sends after the
        # answer are read and discarded, not answered with a reset.
        sock.sendall(b"X-Late: 1\r\n")
        errors = select.poll()
        errors.register(sock, 0)  # only POLLERR / POLLHUP: what a reset raises
        assert errors.poll(500) == [], "the server reset the connection instead of lingering"

    def logged() -> list[str] | None:
        if not server.access_log.exists():
            return None
        found = [line for line in server.access_log.read_text().splitlines() if '" 408 ' in line]
        return found or None

    [line] = wait_for(logged, ANSWER_WAIT, "the 408 in the access log")
    assert '"GET /stalled?q=1 HTTP/1.1" 408 ' in line  # %r as received, as Apache logs it
    [event] = server.wait_event("request_rejected")
    assert event["status"] == 408 and event["request_line"] == "GET /stalled?q=1 HTTP/1.1"
