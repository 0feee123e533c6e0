"""``mpmd status`` in a terminal: a summary, the process table, the scoreboard.

:func:`render_text` turns a report into lines; :func:`watch` redraws them in
place (like ``watch(1)``): it homes the cursor and overwrites each line,
clearing what is left of it, instead of clearing the screen, so the view
does not flicker; it hides the cursor meanwhile and always shows it again.
Off a terminal, frames are printed one after another with no escape codes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from mpmd.status.apachefmt import format_byte_out, ht_time, show_time
from mpmd.status.model import ProcessStatus, StatusReport

HOME, CLEAR_SCREEN, CLEAR_LINE, CLEAR_BELOW = "\x1b[H", "\x1b[2J", "\x1b[K", "\x1b[J"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
KEY = ("_ waiting  S starting  R reading  W sending  K keep-alive  D dns",
       "C closing  L logging  G finishing  I idle cleanup  . open")
_TABLE = "{:>4} {:>8} {:>4} {:>5} {:>4} {:>5} {:>4} {:>5} {:>4} {:>9} {:>9} {:>7} {:>5}"
MAX_REQUESTS_SHOWN = 10


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


def watch(
    frame: Callable[[], list[str]],
    out: TextIO,
    *,
    interval: float,
    count: int | None,
    terminal: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Redraw ``frame()`` every ``interval`` s, ``count`` times (None: until Ctrl-C).

    Returns 0 when stopped by Ctrl-C or ``count``; an exception from
    ``frame`` (the server went away) ends the view and propagates, with the
    cursor shown again.
    """
    drawn = 0
    if terminal:
        out.write(HIDE_CURSOR + CLEAR_SCREEN)
    try:
        while count is None or drawn < count:
            lines = frame()
            _draw(out, lines, terminal)
            drawn += 1
            if count is None or drawn < count:
                sleep(interval)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a watch ends
    finally:
        if terminal:
            out.write(SHOW_CURSOR + "\n")
        out.flush()
    return 0


def _draw(out: TextIO, lines: list[str], terminal: bool) -> None:
    if terminal:
        out.write(HOME + "".join(line + CLEAR_LINE + "\n" for line in lines) + CLEAR_BELOW)
    else:
        out.write("\n".join(lines) + "\n\n")
    out.flush()
