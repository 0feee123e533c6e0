"""``server-status?auto``: mod_status's machine-readable text, key for key.

The keys, their order and the conditions under which a line appears are
those of httpd 2.4 (``status_handler`` in ``modules/generators/mod_status.c``
with its ``short_report`` branch), so collectd, Telegraf, Datadog, Zabbix and
the Prometheus apache_exporter parse mpmd unchanged:

* the first line is the server name (the request's host, as
  ``ap_get_server_name``), then ServerVersion ... Load15;
* with ExtendedStatus: Total Accesses, Total kBytes, Total Duration (ms), the
  four CPU lines, CPULoad (only when some CPU was used), Uptime, ReqPerSec and
  BytesPerSec (only when uptime > 0), BytesPerReq and DurationPerReq (only
  when a request was served);
* BusyWorkers, GracefulWorkers, IdleWorkers;
* for an asynchronous MPM (event): Processes, Stopping, ConnsTotal,
  ConnsAsyncWriting, ConnsAsyncKeepAlive, ConnsAsyncClosing;
* Scoreboard.

Floats go through APR's ``%g`` (:func:`~mpmd.status.apachefmt.apr_g`).
mpmd never defers writes to the poller, so ConnsAsyncWriting is always 0.
"""

from __future__ import annotations

from mpmd.status.apachefmt import KBYTE, apr_g, ht_time, show_time
from mpmd.status.model import StatusReport

CONTENT_TYPE = "text/plain; charset=ISO-8859-1"


def render_auto(report: StatusReport, server_name: str) -> str:
    lines = [server_name, *_server_lines(report)]
    if report.facts.extended:
        lines += _extended_lines(report)
    lines += [
        f"BusyWorkers: {report.busy}",
        f"GracefulWorkers: {report.graceful}",
        f"IdleWorkers: {report.idle}",
    ]
    if report.facts.asynchronous:
        lines += _async_lines(report)
    lines.append(f"Scoreboard: {report.scoreboard}")
    return "\n".join(lines) + "\n"


def _server_lines(report: StatusReport) -> list[str]:
    up = report.uptime
    load1, load5, load15 = report.load
    return [
        f"ServerVersion: {report.facts.version}",
        f"ServerMPM: {report.facts.mpm}",
        f"Server Built: {report.facts.built}",
        f"CurrentTime: {ht_time(report.now)}",
        f"RestartTime: {ht_time(report.restart_time)}",
        f"ParentServerConfigGeneration: {report.generation}",
        f"ParentServerMPMGeneration: {report.generation}",
        f"ServerUptimeSeconds: {up}",
        f"ServerUptime:{show_time(up)}",
        f"Load1: {load1:.2f}",
        f"Load5: {load5:.2f}",
        f"Load15: {load15:.2f}",
    ]


def _extended_lines(report: StatusReport) -> list[str]:
    totals, cpu, up = report.totals, report.cpu, report.uptime
    count, kbytes = totals.accesses, totals.kbytes
    lines = [
        f"Total Accesses: {count}",
        f"Total kBytes: {kbytes}",
        f"Total Duration: {totals.duration_ms}",
        f"CPUUser: {apr_g(cpu.user)}",
        f"CPUSystem: {apr_g(cpu.system)}",
        f"CPUChildrenUser: {apr_g(cpu.children_user)}",
        f"CPUChildrenSystem: {apr_g(cpu.children_system)}",
    ]
    if cpu.total and up > 0:  # Apache divides by up_time unguarded; we skip the 0 s case
        lines.append(f"CPULoad: {apr_g(cpu.total / up * 100.0)}")
    lines.append(f"Uptime: {up}")
    if up > 0:
        lines.append(f"ReqPerSec: {apr_g(count / up)}")
        lines.append(f"BytesPerSec: {apr_g(KBYTE * kbytes / up)}")
    if count > 0:
        lines.append(f"BytesPerReq: {apr_g(KBYTE * kbytes / count)}")
        lines.append(f"DurationPerReq: {apr_g(totals.duration_ms / count)}")
    return lines


def _async_lines(report: StatusReport) -> list[str]:
    return [
        f"Processes: {len(report.processes)}",
        f"Stopping: {report.stopping}",
        f"ConnsTotal: {report.connections}",
        "ConnsAsyncWriting: 0",
        f"ConnsAsyncKeepAlive: {report.keep_alive}",
        f"ConnsAsyncClosing: {report.closing}",
    ]
