"""worker and event: children with a fixed pool of ThreadsPerChild threads.

Both share Apache's spare-*thread* maintenance (worker.c / event.c
``perform_idle_server_maintenance``): idle capacity is counted in worker
threads (starting or ready) over current-generation, non-quiescing children;
below MinSpareThreads children are forked 1, 2, 4 … 32 a second, above
MaxSpareThreads one child a second is told to stop gracefully.  At most
``MaxRequestWorkers / ThreadsPerChild`` children run (Apache's
``active_daemons_limit``).

They differ only in how a child serves: see :mod:`mpmd.mpm.worker` and
:mod:`mpmd.mpm.event`.
"""

from __future__ import annotations

from mpmd.config.model import MpmSettings, ThreadedSettings
from mpmd.mpm import spares
from mpmd.mpm.base import Capabilities
from mpmd.scoreboard.board import ProcessView


def _any_child(view: ProcessView) -> bool:
    # Apache signals "one child" through the pod whatever it is doing; the
    # child then drains (finishes its connections), so nothing is cut.
    return True


class ThreadedMPM(spares.SpareMaintained):
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
