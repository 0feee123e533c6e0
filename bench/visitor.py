"""New visitors: fresh connections, one request each, timed, beside whatever else runs.

A keep-alive benchmark only reports requests that completed, so a server that keeps
serving the same few connections while the rest wait (prefork with keep-alive) looks
fast.  Visitors show what a newcomer gets meanwhile: their p50/p99 and how many failed
within the 2 s timeout.  Bounded in time and count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bench import probe
from bench.results import Sample, percentile

TIMEOUT_S = 2.0
MAX_REQUESTS = 200_000


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    failed: int = 0

    def figures(self, prefix: str, seconds: float) -> Sample:
        lat = self.latencies
        return {f"{prefix}p50_ms": percentile(lat, 50) * 1000,
                f"{prefix}p99_ms": percentile(lat, 99) * 1000,
                f"{prefix}ok": len(lat), f"{prefix}failed": self.failed,
                f"{prefix}rps": len(lat) / seconds if seconds > 0 else 0.0}


def _visit(port: int, path: str, stop: threading.Event, tally: Tally) -> None:
    for _ in range(MAX_REQUESTS):
        if stop.is_set():
            return
        got = probe.get(port, path, timeout_s=TIMEOUT_S)
        if got.ok:
            tally.latencies.append(got.seconds)
        else:
            tally.failed += 1


@contextmanager
def visitors(port: int, path: str, count: int = 1) -> Iterator[Tally]:
    """Run ``count`` sequential visitors until the block ends; the yielded tally is
    filled when the block ends (each thread keeps its own until then)."""
    total = Tally()
    own = [Tally() for _ in range(count)]
    stop = threading.Event()
    threads = [threading.Thread(target=_visit, args=(port, path, stop, t), daemon=True)
               for t in own]
    for t in threads:
        t.start()
    try:
        yield total
    finally:
        stop.set()
        for t in threads:
            t.join(TIMEOUT_S + 5)
        for tally in own:
            total.latencies += tally.latencies
            total.failed += tally.failed


def run_for(port: int, path: str, seconds: float, count: int) -> Sample:
    """Visitors alone for ``seconds`` (beside a crowd); no prefix on the figures."""
    with visitors(port, path, count) as tally:
        time.sleep(seconds)
    return tally.figures("", seconds)
