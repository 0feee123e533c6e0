"""worker: children with ThreadsPerChild threads, each serving one connection
from accept to close (mpm_worker_module).

Maintenance is the spare-thread policy shared with event
(:mod:`mpmd.mpm.threaded`); the serving loop is :mod:`mpmd.mpm.worker.child`,
imported only in the child (and by :meth:`WorkerMPM.prepare` in the master).
"""

from __future__ import annotations

from typing import NoReturn

from mpmd.mpm.base import ChildContext
from mpmd.mpm.threaded import ThreadedMPM


class WorkerMPM(ThreadedMPM):
    """mpm_worker_module: each thread serves one connection from accept to close."""

    module = "mpm_worker_module"
    name = "worker"

    def prepare(self) -> None:
        import mpmd.mpm.worker.child  # noqa: F401

    def child_main(self, context: ChildContext) -> NoReturn:
        from mpmd.mpm.worker.child import main

        main(context)
