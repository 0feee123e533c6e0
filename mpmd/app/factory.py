"""Building a generation's request handler: validated in the master, built in each child.

Everything that can fail for a reason the operator must fix (a bad
``<Location>``, a preloaded application that does not import) fails here, in
the master, before a socket is bound or a child forked.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from mpmd.app.router import build_router, check_routes
from mpmd.config.model import ServerConfig

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from mpmd.app.runtime import Runtime
    from mpmd.http.exchange import Handler

log = structlog.get_logger("mpmd.app")

#: Set on a preloaded application's module: the names of the application's
#: own modules that the preload imported (see :func:`forget_preloaded`).
PRELOADED_MARK = "__mpmd_preloaded_modules__"


def handler_factory(config: ServerConfig, *, preload: bool = True) -> Callable[[Runtime], Handler]:
    """Validate the routes now; return what builds the handler in each child.

    With ``WSGIPreload On`` (and ``preload``) the application is imported
    here, once, so forked children share it copy-on-write.  Reloads pass
    ``preload=False``: the master's modules cannot be re-imported in place,
    so a new generation imports the application afresh in its children and
    picks up new code.
    """
    check_routes(config)
    app: WSGIApplication | None = None
    if config.wsgi_app and config.wsgi_preload and preload:
        app = _preload(config)

    def make(runtime: Runtime) -> Handler:
        if not preload:
            forget_preloaded()
        return build_router(config, runtime, app)

    return make


def _preload(config: ServerConfig) -> WSGIApplication:
    from mpmd.app.loader import load_configured_app, parse_spec

    before = set(sys.modules)
    app = load_configured_app(config)
    module = sys.modules.get(parse_spec(config.wsgi_app)[0])
    if module is not None:
        own = _application_modules(set(sys.modules) - before, config)
        setattr(module, PRELOADED_MARK, own)
    log.info("app_preloaded", app=config.wsgi_app)
    return app


def _application_modules(names: set[str], config: ServerConfig) -> tuple[str, ...]:
    """Of ``names``, the application's own pure-Python modules: its package's,
    and those loaded from a ``WSGIPath`` directory.  Libraries stay: extension
    modules often cannot be initialised twice in one process."""
    from mpmd.app.loader import parse_spec

    top = parse_spec(config.wsgi_app)[0].split(".")[0]
    roots = tuple(os.path.join(os.path.abspath(p), "") for p in config.wsgi_path)
    out = []
    for name in names:
        path = getattr(sys.modules.get(name), "__file__", None) or ""
        ours = name == top or name.startswith(top + ".") or (roots and path.startswith(roots))
        if ours and path.endswith(".py"):
            out.append(name)
    return tuple(sorted(out))


def forget_preloaded() -> None:
    """In a child of a reload generation: drop the application modules the
    master preloaded, so that importing the application reads its files again
    (otherwise ``import`` returns the master's copy: the old code)."""
    for module in list(sys.modules.values()):
        names = vars(module).get(PRELOADED_MARK) if hasattr(module, "__dict__") else None
        for name in names or ():
            sys.modules.pop(name, None)
