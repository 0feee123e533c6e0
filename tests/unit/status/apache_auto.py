"""A strict parser of Apache httpd 2.4's ``server-status?auto`` text.

Written from mod_status.c's ``short_report`` branch and real 2.4.62 output,
independently of mpmd's renderer: every line must be a known key in Apache's
order, with a value of that key's shape, and lines appear exactly under
Apache's conditions.  Used by the unit tests and the system tests.
"""

from __future__ import annotations

import re

_INT = r"\d+"
_APR_FLOAT = r"-?(?:\d+\.?\d*|\.\d+)(?:e[+-]\d+)?"  # APR's %g: ".5", "12", "1e+06"
_TIME = r"[A-Z][a-z]+day, \d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d \S+"
#: Apache's keys in Apache's order, with the shape of their values
KEYS: tuple[tuple[str, str], ...] = (
    ("ServerVersion", r"\S.*"),
    ("ServerMPM", r"prefork|worker|event"),
    ("Server Built", r"\S.*"),
    ("CurrentTime", _TIME),
    ("RestartTime", _TIME),
    ("ParentServerConfigGeneration", _INT),
    ("ParentServerMPMGeneration", _INT),
    ("ServerUptimeSeconds", _INT),
    ("ServerUptime", r"(?: \d+ (?:day|hour|minute|second)s?)*"),
    ("Load1", r"\d+\.\d\d"),
    ("Load5", r"\d+\.\d\d"),
    ("Load15", r"\d+\.\d\d"),
    ("Total Accesses", _INT),
    ("Total kBytes", _INT),
    ("Total Duration", _INT),
    ("CPUUser", _APR_FLOAT),
    ("CPUSystem", _APR_FLOAT),
    ("CPUChildrenUser", _APR_FLOAT),
    ("CPUChildrenSystem", _APR_FLOAT),
    ("CPULoad", _APR_FLOAT),
    ("Uptime", _INT),
    ("ReqPerSec", _APR_FLOAT),
    ("BytesPerSec", _APR_FLOAT),
    ("BytesPerReq", _APR_FLOAT),
    ("DurationPerReq", _APR_FLOAT),
    ("BusyWorkers", _INT),
    ("GracefulWorkers", _INT),
    ("IdleWorkers", _INT),
    ("Processes", _INT),
    ("Stopping", _INT),
    ("ConnsTotal", _INT),
    ("ConnsAsyncWriting", _INT),
    ("ConnsAsyncKeepAlive", _INT),
    ("ConnsAsyncClosing", _INT),
    ("Scoreboard", r"[_SRWKDCLGI.]*"),
)
ORDER = [key for key, _ in KEYS]
ALWAYS = [*ORDER[:12], "BusyWorkers", "GracefulWorkers", "IdleWorkers", "Scoreboard"]
EXTENDED = ["Total Accesses", "Total kBytes", "Total Duration", "CPUUser", "CPUSystem",
            "CPUChildrenUser", "CPUChildrenSystem", "Uptime"]
ASYNC = ["Processes", "Stopping", "ConnsTotal", "ConnsAsyncWriting", "ConnsAsyncKeepAlive",
         "ConnsAsyncClosing"]


class AutoFormatError(AssertionError):
    pass


def parse_auto(text: str) -> tuple[str, dict[str, str]]:
    """(server name, {key: value}) or :class:`AutoFormatError` saying what is wrong."""
    if not text.endswith("\n") or text.endswith("\n\n"):
        raise AutoFormatError("the text must end with exactly one newline")
    name, *lines = text[:-1].split("\n")
    if not name or ": " in name:
        raise AutoFormatError(f"the first line must be the server name, not {name!r}")
    values: dict[str, str] = {}
    for line in lines:
        key, value = _split(line)
        if key in values:
            raise AutoFormatError(f"duplicate key {key!r}")
        if values and ORDER.index(key) < ORDER.index(list(values)[-1]):
            raise AutoFormatError(f"{key!r} is out of Apache's order")
        if not re.fullmatch(dict(KEYS)[key], value):
            raise AutoFormatError(f"{key}: {value!r} is not of Apache's shape")
        values[key] = value
    _check_presence(values)
    return name, values


def _split(line: str) -> tuple[str, str]:
    if line.startswith("ServerUptime:") and not line.startswith("ServerUptimeSeconds"):
        return "ServerUptime", line[len("ServerUptime:"):]  # show_time's own leading space
    key, sep, value = line.partition(": ")
    if not sep or key not in ORDER:
        raise AutoFormatError(f"unknown line {line!r}")
    return key, value


def _check_presence(values: dict[str, str]) -> None:
    def need(keys: list[str], why: str) -> None:
        missing = [k for k in keys if k not in values]
        if missing:
            raise AutoFormatError(f"missing {missing} ({why})")

    def absent(keys: list[str], why: str) -> None:
        extra = [k for k in keys if k in values]
        if extra:
            raise AutoFormatError(f"unexpected {extra} ({why})")

    need(ALWAYS, "always printed")
    extended = "Total Accesses" in values
    (need if extended else absent)(EXTENDED, "ExtendedStatus block is all or nothing")
    (need if any(k in values for k in ASYNC) else absent)(ASYNC, "async block")
    if extended:
        up, count = int(values["Uptime"]), int(values["Total Accesses"])
        (need if up > 0 else absent)(["ReqPerSec", "BytesPerSec"], "printed iff uptime > 0")
        (need if count > 0 else absent)(["BytesPerReq", "DurationPerReq"],
                                        "printed iff a request was served")
        if values["Uptime"] != values["ServerUptimeSeconds"]:
            raise AutoFormatError("Uptime and ServerUptimeSeconds disagree")
    else:
        absent(["CPULoad", "ReqPerSec", "BytesPerSec", "BytesPerReq", "DurationPerReq"],
               "only with ExtendedStatus")
