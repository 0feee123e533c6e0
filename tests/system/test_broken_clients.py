"""Clients that break off mid-request or mid-response, under every MPM (issue 8, item 4).

A client may vanish at any byte: in the request head, in the body, or while the
response streams.  The serving child must survive (the same child pids before
and after), call the iterable's ``close()`` (PEP 3333: always), release the
socket (no fd growth over repeated disconnects) and serve the next connection.
A huge upload is streamed to ``wsgi.input`` piece by piece, never buffered whole,
and ``Expect: 100-continue`` is honoured both ways (RFC 9110 §10.1.1): a body
the server will refuse is refused before the client sends it.

Each server runs a single child (ServerLimit 1) so "the child survived" and
"its fds came back" are about the one process that served every connection.
"""

from __future__ import annotations

import http.client
import socket
import struct
import time
from collections.abc import Callable

import psutil
from harness import Server, wait_for

# The app records what it saw in marker files next to itself (one line per event),
# because it runs in the child: tests wait on them with deadlines.
BROKEN_APP = r'''
import io
import os

HERE = os.path.dirname(__file__)
PIECE = 64 * 1024
CHUNK = b"x" * PIECE


def mark(name, text):
    with open(os.path.join(HERE, name), "a") as f:
        f.write(text + "\n")


class BigBody:
    """2000 x 64 KiB, produced lazily; close() leaves a marker."""

    def __iter__(self):
        for _ in range(2000):
            yield CHUNK

    def close(self):
        mark("big.closed", str(os.getpid()))


class MarkedFile(io.FileIO):
    """A regular file (so wsgi.file_wrapper uses sendfile) whose close() leaves a
    marker; a close only from the garbage collector's __del__ does not count."""

    def close(self):
        if not self.closed:
            dying = getattr(self, "dying", False)
            mark("big.finalized" if dying else "big.closed", str(os.getpid()))
        super().close()

    def __del__(self):
        self.dying = True
        super().__del__()


def big_file():
    """128 MiB, sparse: costs no disk, but sendfile must still push every byte."""
    path = os.path.join(HERE, "big.bin")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.truncate(2000 * PIECE)
    return MarkedFile(path, "rb")


def upload(environ, start_response):
    mark("upload.started", str(os.getpid()))
    stream, total = environ["wsgi.input"], 0
    try:
        while piece := stream.read(PIECE):
            total += len(piece)
    except Exception as exc:
        mark("upload.error", type(exc).__name__)
        raise
    expected = int(environ.get("CONTENT_LENGTH") or total)
    if total != expected:
        mark("upload.short", "%d of %d" % (total, expected))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(total).encode()]


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/upload":
        return upload(environ, start_response)
    if path in ("/big", "/bigfile"):
        mark("big.started", str(os.getpid()))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return BigBody() if path == "/big" else environ["wsgi.file_wrapper"](big_file())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''

#: Waits are generous: other test suites share this 2-core machine.
WAIT = 30.0
MiB = 1024 * 1024


# -- helpers ----------------------------------------------------------------------


def start_one_child(make_server: Callable[..., Server], mpm: str, extra: str = "") -> Server:
    """A server with exactly one child; waits until that child is up."""
    server = make_server(mpm=mpm, app_source=BROKEN_APP, start_servers=1, server_limit=1,
                         extra=extra)
    wait_for(lambda: len(server.child_pids()) == 1, WAIT, "the one child")
    return server


def the_child(server: Server) -> psutil.Process:
    (pid,) = server.child_pids()
    return psutil.Process(pid)


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets RST, as from a crashed client."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def hang_up(sock: socket.socket, abortive: bool) -> None:
    """RST (a crashed client) or FIN (one that gave up)."""
    if abortive:
        reset(sock)
    else:
        sock.close()


def get_pid(server: Server) -> int:
    """One GET on a new connection; must be a 200 naming the serving child."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    try:
        conn.request("GET", "/pid")
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200, body
    return int(body)


def marker_lines(server: Server, name: str) -> list[str]:
    path = server.root / "app" / name
    return path.read_text().splitlines() if path.exists() else []


def wait_lines(read: Callable[[], list[str]], count: int, what: str) -> list[str]:
    """Wait until ``read()`` gives at least ``count`` lines; return them all."""
    lines: list[str] = wait_for(lambda: (got if len(got := read()) >= count else None),
                                WAIT, f"{count} x {what}")
    return lines


def wait_markers(server: Server, name: str, count: int = 1) -> list[str]:
    return wait_lines(lambda: marker_lines(server, name), count, f"marker {name}")


def client_sockets(child: psutil.Process) -> list[object]:
    """The child's TCP sockets other than the listener."""
    return [c for c in child.net_connections(kind="tcp") if c.status != psutil.CONN_LISTEN]


def wait_connections_closed(child: psutil.Process) -> None:
    """Every connection the child served is closed (none leaked, none stuck)."""
    wait_for(lambda: not client_sockets(child), WAIT, "the child to close its connections")


def assert_no_crash(server: Server, pids: set[int]) -> None:
    assert server.child_pids() == pids
    assert get_pid(server) in pids
    # A client that goes away ends its connection quietly (DESIGN "HTTP"): no
    # failure is logged as the server's or the app's, and no child exited.
    for event in ("connection_failed", "request_handler_failed", "wsgi_app_failed",
                  "child_exited"):
        assert not server.events(event), event


def recv_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while end not in data:
        chunk = sock.recv(65536)
        assert chunk, f"EOF before {end!r}: {data!r}"
        data += chunk
    return data


def recv_to_eof(sock: socket.socket, limit: float = WAIT) -> bytes:
    """Everything the server sends until it closes, which must be within ``limit``."""
    deadline, data = time.monotonic() + limit, b""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"no EOF within {limit} s: {data[:200]!r}")


# -- 1. mid-head ------------------------------------------------------------------

PARTIAL_HEADS = [
    b"GET /pid HT",
    b"GET /pid HTTP/1.1\r\nHost: x\r\nX-Half: ab",
    b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n",
]


def test_disconnect_mid_head_leaves_child_serving(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = start_one_child(make_server, mpm)
    pids, child = server.child_pids(), the_child(server)
    for head in PARTIAL_HEADS:
        for abortive in (False, True):
            sock = connect(server)
            sock.sendall(head)
            hang_up(sock, abortive)
            assert get_pid(server) in pids
    wait_connections_closed(child)
    assert not marker_lines(server, "upload.started")  # no half head reached the app
    assert_no_crash(server, pids)


def test_client_half_close_after_request_still_gets_the_response(
    make_server: Callable[..., Server], mpm: str
) -> None:
    """A client may shut down its sending side once its request is out (RFC 9112
    §9.6 only says it then cannot send more): the response still arrives whole."""
    server = start_one_child(make_server, mpm)
    pids, child = server.child_pids(), the_child(server)
    for target in (b"/pid", b"/upload"):
        sock = connect(server)
        sock.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" % target)
        sock.shutdown(socket.SHUT_WR)
        response = recv_to_eof(sock)
        sock.close()
        assert response.startswith(b"HTTP/1.1 200 "), response[:200]
        expected = b"5" if target == b"/upload" else str(child.pid).encode()
        assert response.endswith(b"\r\n\r\n" + expected), response
    assert_no_crash(server, pids)


def test_half_close_mid_head_gets_400(make_server: Callable[..., Server], mpm: str) -> None:
    """A client that shuts down its sending side with its head unfinished can
    still read: every MPM tells it why (400), the event MPM's poller included."""
    server = start_one_child(make_server, mpm)
    pids = server.child_pids()
    for head in PARTIAL_HEADS[1:]:  # EOF in the header section (Apache: 400 too)
        sock = connect(server)
        sock.sendall(head)
        sock.shutdown(socket.SHUT_WR)
        response = recv_to_eof(sock)
        sock.close()
        assert response.startswith(b"HTTP/1.1 400 "), response[:200]
        assert b"connection: close" in response.lower()
    assert not marker_lines(server, "upload.started")
    assert_no_crash(server, pids)


# -- 2. mid-body ------------------------------------------------------------------


def noticed(server: Server) -> list[str]:
    """What the app saw of short bodies: exceptions from wsgi.input, or short reads."""
    return marker_lines(server, "upload.error") + marker_lines(server, "upload.short")


def test_disconnect_mid_body_is_an_error_for_the_app(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = start_one_child(make_server, mpm)
    pids, child = server.child_pids(), the_child(server)
    for count, abortive in enumerate((False, True), 1):
        sock = connect(server)
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        wait_markers(server, "upload.started", count)  # the app is reading the body
        sock.sendall(b"y" * 1000)
        hang_up(sock, abortive)
        seen = wait_lines(lambda: noticed(server), count, "short body noticed by the app")
        assert len(seen) == count, seen  # an error or a short read, once per request
    wait_connections_closed(child)
    assert_no_crash(server, pids)


# -- 3. mid-response --------------------------------------------------------------


def abort_big_response(server: Server, path: str) -> None:
    """GET ``path``, take the head and a little body, then RST."""
    sock = connect(server)
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    data = recv_until(sock, b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 ")
    reset(sock)


#: A generator of 2000 x 64 KiB, and a 128 MiB file sent with wsgi.file_wrapper.
BIG_PATHS = ("/big", "/bigfile")


def test_disconnect_mid_response_closes_iterable_and_leaks_nothing(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = start_one_child(make_server, mpm)
    pids, child = server.child_pids(), the_child(server)
    for n, path in enumerate(BIG_PATHS, 1):  # warm-up: lazily opened files count in the baseline
        abort_big_response(server, path)
        wait_markers(server, "big.closed", n)
    wait_connections_closed(child)
    baseline = child.num_fds()
    rounds = 20  # half iterating a generator, half in sendfile
    for n in range(len(BIG_PATHS) + 1, len(BIG_PATHS) + rounds + 1):
        abort_big_response(server, BIG_PATHS[n % 2])
        assert wait_markers(server, "big.closed", n)[-1] == str(child.pid)
    wait_connections_closed(child)
    wait_for(lambda: child.num_fds() <= baseline, WAIT,
             f"the child's fds to return to {baseline}")
    assert len(marker_lines(server, "big.started")) == rounds + len(BIG_PATHS)
    assert not marker_lines(server, "big.finalized")  # every close() was the server's
    assert_no_crash(server, pids)


# -- 4. huge uploads are streamed -------------------------------------------------

UPLOAD_BYTES = 200 * MiB
RSS_GROWTH_LIMIT = 50 * MiB


def chunked(block: bytes, count: int) -> list[bytes]:
    framed = b"%x\r\n%s\r\n" % (len(block), block)
    return [framed] * count + [b"0\r\n\r\n"]


def upload_and_watch(server: Server, framing: bytes, pieces: list[bytes]) -> tuple[bytes, int]:
    """Send the head, wait for the app to start reading, stream the body while
    sampling the child's RSS; returns (response, peak RSS growth)."""
    started = len(marker_lines(server, "upload.started")) + 1
    sock = connect(server)
    sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + framing)
    pid = int(wait_markers(server, "upload.started", started)[-1])
    child = psutil.Process(pid)
    baseline = peak = child.memory_info().rss
    for n, piece in enumerate(pieces):
        sock.sendall(piece)
        if n % 8 == 0:
            peak = max(peak, child.memory_info().rss)
    response = recv_to_eof(sock)
    sock.close()
    return response, max(peak, child.memory_info().rss) - baseline


def test_huge_upload_is_streamed_not_buffered(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = start_one_child(make_server, mpm)  # 200 MiB < LimitRequestBody's 1 GiB default
    pids = server.child_pids()
    block = b"z" * MiB
    count = UPLOAD_BYTES // len(block)
    by_length = f"Content-Length: {UPLOAD_BYTES}\r\n\r\n".encode()
    by_chunks = b"Transfer-Encoding: chunked\r\n\r\n"
    for framing, pieces in ((by_length, [block] * count), (by_chunks, chunked(block, count))):
        response, growth = upload_and_watch(server, framing, pieces)
        assert response.startswith(b"HTTP/1.1 200 "), response[:200]
        assert response.endswith(b"\r\n\r\n%d" % UPLOAD_BYTES), response[-200:]
        assert growth < RSS_GROWTH_LIMIT, f"RSS grew {growth / MiB:.1f} MiB"
    assert not marker_lines(server, "upload.error")
    assert_no_crash(server, pids)


# -- 5. Expect: 100-continue ------------------------------------------------------

LIMIT = "LimitRequestBody 1000\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
#: Far below the body stage of RequestReadTimeout (20 s), which a server
#: waiting for the body would sit out before answering.
PROMPT = 5.0


def expect_head(length: bytes) -> bytes:
    return (b"POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Expect: 100-continue\r\n" + length + b"\r\n")


def test_expect_continue_over_limit_is_refused_before_the_body(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = start_one_child(make_server, mpm, extra=LIMIT)
    pids = server.child_pids()
    sock = connect(server)
    sock.sendall(expect_head(b"Content-Length: 10000000\r\n"))
    begun = time.monotonic()
    response = recv_to_eof(sock, PROMPT)  # no body byte was sent
    sock.close()
    assert time.monotonic() - begun < PROMPT
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    assert b"100 Continue" not in response
    assert b"\r\nConnection: close\r\n" in response.partition(b"\r\n\r\n")[0] + b"\r\n"
    assert not marker_lines(server, "upload.started")  # the app never ran
    assert_no_crash(server, pids)


def test_expect_continue_under_limit_gets_100_then_200(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = start_one_child(make_server, mpm, extra=LIMIT)
    sock = connect(server)
    sock.sendall(expect_head(b"Content-Length: 600\r\n"))
    interim = recv_until(sock, b"\r\n\r\n")
    assert interim == CONTINUE  # and nothing else before the body is sent
    sock.sendall(b"b" * 600)
    response = recv_to_eof(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 200 "), response[:200]
    assert response.endswith(b"\r\n\r\n600"), response  # the app read all 600 bytes


def test_expect_continue_chunked_over_limit_gets_100_then_413(
    make_server: Callable[..., Server], mpm: str
) -> None:
    """With no length to judge by, the body is invited and cut at the limit."""
    server = start_one_child(make_server, mpm, extra=LIMIT)
    pids = server.child_pids()
    sock = connect(server)
    sock.sendall(expect_head(b"Transfer-Encoding: chunked\r\n"))
    assert recv_until(sock, b"\r\n\r\n") == CONTINUE
    sock.sendall(b"".join(chunked(b"c" * 600, 2)))
    response = recv_to_eof(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 413 "), response[:200]
    assert wait_markers(server, "upload.error") == ["RemoteProtocolError"]
    assert_no_crash(server, pids)
