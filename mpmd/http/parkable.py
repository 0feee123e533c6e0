"""Connections that wait in a poller between requests (the event MPM's driver).

A :class:`Parked` connection is a socket plus its sans-I/O core, owned either
by the poller (waiting for bytes) or by one worker thread (serving).  The
poller calls :func:`feed` when the socket is readable: bytes go into the core,
and the connection is *ready* for a worker once the core holds a whole
request head (or an error to answer).  A worker calls :func:`serve_parkable`,
which serves requests with the shared :class:`mpmd.http.session.Session`
while the next request is already there, and hands the connection back
(returns ``True``) as soon as it would have to wait for one
(:attr:`Outcome.PARK`).

Timers: a new connection gets RequestReadTimeout's header stage from accept
(Apache starts it there too); an idle keep-alive connection gets
KeepAliveTimeout, and its header stage starts with the first byte of its next
request.  An expired one is closed quietly by the poller if no byte of a
request came; else a worker answers it with :func:`answer_timeout`: the
session's own reject path (the ``408`` page with Date and Server, the
access-log line, ``request_rejected``, the scoreboard), as under the blocking
MPMs.  Its lingering close then waits in the poller, not in the worker:
:func:`linger` discards what the client still sends until it closes or
``LINGER_SECONDS`` pass (Apache's event MPM lingers in its listener too).
"""

from __future__ import annotations

import contextlib
import enum
import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from mpmd.http.channel import LINGER_MAX_BYTES, LINGER_SECONDS, READ_SIZE, Channel
from mpmd.http.connection import HTTPConnection
from mpmd.http.exchange import Address, Handler
from mpmd.http.session import Outcome, Session, header_timeout, run_session, set_nodelay
from mpmd.http.settings import ConnectionObserver, ConnectionSettings, HttpDate
from mpmd.http.timeouts import ReadDeadline

log = structlog.get_logger("mpmd.http")


@dataclass(eq=False)
class Parked:
    """One connection between requests (or before its first one)."""

    sock: socket.socket
    client: Address
    server: Address
    conn: HTTPConnection
    head: ReadDeadline | None  # header stage, once a byte of the request came
    deadline: float  # monotonic: when the poller gives up on it
    parked_at: float
    idle_keepalive: bool = False  # waiting for the first byte of a next request
    partial: bool = False  # part of a request head has arrived
    served: int = 0  # requests served on this connection
    registered: bool = False  # in the poller's epoll (one-shot, re-armed on each park)
    token: int = field(default=0)  # bumped on every move; stale timers are ignored
    timed_out: bool = False  # its header stage expired: a worker answers 408
    linger_left: int = 0  # > 0: answered and shut down, discarding input until it closes


def new_parked(
    sock: socket.socket, client: Address, server: Address, settings: ConnectionSettings
) -> Parked:
    """A freshly accepted connection, waiting for its first request."""
    sock.setblocking(False)
    set_nodelay(sock)
    now = time.monotonic()
    head = ReadDeadline(settings.read_timeout.header, now)
    conn = HTTPConnection(settings.limits, server_header=settings.server_header)
    return Parked(sock, client, server, conn, head, _deadline(head, now, settings), now)


def _deadline(head: ReadDeadline, now: float, settings: ConnectionSettings) -> float:
    remaining = head.remaining(now)
    # With the header stage disabled, Timeout still bounds a silent client.
    return now + (settings.timeout if math.isinf(remaining) else remaining)


class Fed(enum.Enum):
    """What :func:`feed` found."""

    READY = "ready"  # a whole head (or an error to answer) is in: serve it
    WAIT = "wait"  # not yet: back to the poller
    CLOSED = "closed"  # the client went away between requests


def feed(parked: Parked, settings: ConnectionSettings, now: float) -> Fed:
    """Read what the socket has into the core."""
    try:
        data = parked.sock.recv(READ_SIZE)
    except (BlockingIOError, InterruptedError):
        return Fed.WAIT
    except OSError:
        return Fed.CLOSED
    if not data:
        if not parked.partial:
            return Fed.CLOSED  # gone between requests: nobody to answer
        # Half-closed mid-head: the core now reports the truncated request, and
        # a worker answers 400 as the blocking driver does (the client may
        # still read: it only shut down its sending side).
        parked.conn.receive_data(b"")
        return Fed.READY
    parked.conn.receive_data(data)
    if parked.head is None:  # the first byte of a next request starts its header stage
        parked.head = ReadDeadline(settings.read_timeout.header, now)
    parked.head.extend(len(data))
    parked.idle_keepalive, parked.partial = False, True
    parked.deadline = _deadline(parked.head, now, settings)
    return Fed.READY if parked.conn.ready else Fed.WAIT


def answer_timeout(
    parked: Parked,
    handler: Handler,
    settings: ConnectionSettings,
    observer: ConnectionObserver,
    draining: Callable[[], bool],
    date: HttpDate | None = None,
) -> bool:
    """Answer a connection whose header stage expired (a worker, after the
    poller's deadline passed with part of a head in): 408 as the blocking
    driver answers it.  True if it should be parked to linger (:func:`linger`);
    on False it is closed."""
    session = _session(parked, handler, settings, observer, draining, date)
    channel = session.channel
    try:
        session.reject(header_timeout(parked.conn))
    except OSError:
        if not channel.broken:
            log.exception("connection_failed")
    except Exception:
        log.exception("connection_failed")
    observer.closing()
    if not channel.begin_lingering_close():
        return False
    now = time.monotonic()
    parked.linger_left, parked.partial = LINGER_MAX_BYTES, False
    parked.parked_at, parked.deadline = now, now + LINGER_SECONDS
    return True


def linger(parked: Parked) -> bool:
    """A lingering connection is readable: discard what came.  True while it
    may linger on (its deadline stays); on False it is closed."""
    try:
        data = parked.sock.recv(READ_SIZE)
    except (BlockingIOError, InterruptedError):
        return True
    except OSError:
        data = b""
    parked.linger_left -= len(data)
    if data and parked.linger_left > 0:
        return True
    parked.sock.close()
    return False


def close_parked(parked: Parked) -> None:
    with contextlib.suppress(OSError):
        parked.sock.shutdown(socket.SHUT_WR)
    parked.sock.close()


def serve_parkable(
    parked: Parked,
    handler: Handler,
    settings: ConnectionSettings,
    observer: ConnectionObserver,
    draining: Callable[[], bool],
    linger: Callable[[], float] = lambda: 0.0,
    date: HttpDate | None = None,
) -> bool:
    """Serve the ready request(s) of ``parked``; True if it should be parked again.

    The session waits at most ``linger()`` seconds for a next request (0 while
    other connections wait for a worker).  On ``False`` the connection has
    been closed (lingering close)."""
    session = _session(parked, handler, settings, observer, draining, date, linger)
    try:
        outcome = run_session(session)
    except Exception:  # the session closed the connection; this worker carries on
        log.exception("connection_failed")
        return False
    if outcome is Outcome.CLOSE:
        return False
    _repark(parked, session, settings)
    return True


def _repark(parked: Parked, session: Session, settings: ConnectionSettings) -> None:
    now = time.monotonic()
    parked.served = session.served
    parked.parked_at = now
    parked.partial = session.partial
    if session.partial:  # a head has begun: its header stage runs on
        parked.head = ReadDeadline(settings.read_timeout.header, now)
        parked.idle_keepalive = False
        parked.deadline = _deadline(parked.head, now, settings)
    else:
        parked.head = None
        parked.idle_keepalive = True
        parked.deadline = now + settings.keep_alive_timeout


def _session(
    parked: Parked,
    handler: Handler,
    settings: ConnectionSettings,
    observer: ConnectionObserver,
    draining: Callable[[], bool],
    date: HttpDate | None,
    park_after: Callable[[], float] | None = None,
) -> Session:
    """The session of one worker's stint on ``parked`` (its core and count go on)."""
    channel = Channel(parked.sock, parked.conn, settings.timeout, time.monotonic)
    return Session(
        channel,
        handler,
        settings,
        observer,
        draining,
        parked.client,
        parked.server,
        date,
        served=parked.served,
        park_after=park_after,
    )
