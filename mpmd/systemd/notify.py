"""sd_notify(3) in Python: tell the service manager how the master is doing.

The protocol is one ``AF_UNIX``/``SOCK_DGRAM`` datagram per message to the
socket named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace), holding newline-separated ``KEY=value`` assignments.  A message is
atomic: systemd sees every assignment of one datagram together, which is why
:meth:`Notifier.reloading` sends ``RELOADING=1`` and ``MONOTONIC_USEC=`` in
the *same* datagram — ``Type=notify-reload`` (systemd >= 253) matches the
reload to that timestamp and otherwise hangs ``systemctl reload``.

Guarantees: without ``$NOTIFY_SOCKET`` every method is a no-op that returns
False; a send never raises into the caller (the master loop) and never blocks
longer than :data:`SEND_TIMEOUT`; the first failure is logged once as
``sd_notify_failed``, later ones silently (a vanished manager must not flood
the error log).  Only the master sends: systemd's default ``NotifyAccess=main``
ignores messages from any other process of the unit.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger("mpmd.systemd")

#: seconds a datagram may wait for room in systemd's receive queue
SEND_TIMEOUT = 1.0


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, the clock ``MONOTONIC_USEC=`` is read on."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def socket_address(value: str) -> bytes | None:
    """``$NOTIFY_SOCKET`` as a ``sendto`` address; None for absent or unsupported.

    sd_notify(3): an absolute path, or ``@`` for the abstract namespace (Linux).
    Other forms (``vsock:`` since systemd 254) are not supported and disable
    notification rather than fail the start.
    """
    if value.startswith("/"):
        return os.fsencode(value)
    if value.startswith("@") and len(value) > 1:
        return b"\0" + os.fsencode(value[1:])
    return None


def _one_line(text: str) -> str:
    # A newline would start a new assignment inside the datagram.
    return " ".join(text.splitlines())


class Notifier:
    """Sends sd_notify messages to one socket (``address`` None: a no-op notifier)."""

    def __init__(
        self,
        address: bytes | None,
        *,
        watchdog_usec: int | None = None,
        watchdog_pid: int | None = None,
        clock_usec: Callable[[], int] = monotonic_usec,
        getpid: Callable[[], int] = os.getpid,
    ) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec
        self.watchdog_pid = watchdog_pid
        self._clock_usec = clock_usec
        self._getpid = getpid
        self._failed = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        """The notifier systemd asked for through the environment (see systemd.exec(5))."""
        raw = environ.get("NOTIFY_SOCKET", "")
        address = socket_address(raw)
        if raw and address is None:
            log.warning("sd_notify_unsupported_socket", notify_socket=raw)
        return cls(address, watchdog_usec=_positive_int(environ.get("WATCHDOG_USEC")),
                   watchdog_pid=_positive_int(environ.get("WATCHDOG_PID")))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=value`` assignments as one datagram; True if it was sent."""
        if self.address is None:
            return False
        data = "\n".join(assignments).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.settimeout(SEND_TIMEOUT)
                sock.sendto(data, self.address)
        except OSError as exc:
            self._report(exc, assignments[0] if assignments else "")
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """Start-up or a reload finished (``READY=1``), with an optional STATUS."""
        return self.send("READY=1", *self._status(status))

    def reloading(self, status: str = "") -> bool:
        """A reload began: ``RELOADING=1`` and ``MONOTONIC_USEC=`` in one datagram."""
        return self.send("RELOADING=1", f"MONOTONIC_USEC={self._clock_usec()}",
                         *self._status(status))

    def stopping(self, status: str = "") -> bool:
        return self.send("STOPPING=1", *self._status(status))

    def status(self, text: str) -> bool:
        """Free text ``systemctl status`` shows (one line)."""
        return self.send(f"STATUS={_one_line(text)}")

    def start_failed(self, reason: str) -> bool:
        """The server could not start: ``STATUS=failed to start: <reason>``.

        ``systemctl status`` then says why the unit failed, as it does after
        a failed reload.  Only the first line of ``reason`` is sent (the rest,
        a traceback, is in the error log).
        """
        first = reason.strip().splitlines()[0] if reason.strip() else "unknown error"
        return self.status(f"failed to start: {first}")

    def mainpid(self, pid: int) -> bool:
        return self.send(f"MAINPID={pid}")

    def watchdog(self) -> bool:
        """One keep-alive ping (``WATCHDOG=1``)."""
        return self.send("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between pings: half of ``WATCHDOG_USEC``, as sd_watchdog_enabled(3)
        recommends; None when no watchdog is set or it is meant for another pid."""
        if self.address is None or self.watchdog_usec is None:
            return None
        if self.watchdog_pid is not None and self.watchdog_pid != self._getpid():
            return None
        return self.watchdog_usec / 2 / 1_000_000

    def _status(self, text: str) -> tuple[str, ...]:
        return (f"STATUS={_one_line(text)}",) if text else ()

    def _report(self, exc: OSError, first: str) -> None:
        if not self._failed:
            self._failed = True
            log.warning("sd_notify_failed", notify_socket=os.fsdecode(self.address or b""),
                        message=first, error=exc.strerror or str(exc), errno=exc.errno)


@dataclass
class Heartbeat:
    """Pings the watchdog every :meth:`Notifier.watchdog_interval` seconds.

    The master calls :meth:`tick` each turn of its loop and includes
    :meth:`deadline` in its sleep, so a master stuck anywhere stops pinging and
    systemd restarts it (``WatchdogSec=``).
    """

    notifier: Notifier
    clock: Callable[[], float] = time.monotonic
    interval: float | None = field(init=False)
    next_at: float | None = field(init=False)

    def __post_init__(self) -> None:
        self.interval = self.notifier.watchdog_interval()
        self.next_at = self.clock() if self.interval is not None else None

    def deadline(self) -> float | None:
        """When the next ping is due (monotonic), or None without a watchdog."""
        return self.next_at

    def tick(self) -> None:
        if self.interval is None or self.next_at is None:
            return
        now = self.clock()
        if now >= self.next_at:
            self.notifier.watchdog()
            self.next_at = now + self.interval


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None
