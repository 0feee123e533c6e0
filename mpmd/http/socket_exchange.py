"""The handler's view of one request over a blocking :class:`Channel`.

:class:`BodyReader` is ``wsgi.input``: de-chunked body bytes pulled from the
core on demand, ``100 Continue`` sent on the first read if the client waits for
it, the RequestReadTimeout body stage enforced (408).  :class:`SocketExchange`
is the :class:`mpmd.http.exchange.Exchange` contract: the head goes out with
the first body bytes in a single ``send`` (no delayed-ACK stall), ``sendfile``
uses ``os.sendfile`` whatever the framing, ``finish`` is idempotent.

Both are used by every MPM that serves a request on one thread (prefork and
worker for whole connections, event for single requests).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from typing import BinaryIO

from mpmd.config.model import ReadTimeoutStage
from mpmd.http import pages
from mpmd.http.channel import Channel
from mpmd.http.connection import State
from mpmd.http.errors import LocalProtocolError, RemoteProtocolError
from mpmd.http.events import Data, EndOfMessage, Request
from mpmd.http.exchange import Address, InputStream
from mpmd.http.framing import check_headers
from mpmd.http.timeouts import ReadDeadline

#: Stands in for the request when none could be parsed (a 400 or 408 answered
#: before a head was complete): ``method == ""``.  Access logs print "-" for ``%r``.
UNPARSED = Request(
    method="",
    target=b"",
    path=b"",
    query=b"",
    http_version="1.1",
    headers=(),
    keep_alive=False,
    expect_continue=False,
    content_length=None,
    chunked=False,
)


_VERSION = re.compile(rb"HTTP/([0-9]\.[0-9])\Z")


def refused_request(line: bytes | None) -> Request:
    """The request a refused one is logged as: the request line as sent (Apache's
    ``%r`` is ``the_request``), and what of method, target and version it gives."""
    if not line:
        return UNPARSED
    words = line.split(b" ")
    version = _VERSION.match(words[-1]) if len(words) > 2 else None
    target = b" ".join(words[1:-1] if version else words[1:])
    path, _, query = target.partition(b"?")
    return dataclasses.replace(
        UNPARSED,
        method=words[0].decode("latin-1"),
        target=target,
        path=path,
        query=query,
        http_version=version[1].decode("ascii") if version else "1.1",
        request_line=line,
    )


class BodyReader:
    """The request body as PEP 3333's ``wsgi.input`` (see the module docstring)."""

    __slots__ = ("_buf", "_ch", "_deadline", "_done", "_request", "_stage")

    def __init__(self, channel: Channel, request: Request, stage: ReadTimeoutStage) -> None:
        self._ch, self._request, self._stage = channel, request, stage
        self._buf = bytearray()
        self._deadline: ReadDeadline | None = None
        self._done = request is UNPARSED
        if not (self._done or request.chunked or request.content_length):
            self._take_end()

    def read(self, size: int = -1, /) -> bytes:
        while not self._done and (size < 0 or len(self._buf) < size):
            self._fill()
        return self._take(len(self._buf) if size < 0 else size)

    def readline(self, size: int = -1, /) -> bytes:
        while True:
            end = self._buf.find(b"\n") + 1
            if end or self._done or 0 <= size <= len(self._buf):
                break
            self._fill()
        if not end:
            end = len(self._buf)
        return self._take(end if size < 0 else min(end, size))

    def readlines(self, hint: int = -1, /) -> list[bytes]:
        lines, total = [], 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def drain(self, limit: int) -> bool:
        """Discard the rest of the body (at most ``limit`` bytes); True if it ended."""
        try:
            while not self._done and len(self._buf) <= limit:
                self._fill()
        except (OSError, RemoteProtocolError):
            return False
        self._buf.clear()
        return self._done

    def _take_end(self) -> None:
        """A request without body: its EndOfMessage is queued already; take it now
        (no 100 Continue, no body timer), so the client side is DONE."""
        event = self._ch.conn.next_event()
        if type(event) is not EndOfMessage:
            raise LocalProtocolError(f"expected the end of a bodiless request, got {event!r}")
        self._done = True

    def _take(self, size: int) -> bytes:
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def _fill(self) -> None:
        """One event from the core: body bytes, or the end."""
        if self._deadline is None:
            self._start()
        try:
            event = self._ch.next_event(self._deadline)
        except TimeoutError:
            error = RemoteProtocolError("request body read timeout", 408)
            self._ch.conn.fail(error)
            raise error from None
        if type(event) is Data:
            self._buf += event.data
        elif type(event) is EndOfMessage:
            self._done = True
        else:
            raise LocalProtocolError(f"unexpected {event!r} while reading a request body")

    def _start(self) -> None:
        """First read: the body stage begins, and a waiting client gets 100 Continue."""
        self._deadline = ReadDeadline(self._stage, self._ch.clock())
        conn = self._ch.conn
        if self._request.expect_continue and conn.states == (State.SEND_BODY, State.SEND_RESPONSE):
            self._ch.send(conn.send_continue())


class SocketExchange:
    """One request and its response over a Channel (the Exchange contract)."""

    __slots__ = (
        "_ch",
        "_date",
        "_draining",
        "_finished",
        "_sent",
        "body_bytes",
        "client",
        "headers",
        "input",
        "reason",
        "request",
        "scheme",
        "server",
        "status",
    )

    def __init__(
        self,
        channel: Channel,
        request: Request,
        body: BodyReader,
        client: Address,
        server: Address,
        date: Callable[[], str],
        draining: Callable[[], bool],
    ) -> None:
        self._ch, self.request = channel, request
        self.input: InputStream = body
        self.client, self.server, self.scheme = client, server, "http"
        self._date, self._draining = date, draining
        self._sent = self._finished = False
        self.status, self.reason = 0, ""
        self.headers: list[tuple[str, str]] = []
        self.body_bytes = 0

    @property
    def headers_sent(self) -> bool:
        return self._sent

    def start_response(self, status: int, reason: str, headers: list[tuple[str, str]]) -> None:
        if self._sent:
            raise LocalProtocolError("the response head was sent already")
        if not 200 <= status <= 999:
            raise ValueError(f"status {status} is not a final status")
        check_headers(headers)
        self.status, self.reason, self.headers = status, reason, list(headers)

    def write(self, data: bytes) -> None:
        """Send body bytes; the first call sends the head with them in one ``send``
        (``write(b"")`` sends just the head)."""
        head = b"" if self._sent else self._head()
        framed = self._ch.conn.send_data(data)
        if framed:
            self.body_bytes += len(data)
        if head or framed:
            self._ch.send(head + framed)

    def sendfile(self, file: BinaryIO, offset: int, count: int) -> None:
        """``count`` bytes of ``file`` from ``offset``; os.sendfile under any framing
        (chunked wraps them in one chunk).  A short file breaks the response."""
        head = b"" if self._sent else self._head()
        framing = self._ch.conn.frame_data(max(count, 0))
        if framing is None:  # HEAD, 204, 304: no body goes out
            if head:
                self._ch.send(head)
            return
        prefix, suffix = framing
        sent = self._ch.send_file(head + prefix, file, offset, count)
        self.body_bytes += sent
        if sent < count:
            self._ch.conn.set_close()
            raise LocalProtocolError(f"file ended {count - sent} bytes early")
        if suffix:
            self._ch.send(suffix)

    def finish(self) -> None:
        """End the response; sends the head first if nothing was written.  Idempotent."""
        if self._finished:
            return
        head = b"" if self._sent else self._head(empty=True)
        self._finished = True
        tail = head + self._ch.conn.send_eom()
        if tail:
            self._ch.send(tail)

    def set_close(self) -> None:
        self._ch.conn.set_close()

    def respond_error(self, status: int, detail: str = "", *, close: bool = True) -> None:
        """Replace whatever the handler set by a short HTML error page (and close)."""
        body = pages.error_page(status, detail)
        if close:
            self.set_close()
        self.start_response(status, pages.reason(status), pages.page_headers(body))
        self.write(body)
        self.finish()

    def _head(self, empty: bool = False) -> bytes:
        """The head, built now; ``empty``: no body will follow (lets us say Content-Length: 0)."""
        if not self.status:
            raise LocalProtocolError("no start_response() before the response")
        conn = self._ch.conn
        if self._draining():  # a draining child answers this one, then closes
            conn.set_close()
        headers = self.headers
        if empty and _may_announce_empty(self.status, self.request, headers):
            headers = [*headers, ("Content-Length", "0")]
        data = conn.send_response(self.status, self.reason, headers, date=self._date())
        self._sent = True
        return data


def _may_announce_empty(status: int, request: Request, headers: list[tuple[str, str]]) -> bool:
    """An empty body may be announced as Content-Length: 0 (not for HEAD, 204, 304:
    their Content-Length, if any, describes another response)."""
    if status in (204, 304) or request.method == "HEAD":
        return False
    return not any(name.lower() == "content-length" for name, _ in headers)
