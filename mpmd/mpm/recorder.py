"""Connection progress -> scoreboard letters, counters and the access log.

One :class:`SlotRecorder` per worker slot (a prefork child has one, a
threaded child one per thread).  It implements the driver's
``ConnectionObserver``; each call is a few field stores into shared memory,
because it runs on every request.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mpmd.scoreboard.board import CLIENT_FIELD, REQUEST_FIELD, Scoreboard
from mpmd.scoreboard.states import State

if TYPE_CHECKING:
    from mpmd.http.events import Request
    from mpmd.http.exchange import Address, Transaction
    from mpmd.logs.access import AccessLog

_READ, _WRITE, _KEEPALIVE = State.READ.value, State.WRITE.value, State.KEEPALIVE.value
_CLOSING, _READY = State.CLOSING.value, State.READY.value


class SlotRecorder:
    """Records one worker slot's activity (single writer: its own thread)."""

    def __init__(
        self,
        scoreboard: Scoreboard,
        slot: int,
        thread: int,
        access_logs: tuple[AccessLog, ...],
        extended: bool,
    ) -> None:
        self._worker = scoreboard.worker(slot, thread)
        self._logs = access_logs
        self._extended = extended

    def connection_started(self, client: Address) -> None:
        w = self._worker
        w.conn_count = 0
        w.conn_bytes = 0
        if self._extended:
            w.client = _client_text(client)

    def reading(self) -> None:
        self._worker.status = _READ

    def handling(self, request: Request) -> None:
        w = self._worker
        w.status = _WRITE
        if self._extended:
            w.start_time = time.time()
            target = request.target.decode("latin-1")
            line = f"{request.method} {target} HTTP/{request.http_version}"
            w.request = line.encode("latin-1", "replace")[: REQUEST_FIELD - 1]

    def keepalive(self) -> None:
        self._worker.status = _KEEPALIVE

    def closing(self) -> None:
        self._worker.status = _CLOSING

    def finished(self, txn: Transaction) -> None:
        w = self._worker
        w.access_count += 1
        w.my_access_count += 1
        w.conn_count += 1
        w.bytes_served += txn.bytes_sent
        w.my_bytes_served += txn.bytes_sent
        w.conn_bytes += txn.bytes_sent
        w.duration_us += txn.duration_ns // 1000
        w.stop_time = w.last_used = txn.started + txn.duration_ns / 1e9
        for access_log in self._logs:
            access_log.log(txn)

    def idle(self) -> None:
        self._worker.status = _READY


def _client_text(client: Address) -> bytes:
    text = client[0] if isinstance(client, tuple) else "unix"
    return text.encode("ascii", "replace")[: CLIENT_FIELD - 1]
