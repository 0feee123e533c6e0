"""Events of the sans-I/O HTTP/1.1 core.

:class:`mpmd.http.connection.HTTPConnection` turns received bytes into these
events; drivers (blocking sockets, the event MPM's poller) and handlers only
ever see these types, never httptools.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Request:
    """A complete request head.

    ``target`` is the raw request-target; ``path`` its undecoded path part and
    ``query`` what follows ``?`` (without it).  ``headers`` keeps the client's
    order and spelling of names (values without surrounding whitespace).
    """

    method: str  # "GET"
    target: bytes
    path: bytes
    query: bytes
    http_version: str  # "1.1" or "1.0"
    headers: tuple[tuple[bytes, bytes], ...]
    keep_alive: bool  # what the client asked for (version default + Connection header)
    expect_continue: bool  # "Expect: 100-continue" was sent
    content_length: int | None  # None: no Content-Length (chunked or no body)
    chunked: bool
    #: The request line as sent, when "method target HTTP/version" would not
    #: say it (HTTP/1.2 served as 1.1, a refused request); else empty.
    request_line: bytes = b""

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (case-insensitive, lower-case argument)."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Data:
    """A piece of the request body (already de-chunked)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class EndOfMessage:
    """The request body is complete.  ``trailers`` from a chunked body, if any."""

    trailers: tuple[tuple[bytes, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed its side between requests."""


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: ``next_event()`` needs more bytes before it can say anything.
NEED_DATA = _Sentinel("NEED_DATA")
#: ``next_event()`` has a complete request pending whose response is not finished
#: (pipelining: the next request waits until ``start_next_cycle()``).
PAUSED = _Sentinel("PAUSED")

Event = Request | Data | EndOfMessage | ConnectionClosed
