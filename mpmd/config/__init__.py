"""mpmd's configuration: ``load_config(path) -> ServerConfig``.

The public face of the package.  :func:`load_config` reads an Apache-syntax
or YAML configuration (by extension; see :mod:`mpmd.config.loader` for how)
and returns the frozen :class:`ServerConfig`, with Apache's clamp warnings in
``ServerConfig.warnings``; every problem raises
:class:`~mpmd.errors.ConfigError` naming the absolute file path and line.

This module imports only the model, so ``mpmd.config.model`` stays cheap to
import for every other package (and :mod:`mpmd.mpm.sizing`, which the loader
needs, can import the model without a cycle).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from mpmd.config.model import ConfigWarning, ServerConfig
from mpmd.config.modules import BUILTIN_MODULES

__all__ = ["BUILTIN_MODULES", "ConfigWarning", "ServerConfig", "load_config"]


def load_config(
    path: str, defines: Sequence[str] = (), environ: Mapping[str, str] | None = None
) -> ServerConfig:
    """Read, check and build the configuration whose main file is ``path``.

    ``defines`` are the ``-D NAME`` parameters (``<IfDefine NAME>``); they are
    kept in ``ServerConfig.defines`` so a reload can pass the same ones again.
    ``environ`` is where ``${VAR}`` looks after ``Define``d variables
    (default: ``os.environ``).
    """
    # Imported on use: the loader imports mpmd.mpm.sizing, which imports
    # mpmd.config.model, which runs this __init__ first.
    from mpmd.config.loader import load

    return load(path, defines, os.environ if environ is None else environ)
