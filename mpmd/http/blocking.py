"""Blocking connection driver: serve one accepted socket, request after request.

The thread that accepted a connection (a prefork child, a worker thread) calls
:func:`serve_connection` and gets it back when the connection is over, as in
Apache's ``ap_process_http_sync_connection``:

1. read a request head within the RequestReadTimeout header stage (which for
   the first request starts at accept, for later ones at their first byte);
2. run the handler on a :class:`SocketExchange`, finish its response, report a
   :class:`Transaction` to the observer;
3. if the connection may stay open, discard an unread (small) body, wait up to
   KeepAliveTimeout for the next request, go to 1; else lingering close.

Keep-alive ends with KeepAlive Off, with the MaxKeepAliveRequests-th request,
and once ``draining()`` is true: that response says ``Connection: close`` and
the connection closes after it.  A connection already idle in keep-alive wait
when draining starts keeps waiting for its next request (until
KeepAliveTimeout) and answers it with ``Connection: close``: closing it under
the client could lose a request already on the wire.

Errors: a malformed request gets its status (400, 413, 414, 431, 501, 505) and
a closed connection; a head that timed out gets 408 if any of it arrived, else
a silent close.  A handler exception is logged (``request_handler_failed``)
and answered with 500 if the head is not out yet, else the response is cut
short by closing.  After a 500 the connection stays open if its framing allows
(as Apache's).  A client that goes away ends the connection quietly.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Protocol

import structlog

from mpmd import SERVER_SOFTWARE
from mpmd.config.model import RequestLimits, RequestReadTimeout, ServerConfig
from mpmd.http.channel import Channel
from mpmd.http.connection import MAX_DRAIN, HTTPConnection
from mpmd.http.errors import LocalProtocolError, RemoteProtocolError
from mpmd.http.events import NEED_DATA, Request
from mpmd.http.exchange import Address, Handler, Transaction
from mpmd.http.socket_exchange import UNPARSED, BodyReader, SocketExchange, refused_request
from mpmd.http.timeouts import Clock, ReadDeadline


@dataclass(frozen=True)
class ConnectionSettings:
    """What a connection driver needs of the configuration (built once per generation)."""

    keep_alive: bool
    keep_alive_timeout: float
    max_keep_alive_requests: int  # 0 = unlimited
    timeout: float
    limits: RequestLimits
    read_timeout: RequestReadTimeout
    server_header: str

    @classmethod
    def from_config(cls, config: ServerConfig) -> ConnectionSettings:
        return cls(
            keep_alive=config.keep_alive,
            keep_alive_timeout=config.keep_alive_timeout,
            max_keep_alive_requests=config.max_keep_alive_requests,
            timeout=config.timeout,
            limits=config.limits,
            read_timeout=config.request_read_timeout,
            server_header=SERVER_SOFTWARE,
        )


class ConnectionObserver(Protocol):
    """What the child learns of a connection (scoreboard letters, access log)."""

    def reading(self) -> None:
        """A request is being read (Apache's 'R')."""

    def handling(self, request: Request) -> None:
        """The handler runs ('W')."""

    def keepalive(self) -> None:
        """Idle between requests ('K')."""

    def closing(self) -> None:
        """Lingering close ('C')."""

    def finished(self, txn: Transaction) -> None:
        """A response is complete (or was cut short)."""


def serve_connection(
    sock: socket.socket,
    client: Address,
    server: Address,
    handler: Handler,
    settings: ConnectionSettings,
    observer: ConnectionObserver,
    draining: Callable[[], bool],
    *,
    clock: Clock = time.monotonic,
) -> int:
    """Serve ``sock`` until the connection ends; returns the requests served.

    Takes ownership of ``sock``: it is always closed on return.  Raises only
    what the handler-independent code cannot absorb (``KeyboardInterrupt``,
    ``SystemExit``, an observer's exception).
    """
    _set_nodelay(sock)
    conn = HTTPConnection(settings.limits, server_header=settings.server_header)
    channel = Channel(sock, conn, settings.timeout, clock)
    session = _Session(channel, handler, settings, observer, draining, client, server)
    try:
        session.run()
    except OSError:
        if not channel.broken:
            raise
    finally:
        observer.closing()
        channel.lingering_close()
    return session.served


class _Session:
    """The request loop of one connection (see the module docstring)."""

    __slots__ = (
        "_ch",
        "_client",
        "_date",
        "_draining",
        "_handler",
        "_in0",
        "_observer",
        "_out0",
        "_server",
        "_settings",
        "served",
    )

    def __init__(
        self,
        channel: Channel,
        handler: Handler,
        settings: ConnectionSettings,
        observer: ConnectionObserver,
        draining: Callable[[], bool],
        client: Address,
        server: Address,
        date: HttpDate | None = None,
    ) -> None:
        self._ch, self._handler, self._settings = channel, handler, settings
        self._observer, self._draining = observer, draining
        self._client, self._server = client, server
        self._date = date or HttpDate()
        self._in0 = self._out0 = self.served = 0

    def run(self) -> None:
        self._observer.reading()
        request = self._read_head()
        while request is not None:
            keep = self._serve(request)
            self.served += 1
            if not keep:
                return
            request = self._next_request()

    def _next_request(self) -> Request | None:
        """Start the next cycle: a pipelined request, or wait for one in keep-alive."""
        conn = self._ch.conn
        conn.start_next_cycle()
        self._begin_cycle()
        try:
            event = conn.next_event()
        except RemoteProtocolError as error:  # a bad pipelined request
            self._reject(error)
            return None
        if event is NEED_DATA:
            self._observer.keepalive()
            if not self._wait_for_bytes():
                return None
            self._observer.reading()
            return self._read_head()
        if type(event) is not Request:
            return None  # the client closed after its last request
        self._observer.reading()
        return event

    def _wait_for_bytes(self) -> bool:
        """Keep-alive wait: False when the client closed or KeepAliveTimeout passed."""
        try:
            return self._ch.receive(self._settings.keep_alive_timeout, wait_first=True) > 0
        except TimeoutError:
            return False

    def _read_head(self) -> Request | None:
        deadline = ReadDeadline(self._settings.read_timeout.header, self._ch.clock())
        try:
            event = self._ch.next_event(deadline)
        except TimeoutError:
            if self._ch.bytes_in > self._in0:  # part of a request came: say why we close
                self._reject(header_timeout(self._ch.conn))
            return None
        except RemoteProtocolError as error:
            self._reject(error)
            return None
        return event if type(event) is Request else None

    def _serve(self, request: Request) -> bool:
        """Answer one request; True if the connection may carry another."""
        ch, settings = self._ch, self._settings
        ch.mark_start()
        max_requests = settings.max_keep_alive_requests
        if not settings.keep_alive or 0 < max_requests <= self.served + 1:
            ch.conn.set_close()
        body = BodyReader(ch, request, settings.read_timeout.body)
        exchange = self._exchange(request, body)
        self._observer.handling(request)
        self._run_handler(exchange)
        self._report(exchange)
        return ch.conn.keep_alive and not ch.broken and body.drain(MAX_DRAIN)

    def _run_handler(self, exchange: SocketExchange) -> None:
        try:
            self._handler(exchange)
            exchange.finish()
        except RemoteProtocolError as error:  # from reading the body: 400, 408, 413
            log_rejection(error)
            self._fail_response(exchange, error.error_status_hint, str(error))
        except Exception as exc:
            if self._ch.broken:
                return  # the client went away under the handler
            request = exchange.request
            target = request.target.decode("latin-1")
            if exchange.headers_sent:
                # Cut short mid-response: the handler reported the cause (the
                # WSGI adapter logs wsgi_app_failed with the traceback); say
                # only that the connection is cut, not the traceback again.
                structlog.get_logger().warning(
                    "response_cut_short", error=repr(exc), method=request.method, target=target
                )
            else:
                structlog.get_logger().error(
                    "request_handler_failed", exc_info=True, method=request.method, target=target
                )
            self._fail_response(exchange, 500, "", close=False)

    def _fail_response(
        self, exchange: SocketExchange, status: int, detail: str, close: bool = True
    ) -> None:
        conn = self._ch.conn
        if exchange.headers_sent or self._ch.eof:
            conn.set_close()  # cut short: closing is the only honest end
            return
        try:
            exchange.respond_error(status, detail, close=close)
        except LocalProtocolError:  # the handler left the core in ERROR
            conn.set_close()

    def _reject(self, error: RemoteProtocolError) -> None:
        """Answer a request that never reached a handler (malformed, timed out)."""
        self._ch.conn.fail(error)
        self._ch.mark_start()
        log_rejection(error)
        body = BodyReader(self._ch, UNPARSED, self._settings.read_timeout.body)
        exchange = self._exchange(refused_request(error.request_line), body)
        exchange.respond_error(error.error_status_hint, str(error))
        self._report(exchange)

    def _exchange(self, request: Request, body: BodyReader) -> SocketExchange:
        return SocketExchange(
            self._ch, request, body, self._client, self._server, self._date, self._draining
        )

    def _report(self, exchange: SocketExchange) -> None:
        """The Transaction of one response.  Bytes are counted per cycle, so bytes
        of a pipelined request that arrived with the previous one count there;
        ``status`` is 0 if the client vanished before the handler set one."""
        ch = self._ch
        self._observer.finished(
            Transaction(
                request=exchange.request,
                client=self._client,
                server=self._server,
                status=exchange.status,
                response_headers=tuple(exchange.headers),
                body_bytes=exchange.body_bytes,
                bytes_sent=ch.bytes_out - self._out0,
                bytes_received=ch.bytes_in - self._in0,
                started=ch.started if ch.started is not None else time.time(),
                duration_ns=time.monotonic_ns() - ch.started_ns,
                keepalive_count=self.served,
            )
        )

    def _begin_cycle(self) -> None:
        ch = self._ch
        self._in0, self._out0, ch.started = ch.bytes_in, ch.bytes_out, None


class HttpDate:
    """The ``Date`` value (RFC 9110 §6.6.1), formatted once per second.

    Safe to share between threads: the second and its text are one tuple, so a
    reader never pairs a new second with an old text.  The event MPM shares one
    per child, as its sessions last only while a connection's requests come
    back to back."""

    __slots__ = ("_cached",)

    def __init__(self) -> None:
        self._cached = (-1, "")

    def __call__(self) -> str:
        second = int(time.time())
        cached = self._cached
        if second != cached[0]:
            cached = self._cached = (second, formatdate(second, usegmt=True))
        return cached[1]


def header_timeout(conn: HTTPConnection) -> RemoteProtocolError:
    """The 408 of a head that missed RequestReadTimeout's header stage, with the
    request line if all of it came (the access log's ``%r``)."""
    error = RemoteProtocolError("request header read timeout", 408)
    error.request_line = conn.received_line()
    return error


def log_rejection(error: RemoteProtocolError) -> None:
    """``request_rejected`` at debug level: the client's page says what is wrong
    in HTTP's terms; the parser's own words (``detail``) are for the operator."""
    line = error.request_line
    structlog.get_logger().debug(
        "request_rejected",
        status=error.error_status_hint,
        reason=str(error),
        detail=error.detail,
        request_line=None if line is None else line.decode("latin-1"),
    )


def _set_nodelay(sock: socket.socket) -> None:
    """TCP_NODELAY: a small write never waits for the peer's delayed ACK."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
