"""Import the WSGI application named by ``WSGIApp`` (gunicorn's ``module:callable``).

Guarantees: the only exception that leaves :func:`load_wsgi_app` is
:class:`AppLoadError`, whatever the application's import does (including
``sys.exit()``).  It carries what an operator needs to fix the import without
reading the child's stderr:

- ``summary``: one line, ``cannot import 'pkg': ZeroDivisionError: ...``,
  which fits a systemd ``STATUS=`` and a scoreboard slot;
- ``where``: the ``WSGIApp`` directive's ``file:line``;
- ``search_path``: the ``sys.path`` the import searched (for an
  ``ImportError``, the usual "why is my module not found");
- ``traceback``: the whole traceback, every frame of the application's own
  code however deep the failing import sits, with the import machinery's
  frames (``<frozen importlib._bootstrap>``, this module) left out, as the
  interpreter itself leaves them out of a failed ``import`` statement.

``str()`` of the error is all of it, multi-line, readable on a terminal.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast
from wsgiref.types import WSGIApplication

from mpmd.errors import Location, MpmdError

if TYPE_CHECKING:
    from mpmd.config.model import ServerConfig

#: frames of these files are the import machinery, not the application
_MACHINERY = ("<frozen importlib.", __file__, importlib.__file__ or "importlib/__init__.py")
#: how an empty sys.path entry reads (the interpreter searches the working directory)
_CWD = "'' (the current directory)"


class AppLoadError(MpmdError):
    """The WSGI application could not be imported or is not callable."""

    def __init__(
        self,
        summary: str,
        *,
        where: Location | None = None,
        search_path: Sequence[str] = (),
        traceback: str = "",
    ) -> None:
        self.summary = summary
        self.where = where
        self.search_path = tuple(search_path)
        self.traceback = traceback
        super().__init__(summary)

    @property
    def headline(self) -> str:
        """The summary with the directive's location: one line."""
        return f"{self.summary} (WSGIApp at {self.where})" if self.where else self.summary

    def details(self) -> str:
        """Everything but the headline: the path searched, then the traceback."""
        parts = []
        if self.search_path:
            entries = "".join(f"  {p or _CWD}\n" for p in self.search_path)
            parts.append(f"sys.path searched:\n{entries}")
        if self.traceback:
            parts.append(self.traceback)
        return "".join(parts).rstrip("\n")

    def __str__(self) -> str:
        details = self.details()
        return f"{self.headline}\n{details}" if details else self.headline


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


def load_configured_app(config: ServerConfig) -> WSGIApplication:
    """The application ``config``'s ``WSGIApp`` names, errors naming its line."""
    return load_wsgi_app(config.wsgi_app, config.wsgi_path, where=config.wsgi_app_where)


def load_wsgi_app(
    spec: str, paths: Sequence[str], *, where: Location | None = None
) -> WSGIApplication:
    """Import ``spec`` after putting ``paths`` in front of ``sys.path``."""
    try:
        module_name, attr = parse_spec(spec)
    except AppLoadError as exc:
        raise AppLoadError(exc.summary, where=where) from None
    prepend_paths(paths)
    importlib.invalidate_caches()
    try:
        target: object = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # SystemExit: an app must not end the master
        searched = list(sys.path) if isinstance(exc, ImportError) else []
        raise AppLoadError(
            f"cannot import {module_name!r}: {_one_line(exc)}",
            where=where, search_path=searched, traceback=format_app_traceback(exc),
        ) from exc
    for name in attr.split("."):
        try:
            target = getattr(target, name)
        except AttributeError as exc:
            owner = type(target).__name__
            raise AppLoadError(f"{spec!r}: {owner} has no attribute {name!r}",
                               where=where) from exc
    if not callable(target):
        raise AppLoadError(f"{spec!r} is not callable: {type(target).__name__}", where=where)
    return cast(WSGIApplication, target)


def format_app_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` (and of its causes) without import-machinery frames."""
    te = traceback.TracebackException.from_exception(exc)
    _drop_machinery(te, set())
    return "".join(te.format())


def _drop_machinery(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    kept = [f for f in te.stack if not f.filename.startswith(_MACHINERY)]
    te.stack = traceback.StackSummary.from_list(kept)
    for nested in (te.__cause__, te.__context__):
        if nested is not None:
            _drop_machinery(nested, seen)


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (a SyntaxError's message is its first line)."""
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    lines = text.splitlines()
    if isinstance(exc, SyntaxError):
        # format_exception_only draws the caret under the code: keep the last line
        # ("SyntaxError: ...") and say where, which the caret drawing showed.
        return f"{lines[-1]} ({exc.filename}, line {exc.lineno})"
    return " ".join(line.strip() for line in lines)
