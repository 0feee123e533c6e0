"""Loading mpmd's configuration: one call from a file name to a frozen model.

Theory of operation (Apache httpd 2.4's, in three steps):

1. **Read** (:mod:`~mpmd.config.expand`): the main file and everything it
   includes is walked in file order by its front end (Apache syntax or YAML,
   chosen per file by extension); ``Include``, ``Define``, ``ServerRoot``,
   ``LoadModule``, ``<IfModule>`` and ``<IfDefine>`` act as they are met.
   If no ``LoadModule`` chose an MPM, the files are read once more with the
   platform's default MPM loaded from the start, as in a statically built
   httpd, so ``<IfModule mpm_event_module>`` blocks apply to it.
2. **Collect** (:mod:`~mpmd.config.collect`): every remaining directive is
   checked and parsed through the one directive table.
3. **Build** (:mod:`~mpmd.config.build`): defaults, paths, Apache's MPM
   clamps (:mod:`mpmd.mpm.sizing`) -> :class:`ServerConfig`.

Guarantees: :func:`load` either returns a complete, deeply immutable
:class:`ServerConfig` or raises :class:`~mpmd.errors.ConfigError` naming the
absolute file path and line (line 0 means "the file as a whole", e.g. a main
file that cannot be opened or has no ``Listen``; such messages name the file
themselves, so the CLI can print them without a line).  It never prints: Apache's
warnings are returned in ``ServerConfig.warnings``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from mpmd.config.build import Origin, build
from mpmd.config.collect import collect
from mpmd.config.expand import Expanded, ReadEnv, expand
from mpmd.config.model import ServerConfig
from mpmd.config.modules import BUILTIN_MODULES
from mpmd.mpm import registry
from mpmd.mpm.sizing import DEFINITIONS


def _read_env(path: str, defines: Sequence[str], environ: Mapping[str, str]) -> ReadEnv:
    available = registry.available_modules()
    known = tuple(dict.fromkeys((*DEFINITIONS, *available)))
    names = tuple(dict.fromkeys(name.strip() for name in defines if name.strip()))
    return ReadEnv(os.path.abspath(path), names, environ, available, known)


def _read(env: ReadEnv) -> tuple[Expanded, str, str]:
    """(what was read, the MPM module, why that MPM)."""
    expanded = expand(env)
    if expanded.mpm is not None and expanded.mpm.where is not None:
        return expanded, expanded.mpm.module, f"LoadModule at {expanded.mpm.where}"
    module, reason = registry.default_module()
    return expand(env, preloaded=module), module, f"platform default ({reason})"


def load(path: str, defines: Sequence[str], environ: Mapping[str, str]) -> ServerConfig:
    """Read, check and build the configuration whose main file is ``path``."""
    env = _read_env(path, defines, environ)
    expanded, module, chosen_by = _read(env)
    collected = collect(expanded.directives, module)
    origin = Origin(
        config_file=env.main_file,
        server_root=expanded.server_root,
        mpm_module=module,
        mpm_chosen_by=chosen_by,
        modules=(*BUILTIN_MODULES, module),
        defines=env.defines,
        locations=expanded.locations,
        main_file_empty=expanded.main_file_empty,
    )
    return build(origin, collected, expanded.warnings)
