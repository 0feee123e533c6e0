"""``mpmd status`` in a terminal: a summary, the process table, the scoreboard.

:func:`render_text` turns a report into lines; :func:`watch` redraws them in
place (like ``watch(1)``): it homes the cursor and overwrites each line,
clearing what is left of it, instead of clearing the screen, so the view
does not flicker; it hides the cursor meanwhile and always shows it again.
Off a terminal, frames are printed one after another with no escape codes.

Keys: with the keyboard on a terminal, :class:`TerminalKeys` puts it in
cbreak mode (keys arrive one by one, unechoed; Ctrl-C still interrupts) and
always restores the saved mode, on ``q``, on Ctrl-C and on any exception.
``q`` quits; off a terminal nothing is read and the wait is a plain sleep.

The server going away: a frame that raises
:class:`~mpmd.errors.ControlError` is retried for :data:`GONE_GRACE`
seconds (silently: a restart replaces the scoreboard in a moment); if the
server is still gone, :func:`watch` raises :class:`ServerGone`, so the one
message the user sees is the CLI's, with a non-zero exit status.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import termios
import time
import tty
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TextIO

from mpmd.errors import ControlError, Terminated
from mpmd.status.apachefmt import format_byte_out, ht_time, show_time
from mpmd.status.model import ProcessStatus, StatusReport

HOME, CLEAR_SCREEN, CLEAR_LINE, CLEAR_BELOW = "\x1b[H", "\x1b[2J", "\x1b[K", "\x1b[J"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
KEY = ("_ waiting  S starting  R reading  W sending  K keep-alive  D dns",
       "C closing  L logging  G finishing  I idle cleanup  . open")
_TABLE = "{:>4} {:>8} {:>4} {:>5} {:>4} {:>5} {:>4} {:>5} {:>4} {:>9} {:>9} {:>7} {:>5}"
MAX_REQUESTS_SHOWN = 10
QUIT_KEYS = frozenset("qQ")
#: how long a vanished server may take to come back before the view gives up
GONE_GRACE = 2.0
#: how often to look again meanwhile (at most; never slower than the interval)
GONE_RETRY = 0.25


def render_text(report: StatusReport, width: int = 80) -> list[str]:
    """The view, each line cut to ``width`` (a wrapped line would break the redraw)."""
    width = max(width, 20)
    lines = [
        *_summary(report), "", *_processes(report), "",
        *_scoreboard(report.scoreboard, width), *_in_progress(report),
    ]
    return [line[:width] for line in lines]


def _summary(r: StatusReport) -> list[str]:
    f, t, up = r.facts, r.totals, r.uptime
    per_req = f", {t.duration_ms / t.accesses:.1f} ms/request" if t.accesses else ""
    rate = f", {t.accesses / up:.2f}/s" if up else ""
    lines = [
        f"{f.version} - {f.mpm} MPM - generation {r.generation} - master pid {r.master_pid}",
        f"Restarted {ht_time(r.restart_time)}, up{show_time(up) or ' 0 seconds'}; "
        f"load {r.load[0]:.2f} {r.load[1]:.2f} {r.load[2]:.2f}",
        f"Requests: {t.accesses}{rate}, {format_byte_out(t.bytes)} sent{per_req}",
        f"Workers: {r.busy} busy, {r.graceful} graceful, {r.idle} idle; "
        f"{len(r.processes)} processes, {r.stopping} stopping",
        f"Connections: {r.connections} ({r.keep_alive} idle keep-alive, {r.closing} closing)",
        f"CPU: user {r.cpu.user:.2f} s, system {r.cpu.system:.2f} s, "
        f"reaped children {r.cpu.children_user + r.cpu.children_system:.2f} s",
    ]
    return lines


def _processes(r: StatusReport) -> list[str]:
    head = _TABLE.format("SLOT", "PID", "GEN", "STOP", "ACPT", "CONNS", "BUSY", "GRACE",
                         "IDLE", "RSS", "USS", "CPU s", "SOCKS")
    return [head, *(_process_line(p) for p in r.processes)]


def _process_line(p: ProcessStatus) -> str:
    res = p.resources
    rss = format_byte_out(res.rss) if res else "-"
    uss = format_byte_out(res.uss) if res and res.uss is not None else "-"
    cpu = f"{res.cpu.user + res.cpu.system:.2f}" if res else "-"
    socks = str(res.connections) if res and res.connections is not None else "-"
    gen = f"{p.generation}{'*' if p.old_generation else ''}"
    return _TABLE.format(p.slot, p.pid, gen, "yes" if p.stopping else "no",
                         "yes" if p.accepting else "no", p.connections, p.busy, p.graceful,
                         p.idle, rss, uss, cpu, socks)


def _scoreboard(letters: str, width: int) -> list[str]:
    rows = [letters[i:i + width] for i in range(0, len(letters), width)] or [""]
    return [f"Scoreboard ({len(letters)} slots):", *rows, *KEY]


def _in_progress(r: StatusReport) -> list[str]:
    """ExtendedStatus: the requests being served now, longest first."""
    busy = sorted((w for w in r.workers if w.state == "W" and w.request),
                  key=lambda w: -w.request_ms)[:MAX_REQUESTS_SHOWN]
    if not busy:
        return []
    rows = [f"{w.process}-{w.generation} pid {w.pid} {w.request_ms / 1000:.1f}s "
            f"{w.client} {w.request}" for w in busy]
    return ["", "In progress:", *rows]


class ServerGone(ControlError):
    """The server stayed gone for the whole grace period of a live view."""


class Keys(Protocol):
    def wait(self, timeout: float) -> str:
        """Wait up to ``timeout`` s, less if a key is typed; what was typed."""
        ...


class Sleeper:
    """No keyboard to read (not a terminal): waiting is sleeping."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep

    def wait(self, timeout: float) -> str:
        self._sleep(timeout)
        return ""


class TerminalKeys:
    """Keys from a terminal in cbreak mode; use as a context manager, which
    restores the terminal's saved mode however the block ends."""

    #: Signals that end the view the way Ctrl-C does: the default action would
    #: kill the process with the terminal left in cbreak mode.
    ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._saved: list[Any] | None = None
        self._handlers: dict[int, Any] = {}

    def __enter__(self) -> TerminalKeys:
        self._saved = termios.tcgetattr(self.fd)
        for signum in self.ENDING_SIGNALS:
            self._handlers[signum] = signal.signal(signum, _raise_terminated)
        tty.setcbreak(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            with contextlib.suppress(termios.error):  # the terminal may be gone (hang-up)
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None
        for signum, handler in self._handlers.items():
            signal.signal(signum, handler)
        self._handlers = {}

    def wait(self, timeout: float) -> str:
        timeout = max(timeout, 0.0)
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return ""
        try:
            data = os.read(self.fd, 64)
        except OSError:  # EIO: the terminal hung up
            data = b""
        if not data:  # nothing will ever come: wait as told rather than spin
            time.sleep(timeout)
        return data.decode("utf-8", "replace")


def _raise_terminated(signum: int, _frame: object) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def keyboard(stream: object | None) -> Iterator[Keys]:
    """:class:`TerminalKeys` when ``stream`` is a terminal, else a :class:`Sleeper`."""
    fd = None if stream is None else _tty_fd(stream)
    if fd is None:
        yield Sleeper()
        return
    with TerminalKeys(fd) as keys:
        yield keys


def _tty_fd(stream: object) -> int | None:
    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
        return fd if isinstance(fd, int) and os.isatty(fd) else None
    except (AttributeError, OSError, ValueError):
        return None  # e.g. a test's captured stdin


def watch(
    frame: Callable[[], list[str]],
    out: TextIO,
    *,
    interval: float,
    count: int | None,
    terminal: bool,
    keys: Keys | None = None,
    grace: float = GONE_GRACE,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Redraw ``frame()`` every ``interval`` s, ``count`` times (None: until
    ``q`` or Ctrl-C); 0 when so stopped.

    ``frame`` raises :class:`~mpmd.errors.ControlError` when the server is
    not there: at the first frame that propagates at once (nothing to
    watch); later it is retried for ``grace`` s, then :class:`ServerGone`
    (a ControlError) is raised.  The
    cursor is shown again whatever happens.
    """
    keys = keys if keys is not None else Sleeper()
    drawn = 0
    if terminal:
        out.write(HIDE_CURSOR + CLEAR_SCREEN)
    try:
        lines: list[str] | None = frame()
        while lines is not None:
            _draw(out, lines, terminal)
            drawn += 1
            if count is not None and drawn >= count:
                break
            if QUIT_KEYS & set(keys.wait(interval)):
                break
            lines = _next_frame(frame, keys, interval, grace, clock)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a watch ends
    finally:
        if terminal:
            out.write(SHOW_CURSOR + "\n")
        out.flush()
    return 0


def _next_frame(frame: Callable[[], list[str]], keys: Keys, interval: float, grace: float,
                clock: Callable[[], float]) -> list[str] | None:
    """The next frame, waiting out a server that is briefly gone; None on ``q``."""
    gone_since: float | None = None
    while True:
        try:
            return frame()
        except ControlError as exc:
            now = clock()
            if gone_since is None:
                gone_since = now
            if now - gone_since >= grace:
                raise ServerGone(f"the server went away: {exc}") from exc
        if QUIT_KEYS & set(keys.wait(min(interval, GONE_RETRY))):
            return None


def _draw(out: TextIO, lines: list[str], terminal: bool) -> None:
    if terminal:
        out.write(HOME + "".join(line + CLEAR_LINE + "\n" for line in lines) + CLEAR_BELOW)
    else:
        out.write("\n".join(lines) + "\n\n")
    out.flush()
