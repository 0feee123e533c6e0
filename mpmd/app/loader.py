"""Import the WSGI application named by ``WSGIApp`` (gunicorn's ``module:callable``).

Guarantees: the only exception that leaves :func:`load_wsgi_app` is
:class:`AppLoadError`, whatever the application's import does (including
``sys.exit()``), and its message carries the original exception and the last
frames of its traceback, so the master can log why a canary or a child failed
without the child's stderr.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence
from typing import cast
from wsgiref.types import WSGIApplication

from mpmd.errors import MpmdError

#: How many of the innermost frames an AppLoadError message shows.
TRACEBACK_FRAMES = 5


class AppLoadError(MpmdError):
    """The WSGI application could not be imported or is not callable."""


def parse_spec(spec: str) -> tuple[str, str]:
    """``"pkg.mod:obj.attr"`` -> ``("pkg.mod", "obj.attr")``; a bare module means
    ``module:application`` (PEP 3333's conventional name, as mod_wsgi)."""
    module, sep, attr = spec.strip().partition(":")
    if not sep:
        attr = "application"
    if not module or not attr or not all(part.isidentifier() for part in attr.split(".")):
        raise AppLoadError(f"invalid WSGI application {spec!r}: expected 'module:callable'")
    return module, attr


def prepend_paths(paths: Sequence[str]) -> None:
    """Put ``paths`` in front of ``sys.path`` in their order (moved there if present)."""
    wanted = list(dict.fromkeys(paths))
    sys.path[:] = wanted + [p for p in sys.path if p not in wanted]


def load_wsgi_app(spec: str, paths: Sequence[str]) -> WSGIApplication:
    """Import ``spec`` after putting ``paths`` in front of ``sys.path``."""
    module_name, attr = parse_spec(spec)
    prepend_paths(paths)
    importlib.invalidate_caches()
    try:
        target: object = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # SystemExit: an app must not end the master
        raise AppLoadError(_describe(f"cannot import {module_name!r}", exc)) from exc
    for name in attr.split("."):
        try:
            target = getattr(target, name)
        except AttributeError as exc:
            owner = type(target).__name__
            raise AppLoadError(f"{spec!r}: {owner} has no attribute {name!r}") from exc
    if not callable(target):
        raise AppLoadError(f"{spec!r} is not callable: {type(target).__name__}")
    return cast(WSGIApplication, target)


def _describe(what: str, exc: BaseException) -> str:
    frames = "".join(traceback.format_exception(exc, limit=-TRACEBACK_FRAMES)).rstrip()
    return f"{what}: {type(exc).__name__}: {exc}\n{frames}"
