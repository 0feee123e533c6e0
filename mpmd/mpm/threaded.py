"""worker and event: children with a fixed pool of ThreadsPerChild threads.

Both share Apache's spare-*thread* maintenance (worker.c / event.c
``perform_idle_server_maintenance``): idle capacity is counted in worker
threads (starting or ready) over current-generation, non-quiescing children;
below MinSpareThreads children are forked 1, 2, 4 … 32 a second, above
MaxSpareThreads one child a second is told to stop gracefully.  At most
``MaxRequestWorkers / ThreadsPerChild`` children run (Apache's
``active_daemons_limit``).

They differ only in how a child serves: see :mod:`mpmd.mpm.worker_child` and
:mod:`mpmd.mpm.event_child`, imported only in the child.
"""

from __future__ import annotations

from typing import NoReturn

from mpmd.config.model import MpmSettings, ThreadedSettings
from mpmd.mpm import spares
from mpmd.mpm.base import Capabilities, ChildContext
from mpmd.mpm.child import enter_child, exit_child, load_handler
from mpmd.scoreboard.board import ProcessView


def _any_child(view: ProcessView) -> bool:
    # Apache signals "one child" through the pod whatever it is doing; the
    # child then drains (finishes its connections), so nothing is cut.
    return True


class _ThreadedMPM(spares.SpareMaintained):
    module = ""
    name = ""
    capabilities = Capabilities(threaded=True, forked=True)

    def threads_per_child(self, settings: MpmSettings) -> int:
        assert isinstance(settings, ThreadedSettings)
        return settings.threads_per_child

    def policy(self, settings: MpmSettings) -> spares.SparePolicy:
        assert isinstance(settings, ThreadedSettings)
        return spares.SparePolicy(
            min_idle=settings.min_spare_threads,
            max_idle=settings.max_spare_threads,
            slot_limit=min(
                settings.server_limit,
                max(settings.max_request_workers // settings.threads_per_child, 1),
            ),
            capacity=spares.idle_slots,
            retirable=_any_child,
        )


class WorkerMPM(_ThreadedMPM):
    """mpm_worker_module: each thread serves one connection from accept to close."""

    module = "mpm_worker_module"
    name = "worker"

    def prepare(self) -> None:
        import mpmd.mpm.worker_child  # noqa: F401

    def child_main(self, context: ChildContext) -> NoReturn:
        control = enter_child(context, self.name)
        handler = load_handler(context, self.name, multithread=True)
        from mpmd.mpm.worker_child import WorkerChild

        exit_child(WorkerChild(context, control, handler).run())


class EventMPM(_ThreadedMPM):
    """mpm_event_module: threads run requests; a poller holds idle connections."""

    module = "mpm_event_module"
    name = "event"
    capabilities = Capabilities(threaded=True, forked=True, async_connections=True)

    def prepare(self) -> None:
        import mpmd.mpm.event_child  # noqa: F401

    def child_main(self, context: ChildContext) -> NoReturn:
        control = enter_child(context, self.name)
        handler = load_handler(context, self.name, multithread=True)
        from mpmd.mpm.event_child import EventChild

        exit_child(EventChild(context, control, handler).run())
