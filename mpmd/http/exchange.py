"""The contract between a connection driver and a request handler.

A driver (blocking sockets in prefork and worker, the worker threads of the
event MPM) owns the socket and the sans-I/O core.  For each request it builds
an :class:`Exchange` and calls the handler (WSGI, static files,
server-status).  The handler reads the body and writes the response only
through the exchange, so every handler works under every MPM.

When the handler returns, the driver finishes the response if the handler did
not, and reports a :class:`Transaction` (what the access log and the
scoreboard record).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from mpmd.http.events import Request

#: A peer or local address as the socket module gives it: ("host", port) for
#: TCP (IPv6 tuples are cut to their first two items), or a path for Unix sockets.
Address = tuple[str, int] | str


class InputStream(Protocol):
    """The request body as PEP 3333's ``wsgi.input`` (also used by other handlers).

    Reading past the end returns ``b""``.  The first read sends ``100 Continue``
    when the client asked for it.  A body over LimitRequestBody raises
    :class:`mpmd.http.errors.RemoteProtocolError` with ``status_hint`` 413.
    """

    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...

    def readlines(self, hint: int = -1, /) -> list[bytes]: ...

    def __iter__(self) -> Iterator[bytes]: ...


class Exchange(Protocol):
    """One request and its response, as a handler sees it."""

    request: Request
    input: InputStream
    client: Address
    server: Address
    scheme: str  # "http"

    @property
    def headers_sent(self) -> bool: ...

    def start_response(
        self, status: int, reason: str, headers: list[tuple[str, str]]
    ) -> None:
        """Set (or, before anything was sent, replace) the status and headers.

        Nothing is sent yet.  The driver adds ``Date``, ``Server`` and the
        framing headers (Content-Length kept if the handler set it, else chunked
        for HTTP/1.1 or close-delimited for 1.0) and ``Connection: close`` when
        the connection will close.  Raises ``ValueError`` for header names or
        values with CR, LF or NUL.
        """

    def write(self, data: bytes) -> None:
        """Send body bytes.  The first call sends head and data in one ``send``."""

    def sendfile(self, file: BinaryIO, offset: int, count: int) -> None:
        """Send ``count`` bytes of ``file`` from ``offset`` (``os.sendfile`` when
        the framing allows it, e.g. a Content-Length response)."""

    def finish(self) -> None:
        """End the response (sends the head if nothing was written, and the last
        chunk of a chunked body).  Idempotent."""

    def set_close(self) -> None:
        """Close the connection after this response (adds ``Connection: close``)."""


#: A request handler: serves one exchange; exceptions are the driver's to turn
#: into a 500 (or a cut connection if the head was already sent).
Handler = Callable[[Exchange], None]


@dataclass(frozen=True, slots=True)
class Transaction:
    """What happened to one request: the access log's and the scoreboard's input."""

    request: Request
    client: Address
    server: Address
    status: int
    response_headers: tuple[tuple[str, str], ...]
    body_bytes: int  # body bytes sent (%B)
    bytes_sent: int  # all bytes sent, head included (%O)
    bytes_received: int  # head and body bytes read (%I)
    started: float  # wall-clock time.time() when the request line arrived
    duration_ns: int  # from the request line to the end of the response
    keepalive_count: int  # requests served on this connection before this one (%k)
