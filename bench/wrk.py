"""wrk as the load generator: one bounded run, its text output parsed.

Guarantees: the run is bounded (``-d`` plus a subprocess timeout), targets loopback,
and the parser returns every figure the report needs or raises BenchError naming the
missing one.  Latency percentiles come from ``--latency``.
"""

from __future__ import annotations

import math
import re
import signal
import subprocess
from dataclasses import dataclass, field

from bench.procs import BenchError

STALL_GRACE_S = 5
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass(frozen=True)
class WrkRun:
    port: int
    path: str
    connections: int
    seconds: int  # wrk takes whole seconds
    headers: tuple[str, ...] = ()
    timeout_s: int = 2

    def argv(self) -> list[str]:
        argv = ["wrk", "-t1", f"-c{self.connections}", f"-d{self.seconds}s", "--latency"]
        argv += ["--timeout", f"{self.timeout_s}s"]
        for header in self.headers:
            argv += ["-H", header]
        return [*argv, f"http://127.0.0.1:{self.port}{self.path}"]


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    socket_errors: dict[str, int] = field(default_factory=dict)
    non2xx: int = 0

    @property
    def errors(self) -> int:
        return sum(self.socket_errors.values())


def start(run: WrkRun) -> subprocess.Popen[str]:
    """Start wrk in the background (for measuring while something else happens)."""
    return subprocess.Popen(
        run.argv(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def stop(proc: subprocess.Popen[str], run: WrkRun) -> WrkResult:
    """End a run before its duration: wrk prints what it measured on SIGINT."""
    proc.send_signal(signal.SIGINT)
    return finish(proc, run)


def finish(proc: subprocess.Popen[str], run: WrkRun) -> WrkResult:
    """Wait for wrk; if it overstays (it hangs when no connection can be made: a full
    backlog), SIGINT it (it then prints what it has), KILL as a last resort."""
    try:
        out, _ = proc.communicate(timeout=run.seconds + STALL_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        if "requests in" not in out:
            return WrkResult(0, 0.0, math.nan, math.nan, {"stalled": run.connections})
    return parse(out)


def measure(run: WrkRun) -> WrkResult:
    return finish(start(run), run)


def parse(text: str) -> WrkResult:
    requests = int(_find(r"(\d+) requests in", text))
    nothing = "nan" if requests == 0 else None  # wrk prints 0.00us percentiles then
    return WrkResult(
        requests=requests,
        rps=float(_find(r"Requests/sec:\s+([\d.]+)", text)),
        p50_ms=_duration_ms(nothing or _find(r"\s50%\s+([\d.]+\w+)", text, "nan")),
        p99_ms=_duration_ms(nothing or _find(r"\s99%\s+([\d.]+\w+)", text, "nan")),
        socket_errors=_socket_errors(text),
        non2xx=int(_find(r"Non-2xx or 3xx responses:\s+(\d+)", text, "0")),
    )


def _find(pattern: str, text: str, default: str | None = None) -> str:
    match = re.search(pattern, text)
    if match:
        return match.group(1)
    if default is None:
        raise BenchError(f"wrk output lacks {pattern!r}: {text[-400:]!r}")
    return default


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        return float("nan")
    return float(match.group(1)) * UNITS_MS[match.group(2)]


def _socket_errors(text: str) -> dict[str, int]:
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if not match:
        return {}
    return dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups()), strict=True))
