"""Signals to the master, turned into commands (Apache's signal semantics).

Handlers only enqueue: Python's C-level handler writes the signal number into
the wake-up socket (``signal.set_wakeup_fd``) and our Python-level handler does
nothing at all.  The master loop sleeps in ``select`` on that socket, so a
signal wakes it at once, and it reads the numbers back in arrival order.
"""

from __future__ import annotations

import enum
import signal
import socket


class Command(enum.Enum):
    STOP = "stop"  # TERM, INT
    GRACEFUL_STOP = "graceful-stop"  # WINCH
    RESTART = "restart"  # HUP
    GRACEFUL = "graceful"  # USR1
    REAP = "reap"  # CHLD


SIGNAL_COMMANDS: dict[int, Command] = {
    signal.SIGTERM: Command.STOP,
    signal.SIGINT: Command.STOP,
    signal.SIGWINCH: Command.GRACEFUL_STOP,
    signal.SIGHUP: Command.RESTART,
    signal.SIGUSR1: Command.GRACEFUL,
    signal.SIGCHLD: Command.REAP,
}


def _ignore(signum: int, frame: object) -> None:
    """Deliberately empty: the signal number already went to the wake-up socket."""


class SignalInbox:
    """Owns the wake-up socket pair and the master's signal dispositions."""

    def __init__(self, signals: tuple[int, ...] = tuple(SIGNAL_COMMANDS)) -> None:
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)
        self._signals = signals

    def install(self) -> None:
        signal.set_wakeup_fd(self._w.fileno(), warn_on_full_buffer=False)
        for sig in self._signals:
            signal.signal(sig, _ignore)

    def fileno(self) -> int:
        return self._r.fileno()

    def private_fds(self) -> tuple[int, ...]:
        """Descriptors a child must close."""
        return (self._r.fileno(), self._w.fileno())

    def commands(self) -> list[Command]:
        """Commands received since the last call, oldest first."""
        out: list[Command] = []
        while True:
            try:
                data = self._r.recv(4096)
            except BlockingIOError:
                return out
            if not data:
                return out
            out.extend(SIGNAL_COMMANDS[b] for b in data if b in SIGNAL_COMMANDS)

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        for sig in self._signals:
            signal.signal(sig, signal.SIG_DFL)
        self._r.close()
        self._w.close()
