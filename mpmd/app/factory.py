"""Building a generation's request handler: validated in the master, built in each child.

Everything that can fail for a reason the operator must fix (a bad
``<Location>``, a preloaded application that does not import) fails here, in
the master, before a socket is bound or a child forked.
"""

from __future__ import annotations

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
        from mpmd.app.loader import load_configured_app

        app = load_configured_app(config)
        log.info("app_preloaded", app=config.wsgi_app)

    def make(runtime: Runtime) -> Handler:
        return build_router(config, runtime, app)

    return make
