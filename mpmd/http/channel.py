"""One accepted socket joined to its :class:`HTTPConnection`, for one thread.

Responsible for the socket calls of a connection served by one thread: reads
into the core (only when it answers ``NEED_DATA``), writes, ``sendfile``, the
byte counters the access log needs, and Apache's lingering close.

The socket is non-blocking and waits are explicit ``poll`` calls made only
when a call would block.  A socket with a Python-level timeout polls before
*every* ``recv`` and ``send``: two system calls, each releasing and retaking
the GIL, where one does, and a ``settimeout`` system call whenever the timeout
changes.  On the hot path (a response sent at once, a request the poller saw
arrive) that doubled the system calls and the GIL hand-offs per request.

Guarantees: every read waits at most ``Timeout`` and never past the
RequestReadTimeout deadline it is given (``TimeoutError`` then); a send that
makes no progress for ``Timeout`` raises ``TimeoutError``; a failed socket
call marks the channel ``broken`` before the error propagates, so callers can
tell a vanished client from a failing handler; ``lingering_close`` never
raises and always closes the socket.
"""

from __future__ import annotations

import os
import select
import socket
import time
from typing import BinaryIO

from mpmd.http.connection import HTTPConnection
from mpmd.http.events import NEED_DATA, Event, _Sentinel
from mpmd.http.timeouts import Clock, ReadDeadline

READ_SIZE = 64 * 1024
#: Apache's ap_lingering_close: read and discard for up to 2 s after shutdown(SHUT_WR).
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 512 * 1024
_MSG_MORE = getattr(socket, "MSG_MORE", 0)
_POLLIN = select.POLLIN | select.POLLPRI | select.POLLRDHUP
_POLLOUT = select.POLLOUT
#: at most this much of a file per os.sendfile call (Linux caps one at ~2 GiB anyway)
_SENDFILE_CHUNK = 1 << 30


class Channel:
    """I/O for one connection, one thread at a time (see the module docstring)."""

    __slots__ = (
        "_poll",
        "broken",
        "bytes_in",
        "bytes_out",
        "clock",
        "conn",
        "eof",
        "io_timeout",
        "sock",
        "started",
        "started_ns",
    )

    def __init__(
        self, sock: socket.socket, conn: HTTPConnection, io_timeout: float, clock: Clock
    ) -> None:
        self.sock, self.conn, self.io_timeout, self.clock = sock, conn, io_timeout, clock
        if sock.gettimeout() != 0.0:
            sock.setblocking(False)
        self._poll: select.poll | None = None
        self.broken = self.eof = False
        self.bytes_in = self.bytes_out = 0
        #: wall clock and monotonic_ns when the current request's first byte came
        self.started: float | None = None
        self.started_ns = 0

    def mark_start(self) -> None:
        """Note that the current request began now (if not noted yet)."""
        if self.started is None:
            self.started, self.started_ns = time.time(), time.monotonic_ns()

    def next_event(self, deadline: ReadDeadline | None = None) -> Event | _Sentinel:
        """The core's next event (or PAUSED), reading as needed; TimeoutError past the deadline."""
        conn = self.conn
        while True:
            event = conn.next_event()
            if event is not NEED_DATA:
                return event
            timeout = self.io_timeout
            if deadline is not None:
                timeout = min(timeout, deadline.remaining(self.clock()))
                if timeout <= 0:
                    raise TimeoutError("RequestReadTimeout expired")
            received = self.receive(timeout)
            if deadline is not None:
                deadline.extend(received)

    def receive(self, timeout: float, wait_first: bool = False) -> int:
        """One read into the core; returns the byte count, 0 at EOF.

        ``TimeoutError`` if nothing came within ``timeout`` (``BlockingIOError``
        when ``timeout`` is 0).  ``wait_first``: bytes are unlikely to be there
        yet (a keep-alive wait), so poll before reading instead of after."""
        if wait_first and not self._wait(_POLLIN, timeout):
            raise TimeoutError("no bytes within the timeout")
        try:
            try:
                data = self.sock.recv(READ_SIZE)
            except BlockingIOError:
                if timeout <= 0:
                    raise
                if not self._wait(_POLLIN, timeout):
                    raise TimeoutError("no bytes within the timeout") from None
                data = self.sock.recv(READ_SIZE)
        except (TimeoutError, BlockingIOError):
            raise  # nothing arrived in time: the connection itself is fine
        except OSError:
            self.broken = True
            raise
        self.conn.receive_data(data)
        if not data:
            self.eof = True
            return 0
        self.mark_start()
        self.bytes_in += len(data)
        return len(data)

    def receive_nowait(self) -> int | None:
        """One read into the core if bytes are there: the count, 0 at EOF, None
        when nothing is (the event MPM parks the connection then)."""
        try:
            return self.receive(0.0)
        except BlockingIOError:
            return None

    def send(self, data: bytes, more: bool = False) -> None:
        """Send all of ``data``, each wait for room bounded by Timeout; ``more``:
        further bytes follow at once (MSG_MORE)."""
        flags = _MSG_MORE if more else 0
        view, sent = memoryview(data), 0
        try:
            while sent < len(view):
                try:
                    sent += self.sock.send(view[sent:], flags)
                except BlockingIOError:
                    self._wait_writable()
        except OSError:
            self.broken = True
            raise
        finally:
            self.bytes_out += sent

    def send_file(self, prefix: bytes, file: BinaryIO, offset: int, count: int) -> int:
        """``prefix`` then ``count`` bytes of ``file`` with ``os.sendfile``; the
        count sent, short only if the file ended early."""
        if prefix:
            self.send(prefix, more=count > 0)
        sent, fd = 0, file.fileno()
        try:
            while sent < count:
                try:
                    n = os.sendfile(self.sock.fileno(), fd, offset + sent,
                                    min(count - sent, _SENDFILE_CHUNK))
                except BlockingIOError:
                    self._wait_writable()
                    continue
                if n == 0:
                    break  # the file is shorter than it was
                sent += n
        except OSError:
            self.broken = True
            raise
        finally:
            self.bytes_out += sent
        return sent

    def lingering_close(self) -> None:
        """Shut down our side, discard input briefly, close: the client gets its
        response instead of a reset (Apache's ap_lingering_close)."""
        if not self.begin_lingering_close():
            return
        try:
            self._discard_input()
        except OSError:
            pass
        finally:
            self.sock.close()

    def begin_lingering_close(self) -> bool:
        """The first half of a lingering close: shut down our side.  True if the
        client's input must now be discarded for up to :data:`LINGER_SECONDS`
        (by :meth:`lingering_close`, or by a poller); else the socket is closed.
        Never raises."""
        try:
            if not (self.eof or self.broken):
                self.sock.shutdown(socket.SHUT_WR)
                # Linger only when the client may still send (nginx's heuristic):
                # one that asked to close and sent all of its request will not,
                # and waiting for its FIN would hold this thread a round trip.
                if not self.conn.client_finished:
                    return True
        except OSError:
            pass
        self.sock.close()
        return False

    def _discard_input(self) -> None:
        end, discarded = self.clock() + LINGER_SECONDS, 0
        while discarded < LINGER_MAX_BYTES:
            left = end - self.clock()
            if left <= 0 or not self._wait(_POLLIN, left):
                return
            data = self.sock.recv(READ_SIZE)
            if not data:
                return
            discarded += len(data)

    def _wait_writable(self) -> None:
        if not self._wait(_POLLOUT, self.io_timeout):
            raise TimeoutError("the client read nothing within Timeout")

    def _wait(self, events: int, timeout: float) -> bool:
        """Poll the socket for ``events`` up to ``timeout`` seconds (PEP 475
        retries on signals); True if it is ready (or in error: the next call
        reports it)."""
        if timeout <= 0:
            return False
        poll = self._poll
        if poll is None:
            poll = self._poll = select.poll()
        poll.register(self.sock, events)
        return bool(poll.poll(timeout * 1000.0))
