"""``server-status``: the HTML page, laid out as mod_status's.

The same sections in the same order as httpd 2.4, so people (and scrapers)
that know Apache's page find everything where they expect it: server facts,
totals (ExtendedStatus), the worker counts, the per-process table, the
scoreboard in lines of 64 letters with its key, then the per-worker table
(ExtendedStatus) or the PID key (without it).  Beyond Apache, the process
table is shown for every MPM (not only event) and carries each process's
generation and resources (RSS, USS, PSS, CPU, sockets).

Everything taken from the scoreboard or the request is HTML-escaped.
"""

from __future__ import annotations

from html import escape

from mpmd.scoreboard.states import LEGEND
from mpmd.status.apachefmt import (
    KBYTE,
    MBYTE,
    apr_g,
    format_byte_out,
    format_kbyte_out,
    ht_time,
    show_time,
)
from mpmd.status.model import LETTERS_PER_LINE, ProcessStatus, StatusReport, WorkerStatus

CONTENT_TYPE = "text/html; charset=ISO-8859-1"
_DOCTYPE = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'
_WORKER_KEY = (
    ("Srv", "Child Server number - generation"),
    ("PID", "OS process ID"),
    ("Acc", "Number of accesses this connection / this child / this slot"),
    ("M", "Mode of operation"),
    ("SS", "Seconds since beginning of most recent request"),
    ("Req", "Milliseconds required to process most recent request"),
    ("Dur", "Sum of milliseconds required to process all requests"),
    ("Conn", "Kilobytes transferred this connection"),
    ("Child", "Megabytes transferred this child"),
    ("Slot", "Total megabytes transferred this slot"),
)


def render_html(report: StatusReport, server_name: str, local_ip: str) -> str:
    parts = [_head(report, server_name, local_ip)]
    if report.facts.extended:
        parts.append(_totals(report))
    parts.append(
        f"<dt>{report.busy} requests currently being processed, "
        f"{report.graceful} workers gracefully restarting, "
        f"{report.idle} idle workers</dt>\n</dl>\n"
    )
    parts += [_process_table(report), _scoreboard(report.scoreboard), _key()]
    parts.append(_worker_table(report) if report.facts.extended else _pid_key(report))
    parts.append(f"<hr />\n<address>{escape(report.facts.version)} Server at "
                 f"{escape(server_name)}</address>\n</body></html>\n")
    return "".join(parts)


def _head(report: StatusReport, server_name: str, local_ip: str) -> str:
    facts, up = report.facts, report.uptime
    load = " ".join(f"{x:.2f}" for x in report.load)
    return (
        f"{_DOCTYPE}<html><head>\n<title>mpmd Status</title>\n</head><body>\n"
        f"<h1>mpmd Server Status for {escape(server_name)} (via {escape(local_ip)})</h1>\n\n"
        f"<dl><dt>Server Version: {escape(facts.version)}</dt>\n"
        f"<dt>Server MPM: {escape(facts.mpm)}</dt>\n"
        f"<dt>Server Built: {escape(facts.built)}\n</dt></dl><hr /><dl>\n"
        f"<dt>Current Time: {ht_time(report.now)}</dt>\n"
        f"<dt>Restart Time: {ht_time(report.restart_time)}</dt>\n"
        f"<dt>Parent Server Config. Generation: {report.generation}</dt>\n"
        f"<dt>Parent Server MPM Generation: {report.generation}</dt>\n"
        f"<dt>Server uptime: {show_time(up)}</dt>\n"
        f"<dt>Server load: {load}</dt>\n"
    )


def _totals(report: StatusReport) -> str:
    totals, cpu, up = report.totals, report.cpu, report.uptime
    count, kbytes = totals.accesses, totals.kbytes
    out = (f"<dt>Total accesses: {count} - Total Traffic: {format_kbyte_out(kbytes)}"
           f" - Total Duration: {totals.duration_ms}</dt>\n"
           f"<dt>CPU Usage: u{apr_g(cpu.user)} s{apr_g(cpu.system)} "
           f"cu{apr_g(cpu.children_user)} cs{apr_g(cpu.children_system)}")
    if cpu.total and up > 0:
        out += f" - {apr_g(cpu.total / up * 100.0, 3)}% CPU load"
    rates = []
    if up > 0:
        rates.append(f"{apr_g(count / up, 3)} requests/sec - "
                     f"{format_byte_out(KBYTE * kbytes / up)}/second")
    if count > 0:
        rates.append(f"{format_byte_out(KBYTE * kbytes / count)}/request - "
                     f"{apr_g(totals.duration_ms / count)} ms/request")
    return out + "</dt>\n<dt>" + " - ".join(rates) + "</dt>\n"


def _process_table(report: StatusReport) -> str:
    asynchronous = report.facts.asynchronous
    async_head = '<th colspan="3">Async connections</th>' if asynchronous else ""
    async_cols = "<th>writing</th><th>keep-alive</th><th>closing</th>" if asynchronous else ""
    rows = "".join(_process_row(p, asynchronous) for p in report.processes)
    return (
        '\n\n<table rules="all" cellpadding="1%">\n'
        '<tr><th rowspan="2">Slot</th><th rowspan="2">PID</th>'
        '<th rowspan="2">Generation</th><th rowspan="2">Stopping</th>'
        '<th colspan="2">Connections</th>\n<th colspan="3">Threads</th>'
        f'{async_head}<th colspan="5">Resources</th></tr>\n'
        "<tr><th>total</th><th>accepting</th><th>busy</th><th>graceful</th><th>idle</th>"
        f"{async_cols}<th>RSS</th><th>USS</th><th>PSS</th><th>CPU s</th><th>sockets</th>"
        f"</tr>\n{rows}{_sum_row(report)}</table>\n"
    )


def _process_row(p: ProcessStatus, asynchronous: bool) -> str:
    stopping = "yes" if p.stopping else "no"
    old = " (old gen)" if p.old_generation else ""
    cells = [str(p.slot), str(p.pid), str(p.generation), stopping + old, str(p.connections),
             "yes" if p.accepting else "no", str(p.busy), str(p.graceful), str(p.idle)]
    if asynchronous:
        cells += ["0", str(p.keep_alive), str(p.closing)]
    cells += _resource_cells(p)
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n"


def _resource_cells(p: ProcessStatus) -> list[str]:
    res = p.resources
    if res is None:
        return ["-"] * 5
    mem = [format_byte_out(v) if v is not None else "-" for v in (res.rss, res.uss, res.pss)]
    conns = "-" if res.connections is None else str(res.connections)
    return [*mem, f"{res.cpu.user + res.cpu.system:.2f}", conns]


def _sum_row(report: StatusReport) -> str:
    """Apache's Sum row: the PID column counts processes, Stopping the stopping ones."""
    ps = report.processes
    threads = [sum(p.busy for p in ps), sum(p.graceful for p in ps), sum(p.idle for p in ps)]
    cells = ["Sum", str(len(ps)), "&nbsp;", str(report.stopping), str(report.connections),
             "&nbsp;", *map(str, threads)]
    if report.facts.asynchronous:
        cells += ["0", str(report.keep_alive), str(report.closing)]
    cells += ["&nbsp;"] * 5
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n"


def _scoreboard(letters: str) -> str:
    lines = [letters[i:i + LETTERS_PER_LINE] for i in range(0, len(letters), LETTERS_PER_LINE)]
    return "<pre>" + "\n".join(lines) + "</pre>\n"


def _key() -> str:
    items = [f'"<b><code>{escape(letter)}</code></b>" {text}' for letter, text in LEGEND]
    body = ""
    for i, item in enumerate(items):
        last = i == len(items) - 1
        body += item + ("" if last else ",") + ("<br />\n" if last or i % 3 == 2 else "\n")
    return f"<p>Scoreboard Key:<br />\n{body}</p>\n"


def _pid_key(report: StatusReport) -> str:
    """Without ExtendedStatus mod_status lists the pids instead of the worker table."""
    entries = [f"   {p.pid}: {p.busy} busy, {p.graceful} graceful, {p.idle} idle"
               for p in report.processes]
    return "PID Key: <br />\n<pre>\n" + "\n".join(entries) + "\n</pre>\n"


def _worker_table(report: StatusReport) -> str:
    head = "".join(f"<th>{name}</th>" for name in (
        "Srv", "PID", "Acc", "M", "SS", "Req", "Dur", "Conn", "Child", "Slot", "Client",
        "Protocol", "Request"))
    rows = "".join(_worker_row(w, report.now) for w in report.workers)
    key = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>\n" for k, v in _WORKER_KEY)
    return (f'\n\n<table border="0"><tr>{head}</tr>\n\n{rows}</table>\n'
            f"<hr />\n<table>\n{key}</table>\n")


def _worker_row(w: WorkerStatus, now: float) -> str:
    since = int(now - w.last_used) if w.last_used else 0
    protocol = w.request.rsplit(" ", 1)[-1].lower() if w.request.count(" ") >= 2 else ""
    cells = [
        f"<b>{w.process}-{w.generation}</b>", str(w.pid) if w.pid else "-",
        f"{w.conn_accesses}/{w.my_accesses}/{w.accesses}",
        f"<b>{escape(w.state)}</b>" if w.state not in "_." else w.state,
        str(max(since, 0)), str(w.request_ms), str(w.duration_ms),
        f"{w.conn_bytes / KBYTE:.1f}", f"{w.my_bytes / MBYTE:.2f}", f"{w.bytes / MBYTE:.2f}",
        escape(w.client), escape(protocol), f"<nobr>{escape(w.request)}</nobr>",
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n\n"
