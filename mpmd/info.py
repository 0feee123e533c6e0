"""What ``-V``, ``-l`` and ``-M`` print (httpd's layout, mpmd's facts)."""

from __future__ import annotations

import platform
import struct
import sys

from mpmd import SERVER_SOFTWARE
from mpmd.config.model import ServerConfig
from mpmd.mpm import registry


def settings_text(config: ServerConfig | None) -> str:
    """``-V``.  With a readable config, the MPM it loads; else the default."""
    default_module, reason = registry.default_module()
    module = config.mpm_module if config else default_module
    mpm = registry.load(module)
    caps = mpm.capabilities
    chosen = config.mpm_chosen_by if config else f"platform default ({reason})"
    lines = [
        f"Server version: {SERVER_SOFTWARE} (Python {platform.python_version()})",
        f"Architecture:   {struct.calcsize('P') * 8}-bit",
        f"Server MPM:     {mpm.name}",
        f"  threaded:     {'yes (fixed thread count)' if caps.threaded else 'no'}",
        f"    forked:     {'yes (variable process count)' if caps.forked else 'no'}",
        f"  chosen by:    {chosen}",
        "Server compiled with....",
        f" -D DEFAULT_MPM={default_module.removeprefix('mpm_').removesuffix('_module')}"
        f" ({reason})",
        f" -D AVAILABLE_MPMS={','.join(registry.available_modules())}",
        f" -D PYTHON={sys.executable}",
    ]
    if config:
        lines.append(f' -D SERVER_CONFIG_FILE="{config.config_file}"')
    return "\n".join(lines)


def compiled_modules() -> str:
    """``-l``: the modules built in, then the MPMs that can be loaded."""
    from mpmd.config import BUILTIN_MODULES

    names = [f"  {m}" for m in BUILTIN_MODULES]
    names += [f"  {m} (loadable MPM)" for m in registry.available_modules()]
    return "Compiled in modules:\n" + "\n".join(names)


def loaded_modules(config: ServerConfig) -> str:
    """``-M``: built-in modules are static, the MPM is shared (as with Debian's httpd)."""
    rows = [
        f" {m} ({'shared' if m == config.mpm_module else 'static'})" for m in config.modules
    ]
    return "Loaded Modules:\n" + "\n".join(rows)
