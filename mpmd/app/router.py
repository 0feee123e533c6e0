"""Request routing: ``<Location>`` sections -> access check -> handler.

Theory of operation: :func:`build_router` turns the configuration into one
:data:`~mpmd.http.exchange.Handler`, building every handler it needs once,
at start-up, and failing with a :class:`~mpmd.errors.ConfigError` that names
the ``<Location>`` for anything it cannot serve.  With no ``<Location>`` the
result *is* the default handler (the WSGI application when one is
configured, else static files), so the common case adds no per-request cost.

Matching follows Apache's ``<Location>``: against the decoded, normalised
path (:func:`mpmd.app.urlpath.normalize`), by whole path segments (``/app``
matches ``/app`` and ``/app/x``, not ``/apple``).  The longest matching
section that sets a handler chooses it, and the longest that has ``Require``
decides access (so a nested section without ``Require`` inherits its
parent's, as with Apache's ``AuthMerging Off``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from wsgiref.types import WSGIApplication

import structlog

from mpmd.app.authz import AccessCheck, compile_require
from mpmd.app.errorpages import send_error
from mpmd.app.loader import load_configured_app
from mpmd.app.runtime import Runtime
from mpmd.app.static import StaticHandler
from mpmd.app.urlpath import normalize
from mpmd.app.wsgi import WSGIHandler
from mpmd.config.model import LocationConfig, ServerConfig
from mpmd.errors import ConfigError, Location
from mpmd.http.exchange import Exchange, Handler
from mpmd.status.handler import (
    METRICS_HANDLER,
    STATUS_HANDLER,
    server_metrics,
    server_status,
)


@dataclass(frozen=True)
class HandlerContext:
    """What a handler factory may use to build its handler."""

    config: ServerConfig
    runtime: Runtime
    app: WSGIApplication | None  # already imported (preload), else import on demand


HandlerFactory = Callable[[HandlerContext], Handler]


def static_files(context: HandlerContext) -> Handler:
    config = context.config
    if not config.document_root:
        raise ConfigError("static files need a DocumentRoot")
    return StaticHandler(config.document_root, config.directory_index)


def wsgi_application(context: HandlerContext) -> Handler:
    config = context.config
    app = context.app
    if app is None:
        if not config.wsgi_app:
            raise ConfigError("wsgi-handler needs a WSGI application, and none is configured")
        app = load_configured_app(config)
    return WSGIHandler(
        app, server_name=config.server_name,
        multithread=context.runtime.multithread, multiprocess=context.runtime.multiprocess,
    )


#: SetHandler names -> factories.  Add a handler here.
HANDLERS: Mapping[str, HandlerFactory] = {
    "default-handler": static_files,
    "wsgi-handler": wsgi_application,
    STATUS_HANDLER: server_status,  # mod_status: HTML, ?auto, ?json
    METRICS_HANDLER: server_metrics,  # the same report for Prometheus
}


@dataclass(frozen=True)
class Route:
    """A compiled ``<Location>``: ``handler``/``allow`` None = not set there."""

    path: str
    handler: Handler | None
    allow: AccessCheck | None

    def matches(self, path: str) -> bool:
        prefix = self.path if self.path.endswith("/") else self.path + "/"
        return path == self.path or path.startswith(prefix)


class Router:
    """Dispatch by ``<Location>``, refusing (403) what ``Require`` denies."""

    def __init__(self, default: Handler, routes: list[Route]) -> None:
        self.default = default
        self.routes = sorted(routes, key=lambda route: len(route.path), reverse=True)

    def __call__(self, exchange: Exchange) -> None:
        handler, allow = self.select(normalize(exchange.request.path))
        if allow is not None and not allow(exchange.client, exchange.server):
            structlog.get_logger("mpmd.app").info(  # Apache AH01630
                "client_denied", client=str(exchange.client),
                target=exchange.request.target.decode("latin-1"),
            )
            send_error(exchange, 403)
            return
        handler(exchange)

    def select(self, path: str) -> tuple[Handler, AccessCheck | None]:
        """The handler and access check for a normalised ``path``."""
        handler: Handler | None = None
        allow: AccessCheck | None = None
        for route in self.routes:
            if route.matches(path):
                if handler is None:
                    handler = route.handler
                if allow is None:
                    allow = route.allow
        return (self.default if handler is None else handler), allow


class _Handlers:
    """Builds each named handler at most once, naming the section on failure."""

    def __init__(self, context: HandlerContext) -> None:
        self.context = context
        self.built: dict[str, Handler] = {}

    def get(self, name: str, where: Location | None = None) -> Handler:
        if name not in self.built:
            factory = HANDLERS.get(name)
            if factory is None:
                known = ", ".join(sorted(HANDLERS))
                raise ConfigError(f"unknown SetHandler {name!r} (known: {known})", where)
            try:
                self.built[name] = factory(self.context)
            except ConfigError as exc:
                raise ConfigError(exc.message, exc.where or where) from exc
        return self.built[name]


def build_router(
    config: ServerConfig, runtime: Runtime, app: WSGIApplication | None = None
) -> Handler:
    """The handler for every request of a generation running ``config``."""
    handlers = _Handlers(HandlerContext(config, runtime, app))
    name = "wsgi-handler" if config.wsgi_app or app is not None else "default-handler"
    default = handlers.get(name)
    routes = [_route(location, handlers, default) for location in config.locations]
    return Router(default, routes) if routes else default


def _route(location: LocationConfig, handlers: _Handlers, default: Handler) -> Route:
    _check_path(location)
    handler: Handler | None = None
    if location.handler and location.handler.lower() == "none":
        handler = default  # Apache: "SetHandler None" undoes an outer SetHandler
    elif location.handler:
        handler = handlers.get(location.handler, location.where)
    allow = compile_require(location.require, location.where) if location.require else None
    return Route(normalize(location.path.encode("latin-1")), handler, allow)


def check_routes(config: ServerConfig) -> None:
    """Validate every ``<Location>`` without building handlers (no app import).

    The master calls this before it binds or forks, so a bad SetHandler or
    Require fails ``mpmd -t`` and start-up with the Location's file and line.
    """
    for location in config.locations:
        _check_path(location)
        name = location.handler
        if name and name.lower() != "none" and name not in HANDLERS:
            known = ", ".join(sorted(HANDLERS))
            raise ConfigError(f"unknown SetHandler {name!r} (known: {known})", location.where)
        if location.require:
            compile_require(location.require, location.where)


def _check_path(location: LocationConfig) -> None:
    if location.path.startswith("~") or not location.path.startswith("/"):
        raise ConfigError(f"<Location {location.path}>: only URL-path prefixes are supported",
                          location.where)
