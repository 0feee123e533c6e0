"""What an application hands the server never corrupts the wire (issue 8, item 5).

Under every MPM, over raw loopback sockets with a strict response parser:

- a status or header carrying CR, LF or NUL (response splitting), or a header
  name that is not an RFC 9110 §5.6.2 token, gets a 500 and never reaches the
  wire; the failure is logged (``wsgi_app_failed``) and the connection carries
  the next request;
- PEP 3333 misuse of ``start_response`` (never called, called twice without
  ``exc_info``, a status that is not ``"999 Message"``, headers that are not a
  list of 2-tuples of str) is a 500; ``exc_info`` before the head was sent
  replaces the response; ``exc_info`` after it was sent re-raises and the
  connection is cut (a truncated response, never a second status line);
- HEAD, 204 and 304 never carry a body whatever the app returns (RFC 9110
  §9.3.2, §15.3.5, §15.4.5), checked byte-exactly with a pipelined follower;
- an app raising mid-iteration after the head went out gets its connection
  closed (no desync: a pipelined follower is never answered), its iterable
  closed, and its child keeps serving.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from harness import Server, wait_for

SAFETY_APP = r'''
import os
import sys

HERE = os.path.dirname(__file__)
TEXT = [("Content-Type", "text/plain")]
LEAK = b"LEAKED-BODY"


def mark(name, text):
    with open(os.path.join(HERE, name), "a") as f:
        f.write(text + "\n")


# Response splitting attempts: whatever gets through shows "Injected" on the wire.
BAD_RESPONSES = {
    "value-crlf": ("200 OK", [("X-Evil", "a\r\nInjected: yes")]),
    "value-lf": ("200 OK", [("X-Evil", "a\nInjected: yes")]),
    "value-cr": ("200 OK", [("X-Evil", "a\rInjected: yes")]),
    "value-nul": ("200 OK", [("X-Evil", "a\x00Injected: yes")]),
    "value-not-latin1": ("200 OK", [("X-Evil", "Injected \u20ac")]),
    "name-crlf": ("200 OK", [("Injected: yes\r\nX-Evil", "a")]),
    "name-lf": ("200 OK", [("Injected: yes\nX-Evil", "a")]),
    "name-cr": ("200 OK", [("X-Evil\rInjected", "yes")]),
    "name-nul": ("200 OK", [("X-Evil\x00Injected", "yes")]),
    "name-space": ("200 OK", [("X-Evil Injected", "yes")]),
    "name-colon": ("200 OK", [("X-Evil: Injected", "yes")]),
    "name-empty": ("200 OK", [("", "Injected")]),
    "status-crlf": ("200 OK\r\nInjected: yes", TEXT),
    "status-lf": ("200 OK\nInjected: yes", TEXT),
    "status-nul": ("200 OK\x00Injected", TEXT),
    # PEP 3333 "The start_response() Callable": status is a str "consisting of a
    # Status-Code and a Reason-Phrase, in that order and separated by a single
    # space" ("200" alone is not one); headers "a list of (header_name,
    # header_value) tuples", both str.
    "status-int": (200, TEXT),
    "status-bytes": (b"200 OK", TEXT),
    "status-no-reason": ("200", TEXT),
    "status-code-short": ("20 OK", TEXT),
    "status-code-letters": ("2xx OK", TEXT),
    "status-interim": ("100 Continue", TEXT),
    "headers-tuple": ("200 OK", (("Content-Type", "text/plain"),)),
    "headers-lists": ("200 OK", [["Content-Type", "text/plain"]]),
    "headers-bytes": ("200 OK", [(b"Content-Type", b"text/plain")]),
    "headers-triple": ("200 OK", [("Content-Type", "text/plain", "x")]),
    "headers-hop-by-hop": ("200 OK", [("Transfer-Encoding", "chunked")]),
}


class Closing:
    """An iterable that raises after its first piece; close() leaves a marker."""

    def __iter__(self):
        yield b"first part\n"
        raise RuntimeError("mid-iteration failure")

    def close(self):
        mark("closed", "mid-iteration")


def late_exc_info(start_response):
    yield b"first part\n"
    try:
        raise ValueError("late failure")
    except ValueError:
        start_response("500 Oops", TEXT, sys.exc_info())  # PEP 3333: re-raises
    yield b"never sent\n"


def misuse(kind, start_response):
    if kind == "no-start":
        return [LEAK]
    if kind == "no-start-empty":
        return []
    if kind == "twice":
        start_response("200 OK", TEXT)
        start_response("404 Not Found", TEXT)
        return [LEAK]
    if kind == "str-body":
        start_response("200 OK", TEXT)
        return ["a str, not bytes"]
    if kind == "exc-info-early":
        start_response("200 OK", TEXT)
        try:
            raise ValueError("early failure")
        except ValueError:
            start_response("500 Oops", TEXT, sys.exc_info())
        return [b"the app's own error page"]
    if kind == "exc-info-late":
        start_response("200 OK", TEXT)
        return late_exc_info(start_response)
    status, headers = BAD_RESPONSES[kind]
    start_response(status, headers)
    return [LEAK]


def bodiless(status, shape, start_response):
    headers = [("Content-Length", str(len(LEAK)))] if shape == "length" else []
    start_response(status, TEXT + headers)
    return iter([LEAK]) if shape == "gen" else [LEAK]


def app(environ, start_response):
    section, _, kind = environ["PATH_INFO"][1:].partition("/")
    if section == "bad":
        return misuse(kind, start_response)
    if section == "status":
        code, _, shape = kind.partition("/")
        reason = {"200": "OK", "204": "No Content", "304": "Not Modified"}[code]
        return bodiless(code + " " + reason, shape, start_response)
    if section == "raise":
        start_response("200 OK", TEXT + ([("Content-Length", "1000")] if kind else []))
        return Closing()
    start_response("200 OK", TEXT)
    return [b"ok"]
'''

WAIT = 30.0
FOLLOWER = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"


@dataclass(frozen=True)
class Response:
    status: int
    reason: bytes
    headers: dict[bytes, list[bytes]]
    body: bytes


class Wire:
    """A raw client connection that parses responses strictly (RFC 9112 §6.3)."""

    def __init__(self, server: Server) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
        self.buf = bytearray()
        self.raw = bytearray()  # every byte received, for "never on the wire" checks
        self.eof = False

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = b"" if self.eof else self.sock.recv(65536)
        self.eof = not data
        self.buf += data
        self.raw += data
        return bool(data)

    def _take(self, count: int) -> bytes:
        while len(self.buf) < count:
            assert self._fill(), f"EOF {count - len(self.buf)} bytes short"
        data = bytes(self.buf[:count])
        del self.buf[:count]
        return data

    def _line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            assert self._fill(), f"EOF in a line: {bytes(self.buf)!r}"
        return self._take(end + 2)[:-2]

    def response(self, method: str = "GET") -> Response:
        """The next response; its first byte must be exactly where the last one ended."""
        version, _, rest = self._line().partition(b" ")
        assert version == b"HTTP/1.1", f"not a status line: {version + b' ' + rest!r}"
        code, _, reason = rest.partition(b" ")
        headers: dict[bytes, list[bytes]] = {}
        while line := self._line():
            name, sep, value = line.partition(b":")
            assert sep and name.strip() == name, f"bad field line {line!r}"
            headers.setdefault(name.lower(), []).append(value.strip())
        status = int(code)
        return Response(status, reason, headers, self._body(method, status, headers))

    def _body(self, method: str, status: int, headers: dict[bytes, list[bytes]]) -> bytes:
        if method == "HEAD" or status in (204, 304):
            return b""
        if headers.get(b"transfer-encoding") == [b"chunked"]:
            return self._chunks()
        if b"content-length" in headers:
            (length,) = headers[b"content-length"]
            return self._take(int(length))
        return self.rest()

    def _chunks(self) -> bytes:
        body = b""
        while size := int(self._line().split(b";")[0], 16):
            body += self._take(size)
            assert self._take(2) == b"\r\n"
        assert self._line() == b""  # no trailers
        return body

    def rest(self) -> bytes:
        """Everything up to EOF (which must come within the socket timeout)."""
        while self._fill():
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data


def request(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def start(make_server: Callable[..., Server], mpm: str) -> tuple[Server, set[int]]:
    """A server with one child (ServerLimit 1): "the child survived" is about the
    process that served every connection."""
    server = make_server(mpm=mpm, app_source=SAFETY_APP, start_servers=1, server_limit=1)
    wait_for(lambda: len(server.child_pids()) == 1, WAIT, "the one child")
    return server, server.child_pids()


def assert_ok(wire: Wire) -> None:
    response = wire.response()
    assert (response.status, response.body) == (200, b"ok")


def assert_children_serve(server: Server, pids: set[int]) -> None:
    """No child died, and a fresh connection is served."""
    assert server.child_pids() == pids
    wire = Wire(server)
    wire.send(request("/ok"))
    assert_ok(wire)
    wire.close()


def failure_causes(server: Server, count: int) -> dict[str, str]:
    """Target -> exception of ``count`` logged ``wsgi_app_failed`` events, all
    before the head was sent (a typo'd case would show as a KeyError here)."""
    failures = server.wait_event("wsgi_app_failed", WAIT, count)
    assert len(failures) == count
    assert all(f["level"] == "error" and f["headers_sent"] is False for f in failures)
    causes = {}
    for failure in failures:
        last = failure["exception"].strip().splitlines()[-1]
        protocol = last.startswith("mpmd.app.wsgi.WSGIProtocolError: ")
        causes[failure["target"]] = "WSGIProtocolError" if protocol else last
    return causes


# -- B1, B2: bad heads and start_response misuse ----------------------------------

INJECTIONS = [
    "value-crlf", "value-lf", "value-cr", "value-nul", "value-not-latin1",
    "name-crlf", "name-lf", "name-cr", "name-nul", "name-space", "name-colon", "name-empty",
    "status-crlf", "status-lf", "status-nul",
]
MISUSES = [
    "status-int", "status-bytes", "status-no-reason", "status-code-short",
    "status-code-letters", "status-interim", "headers-tuple", "headers-lists",
    "headers-bytes", "headers-triple", "headers-hop-by-hop",
    "no-start", "no-start-empty", "twice", "str-body",
]


def test_unsafe_status_and_headers_become_500_and_never_reach_the_wire(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server, pids = start(make_server, mpm)
    wire = Wire(server)
    for kind in INJECTIONS:  # one keep-alive connection: each 500 must leave it in sync
        wire.send(request(f"/bad/{kind}"))
        response = wire.response()
        assert response.status == 500, kind
        assert b"Internal Server Error" in response.body, kind
    wire.send(FOLLOWER)
    assert_ok(wire)
    wire.close()
    assert b"Injected" not in wire.raw and b"LEAKED" not in wire.raw
    causes = failure_causes(server, len(INJECTIONS))
    assert causes == {f"/bad/{kind}": "WSGIProtocolError" for kind in INJECTIONS}
    assert_children_serve(server, pids)


def test_start_response_misuse_is_a_500(make_server: Callable[..., Server], mpm: str) -> None:
    server, pids = start(make_server, mpm)
    wire = Wire(server)
    wire.send(b"".join(request(f"/bad/{kind}") for kind in MISUSES) + FOLLOWER)  # pipelined
    for kind in MISUSES:
        response = wire.response()
        assert (response.status, response.reason) == (500, b"Internal Server Error"), kind
    assert_ok(wire)
    wire.close()
    assert b"LEAKED" not in wire.raw and b"a str" not in wire.raw
    causes = failure_causes(server, len(MISUSES))
    # A 1xx passes PEP 3333's "999 Message" shape; the exchange refuses it as final.
    interim = {"/bad/status-interim": "ValueError: status 100 is not a final status"}
    assert causes == {f"/bad/{kind}": "WSGIProtocolError" for kind in MISUSES} | interim
    assert_children_serve(server, pids)


def test_exc_info_before_the_head_replaces_the_response(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server, _ = start(make_server, mpm)
    wire = Wire(server)
    wire.send(request("/bad/exc-info-early") + FOLLOWER)
    response = wire.response()
    assert (response.status, response.reason) == (500, b"Oops")
    assert response.body == b"the app's own error page"
    assert_ok(wire)
    wire.close()
    assert not server.events("wsgi_app_failed")  # PEP 3333 allows it: not a failure


def test_exc_info_after_the_head_cuts_the_connection(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server, pids = start(make_server, mpm)
    wire = Wire(server)
    wire.send(request("/bad/exc-info-late") + FOLLOWER)
    raw = wire.rest()  # everything until the server closes
    wire.close()
    assert raw.count(b"HTTP/1.1 ") == 1, raw  # no second status line, no follower answer
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    # The first chunk and no last chunk: a cut a client can see (RFC 9112 §8).
    assert raw.partition(b"\r\n\r\n")[2] == b"b\r\nfirst part\n\r\n"
    failure = server.wait_event("wsgi_app_failed", WAIT)[0]
    assert failure["headers_sent"] is True and "late failure" in str(failure)
    assert_children_serve(server, pids)


# -- B3: HEAD, 204 and 304 carry no body -----------------------------------------

BODILESS = [
    ("HEAD", "/ok"),
    ("HEAD", "/status/200/list"),
    ("HEAD", "/status/200/gen"),
    ("HEAD", "/status/200/length"),
    ("GET", "/status/204/list"),
    ("GET", "/status/204/gen"),
    ("GET", "/status/204/length"),
    ("GET", "/status/304/list"),
    ("GET", "/status/304/gen"),
    ("GET", "/status/304/length"),
]


def test_head_204_and_304_never_carry_a_body(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server, _ = start(make_server, mpm)
    wire = Wire(server)
    # All pipelined in one write, each followed by a GET: a stray body byte would
    # be read as the start of the follower's response and fail the parse.
    wire.send(b"".join(request(path, method) + FOLLOWER for method, path in BODILESS))
    for method, path in BODILESS:
        response = wire.response(method)
        expected = int(path.split("/")[2]) if path.startswith("/status/") else 200
        assert response.status == expected, path
        if expected == 204:  # RFC 9110 §8.6: a 204 never has a Content-Length
            assert b"content-length" not in response.headers, path
        assert b"transfer-encoding" not in response.headers, path
        assert_ok(wire)
    assert not wire.buf  # nothing beyond the last response
    wire.close()
    assert b"LEAKED" not in wire.raw


# -- B4: an app failing mid-body --------------------------------------------------


@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_app_raising_mid_body_cuts_the_connection(
    make_server: Callable[..., Server], mpm: str, framing: str
) -> None:
    server, pids = start(make_server, mpm)
    wire = Wire(server)
    path = "/raise/" + ("length" if framing == "length" else "")
    wire.send(request(path) + FOLLOWER)
    raw = wire.rest()
    wire.close()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert raw.count(b"HTTP/1.1 ") == 1, raw  # the follower is never answered
    head, _, body = raw.partition(b"\r\n\r\n")
    if framing == "length":
        assert b"\r\nContent-Length: 1000" in head and body == b"first part\n"
    else:
        assert b"\r\nTransfer-Encoding: chunked" in head and body == b"b\r\nfirst part\n\r\n"
    assert server.wait_event("wsgi_app_failed", WAIT)[0]["headers_sent"] is True
    wait_for(lambda: (server.root / "app" / "closed").exists(), WAIT, "close() of the iterable")
    assert_children_serve(server, pids)
