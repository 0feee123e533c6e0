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

The request loop is :class:`mpmd.http.session.Session`, shared with the
event MPM's driver (:mod:`mpmd.http.parkable`), which waits elsewhere.

Errors: a malformed request gets its status (400, 413, 414, 431, 501, 505) and
a closed connection; a head that timed out gets 408 if any of it arrived, else
a silent close.  A handler exception is logged (``request_handler_failed``)
and answered with 500 if the head is not out yet, else the response is cut
short by closing.  After a 500 the connection stays open if its framing allows
(as Apache's).  A client that goes away ends the connection quietly.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from mpmd.http.exchange import Address, Handler
from mpmd.http.session import Session, new_channel, run_session, set_nodelay
from mpmd.http.settings import ConnectionObserver, ConnectionSettings, HttpDate
from mpmd.http.timeouts import Clock

__all__ = ["ConnectionObserver", "ConnectionSettings", "HttpDate", "serve_connection"]


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
    set_nodelay(sock)
    channel = new_channel(sock, settings, clock)
    session = Session(channel, handler, settings, observer, draining, client, server)
    run_session(session)  # blocking: it waits for each next request itself
    return session.served
