"""An in-memory Exchange that records what a handler sent (status, headers, body)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

from mpmd.http.events import Request
from mpmd.http.exchange import Address


def make_request(
    method: str = "GET",
    target: bytes = b"/",
    headers: tuple[tuple[bytes, bytes], ...] = (),
    *,
    http_version: str = "1.1",
    content_length: int | None = None,
    chunked: bool = False,
) -> Request:
    path, _, query = target.partition(b"?")
    return Request(
        method=method, target=target, path=path, query=query, http_version=http_version,
        headers=headers, keep_alive=True, expect_continue=False,
        content_length=content_length, chunked=chunked,
    )


class FakeInput:
    """``wsgi.input`` over bytes (the driver de-chunks; so does this)."""

    def __init__(self, body: bytes) -> None:
        self._stream = io.BytesIO(body)

    def read(self, size: int = -1, /) -> bytes:
        return self._stream.read(size)

    def readline(self, size: int = -1, /) -> bytes:
        return self._stream.readline(size)

    def readlines(self, hint: int = -1, /) -> list[bytes]:
        return self._stream.readlines(hint)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._stream)


class FakeExchange:
    """Records the response.  ``fail_writes`` makes every write raise BrokenPipeError
    (a client that went away)."""

    def __init__(
        self,
        request: Request | None = None,
        *,
        body: bytes = b"",
        client: Address = ("127.0.0.1", 50000),
        server: Address = ("127.0.0.1", 8080),
        scheme: str = "http",
        fail_writes: bool = False,
    ) -> None:
        self.request = request or make_request()
        self.input = FakeInput(body)
        self.client = client
        self.server = server
        self.scheme = scheme
        self.fail_writes = fail_writes
        self.status: int | None = None
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.writes: list[bytes] = []
        self.sendfiles: list[tuple[int, int]] = []
        self.finished = False
        self.close_requested = False
        self._sent = False

    @property
    def headers_sent(self) -> bool:
        return self._sent

    def start_response(self, status: int, reason: str, headers: list[tuple[str, str]]) -> None:
        # Records only: the header checks belong to the code under test (the WSGI
        # adapter's, and mpmd.http.framing's, tested on their own), never to a fake.
        if self._sent:
            raise RuntimeError("head already sent")
        self.status, self.reason, self.headers = status, reason, list(headers)

    def _send(self, data: bytes) -> None:
        if self.status is None:
            raise RuntimeError("body before start_response")
        if self.fail_writes:
            raise BrokenPipeError("client went away")
        self._sent = True
        self.body += data

    def write(self, data: bytes) -> None:
        self._send(data)
        self.writes.append(bytes(data))

    def sendfile(self, file: BinaryIO, offset: int, count: int) -> None:
        file.seek(offset)
        self._send(file.read(count))
        self.sendfiles.append((offset, count))

    def finish(self) -> None:
        if self.status is None:
            raise RuntimeError("finish before start_response")
        self._sent = True
        self.finished = True

    def set_close(self) -> None:
        self.close_requested = True

    def header(self, name: str) -> str | None:
        """The first response header ``name`` (case-insensitive)."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None
