"""Refused requests end to end, under every MPM: what the client, the access log
and the error log see.

Apache logs ``%r`` as the request line as sent (``the_request``) even when the
request is refused; its error pages say what is wrong without parser internals.
mpmd does the same; llhttp's own wording is in ``request_rejected`` (debug).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from harness import Server, wait_for

#: llhttp's words for a field line without a colon, never shown to the client.
LLHTTP_WORDS = ("Invalid header", "Expected HTTP/", "llhttp", "Span callback")


def exchange(server: Server, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; everything until the server closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def access_lines(server: Server, count: int) -> list[str]:
    def lines() -> list[str] | None:
        if not server.access_log.exists():
            return None
        found = server.access_log.read_text().splitlines()
        return found if len(found) >= count else None

    found: list[str] = wait_for(lines, 10, f"{count} access log lines")
    return found


def test_refused_requests_are_logged_as_sent(make_server: Callable[..., Server], mpm: str) -> None:
    server = make_server(mpm=mpm)
    brew = exchange(server, b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
    bad_field = exchange(server, b"GET /tea HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n")
    higher = exchange(server, b"GET /v HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\n")

    assert brew.startswith(b"HTTP/1.1 501 Not Implemented\r\n")
    assert bad_field.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    # RFC 9112 §2.6: a higher minor version is served as 1.1.
    assert higher.startswith(b"HTTP/1.1 200 OK\r\n")
    page = bad_field.partition(b"\r\n\r\n")[2].decode("latin-1")
    assert "<h1>Bad Request</h1>" in page and "Malformed header field." in page
    assert not any(word in page for word in LLHTTP_WORDS), page

    lines = access_lines(server, 3)
    assert '"BREW /pot HTTP/1.1" 501 ' in lines[0]
    assert '"GET /tea HTTP/1.1" 400 ' in lines[1]
    assert '"GET /v HTTP/1.2" 200 ' in lines[2]

    rejected = server.wait_event("request_rejected", count=2)
    by_status = {event["status"]: event for event in rejected}
    assert by_status[501]["request_line"] == "BREW /pot HTTP/1.1"
    field = by_status[400]
    assert field["request_line"] == "GET /tea HTTP/1.1"
    assert field["reason"] == "malformed header field"
    assert field["detail"] != field["reason"]  # the parser's words, for the operator
    assert field["level"] == "debug"
