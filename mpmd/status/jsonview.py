"""``server-status?json`` and ``mpmd status --json``: the report as JSON.

One object, stable keys, plain units (bytes, seconds, milliseconds where the
name says ``_ms``), times as Unix epoch seconds.  Unlike ``?auto`` the totals
are always present (mpmd counts requests whether or not ExtendedStatus is
on); ``slots`` (the per-worker rows, whose client and request line are only
recorded with ExtendedStatus) is present only with ExtendedStatus.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from mpmd.status.model import Resources, StatusReport

CONTENT_TYPE = "application/json"


def render_json(report: StatusReport, server_name: str) -> str:
    return json.dumps(as_dict(report, server_name), indent=1) + "\n"


def as_dict(report: StatusReport, server_name: str) -> dict[str, Any]:
    facts, totals, up = report.facts, report.totals, report.uptime
    out: dict[str, Any] = {
        "server": {
            "name": server_name, "version": facts.version, "mpm": facts.mpm,
            "built": facts.built, "generation": report.generation,
            "master_pid": report.master_pid, "current_time": report.now,
            "restart_time": report.restart_time, "start_time": report.start_time,
            "uptime": up, "load": list(report.load),
            "master": _resources(report.master_resources),
        },
        "extended_status": facts.extended,
        "totals": {
            "accesses": totals.accesses, "bytes": totals.bytes, "kbytes": totals.kbytes,
            "duration_ms": totals.duration_ms, "cpu": asdict(report.cpu),
            "requests_per_second": totals.accesses / up if up else None,
            "bytes_per_second": totals.bytes / up if up else None,
            "bytes_per_request": totals.bytes / totals.accesses if totals.accesses else None,
            "duration_ms_per_request": (
                totals.duration_ms / totals.accesses if totals.accesses else None),
        },
        "workers": {"busy": report.busy, "graceful": report.graceful, "idle": report.idle},
        "connections": {"total": report.connections, "async_writing": 0,
                        "async_keep_alive": report.keep_alive,
                        "async_closing": report.closing},
        "processes": [asdict(p) for p in report.processes],
        "scoreboard": report.scoreboard,
    }
    if facts.extended:
        out["slots"] = [asdict(w) for w in report.workers]
    return out


def _resources(res: Resources | None) -> dict[str, Any] | None:
    return None if res is None else asdict(res)
