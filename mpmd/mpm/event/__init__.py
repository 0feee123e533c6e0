"""event: threaded children whose idle and slow connections hold no thread
(mpm_event_module).

Maintenance is the spare-thread policy shared with worker
(:mod:`mpmd.mpm.threaded`); a child's poller and workers are
:mod:`mpmd.mpm.event.child`, imported only in the child (and by
:meth:`EventMPM.prepare` in the master); which connections a child takes is the
pure policy :mod:`mpmd.mpm.event.admission`.
"""

from __future__ import annotations

from typing import NoReturn

from mpmd.mpm.base import Capabilities, ChildContext
from mpmd.mpm.threaded import ThreadedMPM


class EventMPM(ThreadedMPM):
    """mpm_event_module: threads run requests; a poller holds idle connections."""

    module = "mpm_event_module"
    name = "event"
    capabilities = Capabilities(threaded=True, forked=True, async_connections=True)

    def prepare(self) -> None:
        import mpmd.mpm.event.child  # noqa: F401

    def child_main(self, context: ChildContext) -> NoReturn:
        from mpmd.mpm.event.child import main

        main(context)
