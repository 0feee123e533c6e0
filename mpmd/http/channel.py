"""One accepted blocking socket joined to its :class:`HTTPConnection`.

Responsible for the socket calls of a connection served by one thread: reads
into the core (only when it answers ``NEED_DATA``), writes, ``sendfile``, the
byte counters the access log needs, and Apache's lingering close.

Guarantees: every read waits at most ``Timeout`` and never past the
RequestReadTimeout deadline it is given (``TimeoutError`` then); a failed
socket call marks the channel ``broken`` before the error propagates, so
callers can tell a vanished client from a failing handler; ``lingering_close``
never raises and always closes the socket.
"""

from __future__ import annotations

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


class Channel:
    """Blocking I/O for one connection (see the module docstring)."""

    __slots__ = (
        "_timeout",
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
        self._timeout: float | None = None
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

    def receive(self, timeout: float) -> int:
        """One read into the core; returns the byte count, 0 at EOF."""
        self._set_timeout(timeout)
        try:
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
        self._set_timeout(0.0)
        try:
            return self.receive(0.0)
        except (BlockingIOError, TimeoutError):
            return None

    def send(self, data: bytes, more: bool = False) -> None:
        """Send all of ``data`` within Timeout; ``more``: further bytes follow at once."""
        self._set_timeout(self.io_timeout)
        try:
            self.sock.sendall(data, _MSG_MORE if more else 0)
        except OSError:
            self.broken = True
            raise
        self.bytes_out += len(data)

    def send_file(self, prefix: bytes, file: BinaryIO, offset: int, count: int) -> int:
        """``prefix`` then ``count`` bytes of ``file`` (``os.sendfile`` when possible)."""
        if prefix:
            self.send(prefix, more=count > 0)
        if count <= 0:
            return 0
        self._set_timeout(self.io_timeout)
        try:
            sent = self.sock.sendfile(file, offset, count)
        except OSError:
            self.broken = True
            raise
        self.bytes_out += sent
        return sent

    def lingering_close(self) -> None:
        """Shut down our side, discard input briefly, close: the client gets its
        response instead of a reset (Apache's ap_lingering_close)."""
        try:
            if not (self.eof or self.broken):
                self.sock.shutdown(socket.SHUT_WR)
                # Linger only when the client may still send (nginx's heuristic):
                # one that asked to close and sent all of its request will not,
                # and waiting for its FIN would hold this thread a round trip.
                if not self.conn.client_finished:
                    self._discard_input()
        except OSError:
            pass
        finally:
            self.sock.close()

    def _discard_input(self) -> None:
        end, discarded = self.clock() + LINGER_SECONDS, 0
        while discarded < LINGER_MAX_BYTES:
            left = end - self.clock()
            if left <= 0:
                return
            self._set_timeout(left)
            data = self.sock.recv(READ_SIZE)
            if not data:
                return
            discarded += len(data)

    def _set_timeout(self, timeout: float) -> None:
        if timeout != self._timeout:  # settimeout() is a system call; skip repeats
            self.sock.settimeout(timeout)
            self._timeout = timeout
