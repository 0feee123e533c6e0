"""The worker threads of a threaded child (worker and event MPMs).

Each thread owns one worker slot of the child's scoreboard process slot, with
its own :class:`SlotRecorder`, and runs until it takes ``None`` from the
child's job queue.  Threads are daemons only so that an ``os._exit`` never
waits for them; :func:`stop_workers` ends them properly.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from mpmd.logs.access import open_access_logs
from mpmd.mpm.base import ChildContext
from mpmd.mpm.recorder import SlotRecorder
from mpmd.scoreboard.states import State
from mpmd.status.handler import extended_status_enabled


def start_workers(
    ctx: ChildContext, count: int, run: Callable[[SlotRecorder], None]
) -> list[threading.Thread]:
    """Start ``count`` threads, each running ``run`` with its slot's recorder."""
    logs = open_access_logs(ctx.config)
    extended = extended_status_enabled(ctx.config)
    threads = []
    for i in range(count):
        recorder = SlotRecorder(ctx.scoreboard, ctx.slot, i, logs, extended)
        thread = threading.Thread(target=run, args=(recorder,), name=f"worker-{i}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def stop_workers(
    ctx: ChildContext, threads: list[threading.Thread], jobs: queue.SimpleQueue[Any]
) -> None:
    """One ``None`` per thread behind the queued work, wait for all, mark them G."""
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    for i in range(len(threads)):
        ctx.scoreboard.worker(ctx.slot, i).status = State.GRACEFUL.value
