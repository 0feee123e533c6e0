"""Which MPMs exist: ``LoadModule`` names mapped to implementations.

The table is explicit and imported lazily, so loading the configuration never
imports an MPM's runtime code.  Third-party MPMs register through the
``mpmd.mpm`` entry-point group (name = module name, value = "pkg.mod:Class").
"""

from __future__ import annotations

import importlib
import select
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from mpmd.errors import ConfigError

if TYPE_CHECKING:
    from mpmd.mpm.base import MPM

#: LoadModule name -> "module:attribute" of the MPM implementation.
BUILTIN: dict[str, str] = {
    "mpm_prefork_module": "mpmd.mpm.prefork:PreforkMPM",
    "mpm_worker_module": "mpmd.mpm.worker:WorkerMPM",
    "mpm_event_module": "mpmd.mpm.event:EventMPM",
}


def implementations() -> dict[str, str]:
    """Built-in MPMs plus those registered by installed packages."""
    table = dict(BUILTIN)
    for ep in entry_points(group="mpmd.mpm"):
        table.setdefault(ep.name, ep.value)
    return table


def available_modules() -> tuple[str, ...]:
    return tuple(implementations())


def default_module() -> tuple[str, str]:
    """The MPM used when the configuration loads none, and why.

    Apache's rule (docs "MPMs"): threads and epoll/kqueue -> event; threads
    only -> worker; otherwise prefork; restricted to the MPMs that exist here.
    """
    have = implementations()
    has_poller = hasattr(select, "epoll") or hasattr(select, "kqueue")
    if has_poller and "mpm_event_module" in have:
        return "mpm_event_module", "threads and epoll are available"
    if "mpm_worker_module" in have:
        return "mpm_worker_module", "threads are available, no epoll/kqueue"
    return "mpm_prefork_module", "no threaded MPM is available"


def load(module: str) -> MPM:
    """Import and instantiate the MPM loaded as ``module``."""
    target = implementations().get(module)
    if target is None:
        raise ConfigError(f"Unknown MPM module {module!r}")
    mod_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(mod_name), attr)
    mpm: MPM = cls()
    return mpm
