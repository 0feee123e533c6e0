"""serve_connection on real loopback sockets: keep-alive, pipelining, bodies,
100-continue, streaming, sendfile, draining, and one-send responses."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from collections.abc import Iterator

import pytest

from mpmd.http.blocking import serve_connection
from mpmd.http.exchange import Exchange

from .http_server import WAIT, Observer, StartServer, echo, hello, settings, stream


def test_keep_alive_serves_three_requests_on_one_connection(start_server: StartServer) -> None:
    server = start_server(hello)
    client = server.connect()
    for i in range(3):
        response = client.get(f"/{i}")
        assert (response.status, response.body) == (200, f"hello /{i}".encode())
        assert "connection" not in response.headers
        assert response.headers["server"] == "mpmd/test" and "date" in response.headers
    client.sock.shutdown(socket.SHUT_WR)
    assert client.closed()
    assert server.wait() == [3]
    marks = server.observer.marks
    assert marks == ["R", "W", "F", "K", "R", "W", "F", "K", "R", "W", "F", "K", "C"]
    txns = server.observer.txns
    assert [t.keepalive_count for t in txns] == [0, 1, 2]
    assert all(t.status == 200 and t.body_bytes == 8 for t in txns)
    assert txns[0].bytes_received == len(b"GET /0 HTTP/1.1\r\nHost: test\r\n\r\n")


def test_pipelined_requests_are_answered_in_order(start_server: StartServer) -> None:
    server = start_server(hello)
    client = server.connect()
    client.send(b"".join(b"GET /p%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(3)))
    assert [client.response().body for _ in range(3)] == [b"hello /p0", b"hello /p1", b"hello /p2"]


def test_chunked_upload(start_server: StartServer) -> None:
    client = start_server(echo).connect()
    client.send(
        b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    response = client.response()
    assert (response.status, response.body) == (200, b"hello world")
    assert client.get("/after").status == 200  # still keep-alive


def test_100_continue_is_sent_when_the_handler_reads(start_server: StartServer) -> None:
    client = start_server(echo).connect()
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    interim = client.response()
    assert interim.status == 100
    client.send(b"data")
    response = client.response()
    assert (response.status, response.body) == (200, b"data")
    assert "connection" not in response.headers


def test_no_100_continue_when_the_handler_ignores_the_body(start_server: StartServer) -> None:
    server = start_server(hello)
    client = server.connect()
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    response = client.response()
    assert response.status == 200  # the final answer, no interim 100 before it
    assert response.headers["connection"] == "close"
    assert client.closed()


def test_streaming_response_is_chunked(start_server: StartServer) -> None:
    client = start_server(stream).connect()
    response = client.get()
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.body == b"one two three"


def test_http10_streaming_response_is_close_delimited(start_server: StartServer) -> None:
    client = start_server(stream).connect()
    client.send(b"GET / HTTP/1.0\r\n\r\n")
    response = client.response()
    assert response.headers["connection"] == "close"
    assert "transfer-encoding" not in response.headers
    assert response.body == b"one two three"


@pytest.fixture
def data_file() -> Iterator[tuple[str, bytes]]:
    content = os.urandom(200_000)
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(content)
    yield f.name, content
    os.unlink(f.name)


@pytest.mark.parametrize("length", [True, False])
def test_sendfile(start_server: StartServer, data_file: tuple[str, bytes], length: bool) -> None:
    path, content = data_file

    def send(exchange: Exchange) -> None:
        headers = [("Content-Length", str(len(content) - 100))] if length else []
        exchange.start_response(200, "OK", headers)
        with open(path, "rb") as f:
            exchange.sendfile(f, 100, len(content) - 100)

    client = start_server(send).connect()
    response = client.get()
    assert response.body == content[100:]
    assert ("transfer-encoding" in response.headers) is not length
    client.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
    head = client.response(head_request=True)
    assert head.status == 200 and client.get().body == content[100:]  # nothing leaked


def test_head_request_gets_no_body(start_server: StartServer) -> None:
    client = start_server(hello).connect()
    client.send(b"HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n")
    response = client.response(head_request=True)
    assert response.headers["content-length"] == str(len(b"hello /h"))
    assert client.get("/next").body == b"hello /next"  # no stray body bytes before it


def test_keep_alive_timeout_closes_quietly(start_server: StartServer) -> None:
    server = start_server(hello, settings(keep_alive_timeout=0.2))
    client = server.connect()
    assert client.get().status == 200
    assert client.closed()
    assert server.wait() == [1]
    assert server.observer.marks[-2:] == ["K", "C"]


def test_max_keep_alive_requests(start_server: StartServer) -> None:
    server = start_server(hello, settings(max_keep_alive_requests=2))
    client = server.connect()
    assert "connection" not in client.get().headers
    assert client.get().headers["connection"] == "close"
    assert client.closed()
    assert server.wait() == [2]


def test_keep_alive_off_closes_after_each_response(start_server: StartServer) -> None:
    server = start_server(hello, settings(keep_alive=False))
    client = server.connect()
    assert client.get().headers["connection"] == "close"
    assert client.closed()


def test_draining_answers_with_connection_close(start_server: StartServer) -> None:
    draining = {"on": False}
    server = start_server(hello, draining=lambda: draining["on"])
    client = server.connect()
    assert "connection" not in client.get().headers
    draining["on"] = True  # the connection is idle in keep-alive now: it still waits
    response = client.get("/late")
    assert response.status == 200 and response.headers["connection"] == "close"
    assert client.closed()
    assert server.wait() == [2]


class CountingSocket(socket.socket):
    """Counts the calls that put bytes on the wire, and notes TCP_NODELAY."""

    sends = 0
    nodelay = False

    def setsockopt(self, level, option, value, *rest):  # type: ignore[no-untyped-def,override]
        if (level, option, value) == (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1):
            type(self).nodelay = True
        return super().setsockopt(level, option, value, *rest)

    def sendall(self, data, flags=0):  # type: ignore[no-untyped-def,override]
        type(self).sends += 1
        return super().sendall(data, flags)

    def send(self, data, flags=0):  # type: ignore[no-untyped-def,override]
        type(self).sends += 1
        return super().send(data, flags)


def test_head_and_small_body_leave_in_one_send(start_server: StartServer) -> None:
    CountingSocket.sends, CountingSocket.nodelay = 0, False

    def wrap(sock: socket.socket) -> socket.socket:
        return CountingSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())

    server = start_server(hello, wrap=wrap)
    client = server.connect()
    for i in range(3):
        assert client.get(f"/{i}").status == 200
    assert CountingSocket.sends == 3  # one send per response, head and body together
    assert CountingSocket.nodelay
    client.sock.close()
    server.wait()
    total = sum(t.bytes_sent for t in server.observer.txns)
    assert total > 3 * len(b"hello /0")


def test_unix_socket_server() -> None:
    left, right = socket.socketpair()
    observer = Observer()
    served: list[int] = []
    thread = threading.Thread(
        target=lambda: served.append(
            serve_connection(left, "", "/run/x.sock", hello, settings(), observer, lambda: False)
        )
    )
    thread.start()
    right.sendall(b"GET /u HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    right.settimeout(WAIT)
    data = b""
    for _ in range(100):
        piece = right.recv(65536)
        if not piece:
            break
        data += piece
    right.close()
    thread.join(WAIT)
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"hello /u")
    assert served == [1] and observer.txns[0].server == "/run/x.sock"
