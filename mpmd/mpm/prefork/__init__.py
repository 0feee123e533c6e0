"""prefork: single-threaded children, one connection at a time (mpm_prefork_module).

Maintenance is Apache's spare-server policy on whole processes
(:mod:`mpmd.mpm.spares`); the serving loop lives in
:mod:`mpmd.mpm.prefork.child`, imported only in the child.
"""

from __future__ import annotations

from typing import NoReturn

from mpmd.config.model import MpmSettings, PreforkSettings
from mpmd.mpm import spares
from mpmd.mpm.base import Capabilities, ChildContext


class PreforkMPM(spares.SpareMaintained):
    module = "mpm_prefork_module"
    name = "prefork"
    capabilities = Capabilities(threaded=False, forked=True)

    def threads_per_child(self, settings: MpmSettings) -> int:
        return 1

    def prepare(self) -> None:
        import mpmd.mpm.prefork.child  # noqa: F401

    def policy(self, settings: MpmSettings) -> spares.SparePolicy:
        assert isinstance(settings, PreforkSettings)
        return spares.SparePolicy(
            min_idle=settings.min_spare_servers,
            max_idle=settings.max_spare_servers,
            # prefork's ap_daemons_limit: MaxRequestWorkers processes at most
            slot_limit=min(settings.max_request_workers, settings.server_limit),
            capacity=spares.idle_slots,
            retirable=spares.fully_idle,
        )

    def child_main(self, context: ChildContext) -> NoReturn:
        from mpmd.mpm.prefork.child import main

        main(context)
