"""A real loopback server for the blocking driver: ``serve_connection`` in a
thread behind a listening socket on 127.0.0.1:0, and a small HTTP client that
parses responses itself (so pipelined responses are never lost to buffering)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mpmd.config.model import RequestLimits, RequestReadTimeout
from mpmd.http.blocking import ConnectionSettings, serve_connection
from mpmd.http.events import Request
from mpmd.http.exchange import Exchange, Handler, Transaction

WAIT = 5.0  # seconds any single wait in these tests may take at most


def settings(**changes: object) -> ConnectionSettings:
    base: dict[str, object] = {
        "keep_alive": True,
        "keep_alive_timeout": 5.0,
        "max_keep_alive_requests": 100,
        "timeout": WAIT,
        "limits": RequestLimits(),
        "read_timeout": RequestReadTimeout(),
        "server_header": "mpmd/test",
    }
    return ConnectionSettings(**{**base, **changes})  # type: ignore[arg-type]


@dataclass
class Observer:
    """Records what the driver reports, in order."""

    marks: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    txns: list[Transaction] = field(default_factory=list)

    def reading(self) -> None:
        self.marks.append("R")

    def handling(self, request: Request) -> None:
        self.marks.append("W")
        self.requests.append(request)

    def keepalive(self) -> None:
        self.marks.append("K")

    def closing(self) -> None:
        self.marks.append("C")

    def finished(self, txn: Transaction) -> None:
        self.marks.append("F")
        self.txns.append(txn)


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; repeated fields joined
    body: bytes
    head: bytes


class Client:
    """A raw HTTP/1.1 client over one socket, with its own buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        sock.settimeout(WAIT)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("server closed the connection")
        self.buf += data

    def _take_until(self, marker: bytes) -> bytes:
        for _ in range(10_000):
            end = self.buf.find(marker)
            if end >= 0:
                out, self.buf = self.buf[: end + len(marker)], self.buf[end + len(marker) :]
                return out
            self._fill()
        raise AssertionError("marker never came")

    def _take(self, count: int) -> bytes:
        for _ in range(100_000):
            if len(self.buf) >= count:
                out, self.buf = self.buf[:count], self.buf[count:]
                return out
            self._fill()
        raise AssertionError("body never came")

    def response(self, head_request: bool = False) -> Response:
        head = self._take_until(b"\r\n\r\n")
        first, *fields = head[:-4].decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in fields:
            name, _, value = line.partition(":")
            key = name.lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        status = int(first.split(" ")[1])
        return Response(status, headers, self._body(status, headers, head_request), head)

    def _body(self, status: int, headers: dict[str, str], head_request: bool) -> bytes:
        if head_request or status in (204, 304) or status < 200:
            return b""
        if headers.get("transfer-encoding") == "chunked":
            return self._chunks()
        if "content-length" in headers:
            return self._take(int(headers["content-length"]))
        return self.read_to_eof()

    def _chunks(self) -> bytes:
        body = b""
        for _ in range(100_000):
            size = int(self._take_until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                self._take_until(b"\r\n")  # no trailers from our server
                return body
            body += self._take(size)
            assert self._take(2) == b"\r\n"
        raise AssertionError("endless chunks")

    def read_to_eof(self) -> bytes:
        """Everything until the server closes; then close our side too (which
        ends the server's lingering close at once)."""
        for _ in range(100_000):
            try:
                self._fill()
            except EOFError:
                out, self.buf = self.buf, b""
                self.sock.close()
                return out
        raise AssertionError("no EOF")

    def closed(self) -> bool:
        """True when the server closed (EOF arrives with nothing more)."""
        return self.read_to_eof() == b""

    def get(self, target: str = "/", extra: str = "") -> Response:
        self.send(f"GET {target} HTTP/1.1\r\nHost: test\r\n{extra}\r\n".encode())
        return self.response()


class Server:
    """One listening socket; each ``connect()`` is served by ``serve_connection`` in a thread."""

    def __init__(
        self,
        handler: Handler,
        conn_settings: ConnectionSettings,
        draining: Callable[[], bool],
        wrap: Callable[[socket.socket], socket.socket] | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.handler, self.settings, self.draining, self.wrap = (
            handler,
            conn_settings,
            draining,
            wrap,
        )
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(WAIT)
        self.observer = Observer()
        self.served: list[int] = []
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self.clients: list[Client] = []

    def connect(self) -> Client:
        thread = threading.Thread(target=self._serve_one, daemon=True)
        thread.start()
        self.threads.append(thread)
        client = Client(socket.create_connection(self.listener.getsockname(), timeout=WAIT))
        self.clients.append(client)
        return client

    def _serve_one(self) -> None:
        try:
            sock, address = self.listener.accept()
            sock.settimeout(None)
            if self.wrap is not None:
                sock = self.wrap(sock)
            served = serve_connection(
                sock,
                address,
                self.listener.getsockname(),
                self.handler,
                self.settings,
                self.observer,
                self.draining,
                clock=self.clock,
            )
            self.served.append(served)
        except BaseException as exc:  # reported by wait()
            self.errors.append(exc)

    def wait(self) -> list[int]:
        """Wait for every connection to end; re-raise what a server thread raised."""
        deadline = time.monotonic() + WAIT
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            assert not thread.is_alive(), "serve_connection did not return"
        if self.errors:
            raise self.errors[0]
        return self.served

    def close(self) -> None:
        for client in self.clients:
            client.sock.close()
        self.listener.close()
        for thread in self.threads:
            thread.join(WAIT)


StartServer = Callable[..., Server]


# -- small handlers shared by the tests --


def hello(exchange: Exchange) -> None:
    body = b"hello " + exchange.request.target
    exchange.start_response(200, "OK", [("Content-Type", "text/plain"),
                                        ("Content-Length", str(len(body)))])  # fmt: skip
    exchange.write(body)


def echo(exchange: Exchange) -> None:
    body = exchange.input.read()
    exchange.start_response(200, "OK", [("Content-Length", str(len(body)))])
    exchange.write(body)


def stream(exchange: Exchange) -> None:
    exchange.start_response(200, "OK", [("Content-Type", "text/plain")])
    for piece in (b"one ", b"two ", b"three"):
        exchange.write(piece)
