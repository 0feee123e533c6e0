"""The sans-I/O HTTP/1.1 server connection: bytes in -> events, responses -> bytes.

Theory of operation
===================

A connection carries request/response cycles.  Each side has a state.  The
client's moves are the events :meth:`HTTPConnection.next_event` returns; ours
are the ``send_*`` calls.  Every legal move is one row of ``_CLIENT`` or
``_SERVER`` below; a move without a row raises one uniform error naming the
move and the state (:class:`RemoteProtocolError` for the client,
:class:`LocalProtocolError` for us) and puts that side in ERROR::

    client  IDLE --Request--> SEND_BODY --Data*--> SEND_BODY --EndOfMessage--> DONE
            IDLE --ConnectionClosed--> CLOSED
    server  IDLE --(the client's Request)--> SEND_RESPONSE --continue--> SEND_RESPONSE
            SEND_RESPONSE --response--> SEND_BODY --data*--> SEND_BODY --eom--> DONE

When both sides are DONE and :attr:`keep_alive` holds, :meth:`start_next_cycle`
puts both back to IDLE.  Until then ``next_event()`` answers ``PAUSED``, even if
the next pipelined request is parsed already; it answers ``NEED_DATA`` only
when nothing is queued.  A driver reads from its socket only on ``NEED_DATA``,
so a pipelining client makes us hold at most one read's worth of bytes.

After the client's ERROR (a malformed request, or :meth:`fail` for a timeout
the driver saw) we may still send one error response if no head went out; it
always says ``Connection: close``, and ``next_event()`` only raises again.

The core is pure: no sockets, no clock.  The caller passes the ``Server``
value to the constructor and the ``Date`` value to :meth:`send_response`.
"""

from __future__ import annotations

import enum

from mpmd.config.model import RequestLimits
from mpmd.http.errors import LocalProtocolError, RemoteProtocolError
from mpmd.http.events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Request,
    _Sentinel,
)
from mpmd.http.framing import CONTINUE, LAST_CHUNK, Framing, build_head, chunk_prefix
from mpmd.http.reader import RequestReader

#: Unread request body (by Content-Length) a driver may discard after the
#: response to keep the connection (Apache's ap_discard_request_body); beyond
#: it, or for an unfinished chunked body, the response says Connection: close.
MAX_DRAIN = 64 * 1024

_CLOSED = ConnectionClosed()


class State(enum.Enum):
    """A side's state in the request/response cycle."""

    # Identity hashing in C: Enum's own __hash__ is Python code, and the move
    # tables are looked up several times per request.
    __hash__ = object.__hash__

    IDLE = "IDLE"
    SEND_RESPONSE = "SEND_RESPONSE"
    SEND_BODY = "SEND_BODY"
    DONE = "DONE"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class Move(enum.Enum):
    """What our side does (or sees: ``REQUEST`` is the client's head, from here)."""

    __hash__ = object.__hash__  # as State: looked up in _SERVER several times per request

    REQUEST = "request"
    CONTINUE = "continue"
    RESPONSE = "response"
    ERROR_RESPONSE = "error_response"  # answers a client in ERROR
    DATA = "data"
    EOM = "eom"


_I, _SR, _SB, _D, _C = State.IDLE, State.SEND_RESPONSE, State.SEND_BODY, State.DONE, State.CLOSED

#: The client's moves: (state, event type) -> next state.
_CLIENT: dict[tuple[State, type], State] = {
    (_I, Request): _SB,
    (_I, ConnectionClosed): _C,
    (_SB, Data): _SB,
    (_SB, EndOfMessage): _D,
}
#: Our moves: (state, move) -> next state.
_SERVER: dict[tuple[State, Move], State] = {
    (_I, Move.REQUEST): _SR,
    (_SR, Move.CONTINUE): _SR,
    (_SR, Move.RESPONSE): _SB,
    (_SR, Move.ERROR_RESPONSE): _SB,
    (_I, Move.ERROR_RESPONSE): _SB,
    (_SB, Move.DATA): _SB,
    (_SB, Move.EOM): _D,
}


class HTTPConnection:
    """One server-side HTTP/1.1 connection, without I/O (see the module docstring)."""

    __slots__ = (
        "_client",
        "_close",
        "_continue_sent",
        "_cycles",
        "_eof",
        "_error",
        "_framing",
        "_reader",
        "_remaining",
        "_request",
        "_server",
        "_server_header",
    )

    def __init__(self, limits: RequestLimits, *, server_header: str = "") -> None:
        self._reader = RequestReader(limits)
        self._server_header = server_header
        self._client = self._server = State.IDLE
        self._request: Request | None = None
        self._error: RemoteProtocolError | None = None
        self._close = self._continue_sent = self._eof = False
        self._framing = Framing.NONE
        self._remaining = self._cycles = 0

    @property
    def states(self) -> tuple[State, State]:
        """(client state, server state)."""
        return self._client, self._server

    @property
    def request(self) -> Request | None:
        """The request of the current cycle, once ``next_event()`` returned it."""
        return self._request

    @property
    def client_finished(self) -> bool:
        """The client said ``Connection: close`` (or spoke 1.0 without
        keep-alive), sent its whole request, and no byte beyond it is
        buffered: it will send nothing more on this connection."""
        request = self._request
        return (
            self._client is State.DONE
            and request is not None
            and not request.keep_alive
            and not self._reader.events
            and not self._reader.mid_message
        )

    @property
    def ready(self) -> bool:
        """An event waits that needs no more bytes (a request head, an error,
        EOF): what the event MPM's poller checks before handing the connection
        to a worker thread.  Consumes nothing."""
        return bool(self._reader.events) or self._eof

    @property
    def mid_request(self) -> bool:
        """Bytes of a request have been received whose head or body is not
        complete yet (blank lines between requests do not count)."""
        return self._reader.mid_message

    def received_line(self) -> bytes | None:
        """The request line of a request head still incomplete, once all of that
        line came (what a 408 is logged with, as Apache's ``%r``)."""
        return self._reader.received_line()

    def receive_data(self, data: bytes) -> None:
        """Hand over bytes read from the peer; ``b""`` means it closed its side (EOF)."""
        if self._eof:
            if data:
                raise LocalProtocolError("data received after EOF")
            return
        if data:
            self._reader.feed(data)
        else:
            self._eof = True
            self._reader.feed_eof()

    def next_event(self) -> Event | _Sentinel:
        """The next client event, ``NEED_DATA`` or ``PAUSED``; raises RemoteProtocolError."""
        client = self._client
        if client is State.DONE:
            return PAUSED
        if client is State.ERROR:
            raise RemoteProtocolError(f"connection failed earlier: {self._error}", 400)
        if client is State.CLOSED:
            return _CLOSED
        events = self._reader.events
        if not events:
            return self._at_eof() if self._eof else NEED_DATA
        event = events.popleft()
        if isinstance(event, RemoteProtocolError):
            self.fail(event)
            raise event
        self._client_move(client, event)
        return event

    def fail(self, error: RemoteProtocolError) -> None:
        """The client is at fault in a way the driver saw (a read timeout): client ERROR."""
        if self._client is not State.ERROR:
            self._client, self._error, self._close = State.ERROR, error, True

    def send_continue(self) -> bytes:
        """``100 Continue``, once, before the response, to a request that expects it."""
        request = self._request
        expected = request is not None and request.expect_continue and self._client is _SB
        if not expected or self._continue_sent:
            raise self._misuse("100 Continue was not expected or was sent already")
        self._server = self._next_server_state(Move.CONTINUE)
        self._continue_sent = True
        return CONTINUE

    def send_response(
        self,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        *,
        date: str | None = None,
        head_only: bool = False,
    ) -> bytes:
        """The response head, framing decided (see :mod:`mpmd.http.framing`).

        Bad header values raise LocalProtocolError and leave the state as it
        was, so the caller can still answer 500.
        """
        failed = self._client is State.ERROR
        state = self._next_server_state(Move.ERROR_RESPONSE if failed else Move.RESPONSE)
        request = self._request
        close = failed or self._close or request is None or not request.keep_alive
        head = build_head(
            status,
            reason,
            headers,
            method=request.method if request else "GET",
            version=request.http_version if request else "1.1",
            keep_alive=not (close or self._unread_body_forces_close()),
            date=date,
            server=self._server_header,
            head_only=head_only,
        )
        self._server, self._framing, self._close = state, head.framing, head.close
        self._remaining = head.length or 0
        return head.data

    def send_data(self, data: bytes) -> bytes:
        """``data`` framed for the wire (chunked, counted, or dropped for HEAD/204/304)."""
        framing = self.frame_data(len(data))
        if framing is None:
            return b""
        return framing[0] + data + framing[1]

    def frame_data(self, count: int) -> tuple[bytes, bytes] | None:
        """Account for ``count`` body bytes the caller sends itself (``os.sendfile``).

        Returns the bytes to send before and after them, or None when the
        response has no body and the bytes must not be sent at all.
        """
        self._server = self._next_server_state(Move.DATA)
        framing = self._framing
        if framing is Framing.NONE:
            return None
        if framing is Framing.LENGTH:
            self._remaining -= count
            if self._remaining < 0:
                raise self._misuse("response body longer than its Content-Length")
        elif framing is Framing.CHUNKED and count:
            return chunk_prefix(count), b"\r\n"
        return b"", b""

    def send_eom(self) -> bytes:
        """The end of the response body (the last chunk when chunked)."""
        state = self._next_server_state(Move.EOM)
        if self._framing is Framing.LENGTH and self._remaining:
            raise self._misuse(f"response body {self._remaining} bytes short of Content-Length")
        self._server = state
        return LAST_CHUNK if self._framing is Framing.CHUNKED else b""

    @property
    def keep_alive(self) -> bool:
        """May this connection carry another request after the current response?"""
        request = self._request
        return (
            request is not None
            and request.keep_alive
            and not self._close
            and self._client is not State.ERROR
            and self._server is not State.ERROR
        )

    def set_close(self) -> None:
        """Close after this response (says ``Connection: close`` if the head is not out yet)."""
        self._close = True

    def start_next_cycle(self) -> None:
        """After a complete request and response, let the next request through."""
        if self.states != (State.DONE, State.DONE) or not self.keep_alive:
            raise LocalProtocolError(f"cannot start a new cycle in states {self.states}")
        self._client = self._server = State.IDLE
        self._request = None
        self._continue_sent = False
        self._framing = Framing.NONE

    def _client_move(self, state: State, event: Event) -> None:
        new = _CLIENT.get((state, type(event)))
        if new is None:
            error = RemoteProtocolError(f"{type(event).__name__} while the client is {state.name}")
            self.fail(error)
            raise error
        self._client = new
        if type(event) is Request:
            self._request = event
            self._cycles += 1
            self._server = self._next_server_state(Move.REQUEST)

    def _next_server_state(self, move: Move) -> State:
        new = _SERVER.get((self._server, move))
        if new is None:
            raise self._misuse(f"cannot {move.value} while the server is {self._server.name}")
        return new

    def _misuse(self, message: str) -> LocalProtocolError:
        self._server = State.ERROR
        return LocalProtocolError(message)

    def _unread_body_forces_close(self) -> bool:
        """Must we close because the request body will not (all) be read?

        RFC 9110 §10.1.1: a client told nothing may still be waiting for 100
        Continue; and an unknown or large remainder is cheaper to cut than read.
        """
        if self._client is not _SB or self._reader.completed >= self._cycles:
            return False  # the whole body is here already; the driver drains the queue
        request = self._request
        if request is not None and request.expect_continue and not self._continue_sent:
            return True
        remaining = self._reader.body_remaining()
        return remaining is None or remaining > MAX_DRAIN

    def _at_eof(self) -> ConnectionClosed:
        """Nothing queued after EOF (the reader normally queues the verdict itself)."""
        if self._client is State.IDLE:
            self._client = State.CLOSED
            return _CLOSED
        error = RemoteProtocolError("connection closed in the middle of a request")
        self.fail(error)
        raise error
