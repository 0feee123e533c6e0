"""The report in Prometheus's text exposition format (version 0.0.4).

Served by the ``server-metrics`` handler at whatever ``<Location>`` the
operator gives it.  Names follow Prometheus's conventions (base units,
``_total`` for counters, ``_bytes``/``_seconds`` suffixes); the scoreboard
states use the label values of the widely deployed apache_exporter
(``idle``, ``startup``, ``read``, ``reply``, ``keepalive`` ...), so
dashboards written for Apache need only a new metric prefix.

Counters are monotonic for the life of a generation's scoreboard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mpmd.status.model import ProcessStatus, StatusReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: scoreboard letter -> apache_exporter's ``state`` label value
STATE_LABELS: Mapping[str, str] = {
    "_": "idle", "S": "startup", "R": "read", "W": "reply", "K": "keepalive", "D": "dns",
    "C": "closing", "L": "logging", "G": "graceful_stop", "I": "idle_cleanup",
    ".": "open_slot",
}

Labels = Mapping[str, str | int]
Sample = tuple[Labels, float]


def render_prometheus(report: StatusReport) -> str:
    out: list[str] = []
    for name, kind, text, samples in _families(report):
        out.append(f"# HELP {name} {text}\n# TYPE {name} {kind}\n")
        out.extend(f"{name}{_labels(labels)} {_number(value)}\n" for labels, value in samples)
    return "".join(out)


def _families(report: StatusReport) -> Iterable[tuple[str, str, str, list[Sample]]]:
    yield from _server_families(report)
    yield from _worker_families(report)
    yield from _process_families(report.processes)


def _server_families(r: StatusReport) -> Iterable[tuple[str, str, str, list[Sample]]]:
    facts, cpu = r.facts, r.cpu
    yield ("mpmd_info", "gauge", "Server version and MPM.",
           [({"version": facts.version, "mpm": facts.mpm}, 1)])
    yield ("mpmd_generation", "gauge", "The current generation.", [({}, r.generation)])
    yield ("mpmd_start_time_seconds", "gauge", "When the server first started (Unix time).",
           [({}, r.start_time)])
    yield ("mpmd_restart_time_seconds", "gauge",
           "When the current generation started (Unix time).", [({}, r.restart_time)])
    yield ("mpmd_uptime_seconds", "gauge", "Seconds since the server first started.",
           [({}, max(r.now - r.restart_time, 0.0))])
    yield ("mpmd_requests_total", "counter", "Requests served.", [({}, r.totals.accesses)])
    yield ("mpmd_sent_bytes_total", "counter", "Bytes sent, response heads included.",
           [({}, r.totals.bytes)])
    yield ("mpmd_request_duration_seconds_total", "counter",
           "Time spent serving requests, summed.", [({}, r.totals.duration_ms / 1000)])
    yield ("mpmd_cpu_seconds_total", "counter", "CPU time of the master and its children.",
           [({"mode": "user"}, cpu.user), ({"mode": "system"}, cpu.system),
            ({"mode": "children_user"}, cpu.children_user),
            ({"mode": "children_system"}, cpu.children_system)])
    if r.master_resources is not None:
        yield ("mpmd_master_resident_memory_bytes", "gauge", "Resident memory of the master.",
               [({}, r.master_resources.rss)])


def _worker_families(r: StatusReport) -> Iterable[tuple[str, str, str, list[Sample]]]:
    yield ("mpmd_workers", "gauge", "Workers by activity (Apache's BusyWorkers ...).",
           [({"state": "busy"}, r.busy), ({"state": "graceful"}, r.graceful),
            ({"state": "idle"}, r.idle)])
    counts = {label: r.scoreboard.count(letter) for letter, label in STATE_LABELS.items()}
    yield ("mpmd_scoreboard", "gauge", "Scoreboard slots by state.",
           [({"state": label}, n) for label, n in counts.items()])
    yield ("mpmd_processes", "gauge", "Child processes.", [({}, len(r.processes))])
    yield ("mpmd_processes_stopping", "gauge", "Child processes finishing before they exit.",
           [({}, r.stopping)])
    yield ("mpmd_connections", "gauge", "Connections held by the children.",
           [({"state": "total"}, r.connections), ({"state": "keepalive"}, r.keep_alive),
            ({"state": "closing"}, r.closing)])


def _process_families(
    processes: tuple[ProcessStatus, ...],
) -> Iterable[tuple[str, str, str, list[Sample]]]:
    def each(path: str) -> list[Sample]:
        return [(_ids(p), float(v)) for p in processes
                if isinstance(v := getattr_path(p, path), int | float)]

    yield ("mpmd_process_start_time_seconds", "gauge", "When the child started (Unix time).",
           each("started"))
    yield ("mpmd_process_connections", "gauge", "Connections the child holds.",
           each("connections"))
    yield ("mpmd_process_workers", "gauge", "The child's workers by activity.",
           [({**_ids(p), "state": state}, getattr(p, state)) for p in processes
            for state in ("busy", "graceful", "idle")])
    yield ("mpmd_process_resident_memory_bytes", "gauge", "Resident set size.",
           each("resources.rss"))
    yield ("mpmd_process_unique_memory_bytes", "gauge", "Unique set size (USS).",
           each("resources.uss"))
    yield ("mpmd_process_proportional_memory_bytes", "gauge", "Proportional set size (PSS).",
           each("resources.pss"))
    yield ("mpmd_process_cpu_seconds_total", "counter", "CPU time of the child.",
           [({**ids, "mode": mode}, v) for mode in ("user", "system")
            for ids, v in _cpu_samples(processes, mode)])
    yield ("mpmd_process_sockets", "gauge", "TCP connections the OS reports for the child.",
           each("resources.connections"))


def _cpu_samples(processes: tuple[ProcessStatus, ...], mode: str) -> list[Sample]:
    return [(_ids(p), getattr(p.resources.cpu, mode)) for p in processes
            if p.resources is not None]


def getattr_path(obj: object, path: str) -> object:
    """``a.b.c`` on ``obj``; None as soon as a step is None."""
    for part in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, part)
    return obj


def _ids(p: ProcessStatus) -> dict[str, str | int]:
    return {"slot": p.slot, "pid": p.pid, "generation": p.generation}


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    body = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))
