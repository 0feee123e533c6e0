"""One connection's requests, served on one thread: the session both drivers run.

A :class:`Session` serves the requests that come on a connection, one after
the other, and ends with an :class:`Outcome`: ``CLOSE`` (the connection is
over) or ``PARK`` (idle, or a next head only begun: the event MPM's poller
waits for its bytes, holding no thread).  What differs between the MPMs is
only how it waits for a next request that is not there yet:

- blocking (prefork, worker; ``park_after=None``): up to KeepAliveTimeout, in
  this thread, as Apache's ``ap_process_http_sync_connection``;
- parking (event): up to ``park_after()`` seconds (a millisecond or two, or 0
  when other connections wait for a worker), then ``PARK``.

Everything else is the same code for both: per request, the handler runs on a
:class:`SocketExchange` and a :class:`Transaction` goes to the observer; a
malformed request, a timed-out head (:func:`header_timeout`) or a bad
pipelined one is answered through :meth:`Session.reject` (its error page from
:mod:`mpmd.http.pages`, ``request_rejected`` at debug level, an access-log
line); a handler exception is logged and answered 500 if its head is not out,
else the response is cut short.  :func:`run_session` is the skeleton around
it: a client that vanished ends it quietly, and a connection that ends gets
the observer's ``closing`` and Apache's lingering close.
"""

from __future__ import annotations

import contextlib
import enum
import socket
import time
from collections.abc import Callable

import structlog

from mpmd.http.channel import Channel
from mpmd.http.connection import MAX_DRAIN, HTTPConnection
from mpmd.http.errors import LocalProtocolError, RemoteProtocolError
from mpmd.http.events import NEED_DATA, Request
from mpmd.http.exchange import Address, Handler, Transaction
from mpmd.http.settings import ConnectionObserver, ConnectionSettings, HttpDate
from mpmd.http.socket_exchange import UNPARSED, BodyReader, SocketExchange, refused_request
from mpmd.http.timeouts import Clock, ReadDeadline


class Outcome(enum.Enum):
    """How a session ended."""

    CLOSE = "close"  # the connection is over (run_session has closed it)
    PARK = "park"  # wait for the next bytes elsewhere; ``Session.partial`` says if a head began


class Session:
    """The request loop of one connection (see the module docstring)."""

    __slots__ = (
        "_client",
        "_date",
        "_draining",
        "_handler",
        "_in0",
        "_out0",
        "_park_after",
        "_server",
        "_settings",
        "channel",
        "observer",
        "partial",
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
        *,
        served: int = 0,
        park_after: Callable[[], float] | None = None,
    ) -> None:
        self.channel, self._handler, self._settings = channel, handler, settings
        self.observer, self._draining = observer, draining
        self._client, self._server = client, server
        self._date = date or HttpDate()
        self._park_after = park_after
        self._in0 = self._out0 = 0
        self.served = served
        self.partial = False  # on PARK: part of a next head has arrived

    def run(self) -> Outcome:
        """Serve requests while they come; the first head is read (or already buffered)."""
        self.observer.reading()
        request = self._read_head()
        if request is None:
            return Outcome.CLOSE
        while True:
            keep = self._serve(request)
            self.served += 1
            if not keep:
                return Outcome.CLOSE
            following = self._next_request()
            if following is Outcome.CLOSE or following is Outcome.PARK:
                return following  # (identity tests: no call per request, as isinstance is)
            request = following

    def _next_request(self) -> Request | Outcome:
        """Start the next cycle: a pipelined request, or wait for one."""
        conn = self.channel.conn
        conn.start_next_cycle()
        self._begin_cycle()
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError as error:  # a bad pipelined request
                self.reject(error)
                return Outcome.CLOSE
            if type(event) is Request:
                self.observer.reading()
                return event
            if event is not NEED_DATA:
                return Outcome.CLOSE  # the client closed after its last request
            if self._park_after is None:
                return self._keepalive_wait()
            received = self._receive_soon(self._park_after())
            if received is None:  # nothing more now: back to the poller
                # Bytes of the next head may have come with the last request
                # (fed by the poller, not counted by this channel): the core knows.
                self.partial = self.channel.bytes_in > self._in0 or conn.mid_request
                self.observer.keepalive()
                return Outcome.PARK
            if received == 0:
                return Outcome.CLOSE

    def _keepalive_wait(self) -> Request | Outcome:
        """Blocking: wait up to KeepAliveTimeout here, then read the head."""
        self.observer.keepalive()
        try:
            if self.channel.receive(self._settings.keep_alive_timeout, wait_first=True) == 0:
                return Outcome.CLOSE
        except TimeoutError:
            return Outcome.CLOSE
        self.observer.reading()
        request = self._read_head()
        return Outcome.CLOSE if request is None else request

    def _receive_soon(self, wait: float) -> int | None:
        """Parking: bytes within ``wait`` seconds (None: none came).  A client that
        answers at once (a benchmark, a page fetching its assets) sends its next
        request within a fraction of a millisecond: waiting that long here saves
        the round trip through the poller (two thread hand-offs, two epoll_ctl)."""
        if wait <= 0:
            return self.channel.receive_nowait()
        try:
            return self.channel.receive(wait, wait_first=True)
        except TimeoutError:
            return None

    def _read_head(self) -> Request | None:
        deadline = ReadDeadline(self._settings.read_timeout.header, self.channel.clock())
        try:
            event = self.channel.next_event(deadline)
        except TimeoutError:
            if self.channel.bytes_in > self._in0:  # part of a request came: say why we close
                self.reject(header_timeout(self.channel.conn))
            return None
        except RemoteProtocolError as error:
            self.reject(error)
            return None
        return event if type(event) is Request else None

    def _serve(self, request: Request) -> bool:
        """Answer one request; True if the connection may carry another."""
        ch, settings = self.channel, self._settings
        ch.mark_start()
        max_requests = settings.max_keep_alive_requests
        if not settings.keep_alive or 0 < max_requests <= self.served + 1:
            ch.conn.set_close()
        body = BodyReader(ch, request, settings.read_timeout.body)
        exchange = self._exchange(request, body)
        self.observer.handling(request)
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
            if self.channel.broken:
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
        conn = self.channel.conn
        if exchange.headers_sent or self.channel.eof:
            conn.set_close()  # cut short: closing is the only honest end
            return
        try:
            exchange.respond_error(status, detail, close=close)
        except LocalProtocolError:  # the handler left the core in ERROR
            conn.set_close()

    def reject(self, error: RemoteProtocolError) -> None:
        """Answer a request that never reached a handler (malformed, timed out)."""
        self.channel.conn.fail(error)
        self.channel.mark_start()
        log_rejection(error)
        body = BodyReader(self.channel, UNPARSED, self._settings.read_timeout.body)
        exchange = self._exchange(refused_request(error.request_line), body)
        exchange.respond_error(error.error_status_hint, str(error))
        self._report(exchange)

    def _exchange(self, request: Request, body: BodyReader) -> SocketExchange:
        return SocketExchange(
            self.channel, request, body, self._client, self._server, self._date, self._draining
        )

    def _report(self, exchange: SocketExchange) -> None:
        """The Transaction of one response.  Bytes are counted per cycle, so bytes
        of a pipelined request that arrived with the previous one count there;
        ``status`` is 0 if the client vanished before the handler set one."""
        ch = self.channel
        self.observer.finished(
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
        ch = self.channel
        self._in0, self._out0, ch.started = ch.bytes_in, ch.bytes_out, None


def run_session(session: Session) -> Outcome:
    """Run ``session``; a connection that ends gets ``closing`` and a lingering close.

    A vanished client (an OSError on a broken channel) ends it quietly; any
    other exception propagates, after the connection is closed."""
    outcome = Outcome.CLOSE
    try:
        outcome = session.run()
    except OSError:
        if not session.channel.broken:
            raise
    finally:
        if outcome is Outcome.CLOSE:
            session.observer.closing()
            session.channel.lingering_close()
    return outcome


def new_channel(
    sock: socket.socket, settings: ConnectionSettings, clock: Clock = time.monotonic
) -> Channel:
    """The channel of a freshly accepted connection, with its sans-I/O core."""
    conn = HTTPConnection(settings.limits, server_header=settings.server_header)
    return Channel(sock, conn, settings.timeout, clock)


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


def set_nodelay(sock: socket.socket) -> None:
    """TCP_NODELAY: a small write never waits for the peer's delayed ACK."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
