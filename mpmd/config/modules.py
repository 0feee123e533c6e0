"""Which modules exist, and how ``LoadModule`` and ``<IfModule>`` name them.

mpmd is a statically built server: the non-MPM modules in
:data:`BUILTIN_MODULES` are always loaded, and ``LoadModule`` only chooses the
MPM.  A ``.so`` path after the module name is accepted and ignored, so an
Apache operator's ``LoadModule mpm_event_module modules/mod_mpm_event.so``
line works unchanged.

Guarantees: :func:`classify` answers for every name, with no side effect;
:func:`names_for` gives every spelling ``<IfModule>`` accepts for a module
(Apache matches the module name, e.g. ``status_module``, or the source file
name, e.g. ``mod_status.c``).
"""

from __future__ import annotations

import enum

#: Modules compiled into mpmd, in the order ``mpmd -M`` lists them.
BUILTIN_MODULES: tuple[str, ...] = (
    "core_module",
    "so_module",
    "http_module",
    "unixd_module",
    "mime_module",
    "log_config_module",
    "reqtimeout_module",
    "status_module",
    "authz_core_module",
    "authz_host_module",
    "dir_module",
    "wsgi_module",
)

#: Source file names that differ from the ``mod_<stem>.c`` rule (Apache's
#: ``module->name``); MPMs are named after their directory: ``prefork.c``.
_SOURCE_NAMES: dict[str, str] = {
    "core_module": "core.c",
    "http_module": "http_core.c",
}


class ModuleKind(enum.Enum):
    BUILTIN = "builtin"
    MPM = "mpm"  # an MPM this build has
    MPM_MISSING = "mpm-missing"  # an MPM mpmd knows of but this build lacks
    UNKNOWN = "unknown"


def classify(name: str, available_mpms: tuple[str, ...], known_mpms: tuple[str, ...]) -> ModuleKind:
    """What ``LoadModule name`` refers to."""
    if name in BUILTIN_MODULES:
        return ModuleKind.BUILTIN
    if name in available_mpms:
        return ModuleKind.MPM
    if name in known_mpms:
        return ModuleKind.MPM_MISSING
    return ModuleKind.UNKNOWN


def names_for(module: str) -> frozenset[str]:
    """Every name ``<IfModule>`` accepts for ``module`` (case-sensitive, as Apache)."""
    stem = module.removesuffix("_module")
    names = {module, f"mod_{stem}.c"}
    if module in _SOURCE_NAMES:
        names.add(_SOURCE_NAMES[module])
    if stem.startswith("mpm_"):
        names.add(f"{stem.removeprefix('mpm_')}.c")  # prefork.c, worker.c, event.c
    return frozenset(names)
