"""The ``server-status`` and ``server-metrics`` handlers (``SetHandler`` names).

``server-status`` is mod_status: the HTML page; ``?auto`` the machine text;
``?json`` mpmd's JSON; ``?refresh[=N]`` adds Apache's ``Refresh`` header
(N < 1 or missing: 10 s, as httpd 2.4).  ``server-metrics`` serves the same
report in Prometheus's text format, at whatever ``<Location>`` carries it.

Access: the router applies ``Require`` first.  A status location that no
``Require`` covers is answered only to local clients (``Require local``), so
forgetting the rule never publishes the scoreboard; write
``Require all granted`` to open it on purpose.

Only GET and HEAD (mod_status declines the others; we answer 405 with
``Allow``).  Each request reads the scoreboard once and renders in memory:
a few milliseconds in the serving thread, no locks, no I/O but ``/proc``.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from mpmd import SERVER_SOFTWARE
from mpmd.app.authz import is_local
from mpmd.app.errorpages import send_error, send_method_not_allowed
from mpmd.app.urlpath import normalize
from mpmd.config.model import ServerConfig
from mpmd.errors import ConfigError
from mpmd.http.exchange import Exchange
from mpmd.scoreboard.board import Scoreboard
from mpmd.status import auto, html, jsonview, prometheus
from mpmd.status.collect import collect, max_servers
from mpmd.status.model import ServerFacts, StatusReport
from mpmd.status.probe import Probe, PsutilProbe

if TYPE_CHECKING:
    from mpmd.app.router import HandlerContext

STATUS_HANDLER = "server-status"
METRICS_HANDLER = "server-metrics"
ALLOW = "GET, HEAD"
DEFAULT_REFRESH = 10  # seconds: mod_status's value for "?refresh" without a usable N


def extended_status_enabled(config: ServerConfig) -> bool:
    """Apache's ExtendedStatus default: On when mod_status is in use (here: a
    ``<Location>`` sets a status handler) unless the configuration says Off."""
    if config.extended_status is not None:
        return config.extended_status
    return any(
        (loc.handler or "").lower() in (STATUS_HANDLER, METRICS_HANDLER)
        for loc in config.locations
    )


def server_facts(config: ServerConfig, mpm_name: str, asynchronous: bool) -> ServerFacts:
    return ServerFacts(
        version=f"{SERVER_SOFTWARE} (Python {platform.python_version()})",
        mpm=mpm_name, built=server_built(), asynchronous=asynchronous,
        extended=extended_status_enabled(config),
    )


def server_built() -> str:
    """Apache's "Server Built": here, when the installed mpmd was last written."""
    import mpmd

    stamp = os.stat(mpmd.__file__).st_mtime
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp))


@dataclass(frozen=True)
class StatusSource:
    """What a handler reads on each request, fixed when the handler is built."""

    boards: Sequence[Scoreboard]
    facts: ServerFacts
    servers: int  # Apache's max_servers for the first board
    probe: Probe

    def report(self, detail: bool) -> StatusReport:
        return collect(self.boards, self.facts, servers=self.servers, probe=self.probe,
                       detail=detail)


class LocalUnlessRequired:
    """``Require local`` for request paths no ``<Location>`` with ``Require`` covers."""

    def __init__(self, guarded_paths: Sequence[str]) -> None:
        self.guarded = tuple(guarded_paths)

    def allows(self, exchange: Exchange) -> bool:
        path = normalize(exchange.request.path)
        if any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.guarded):
            return True  # the router has applied that Require already
        return is_local(exchange.client, exchange.server)


def request_options(query: bytes) -> tuple[str, int | None]:
    """(format, refresh seconds) from the query: ``auto``, ``json``, ``refresh[=N]``."""
    words = query.decode("latin-1").replace(";", "&").split("&")
    names = {w.partition("=")[0] for w in words}
    fmt = "json" if "json" in names else "auto" if "auto" in names else "html"
    refresh = None
    for word in words:
        name, eq, value = word.partition("=")
        if name == "refresh":
            seconds = int(value) if eq and value.isdigit() else 0
            refresh = seconds if seconds >= 1 else DEFAULT_REFRESH
    return fmt, refresh


def server_name(exchange: Exchange, configured: str) -> str:
    """``ap_get_server_name`` with UseCanonicalName Off: the Host header's name."""
    host = (exchange.request.header(b"host") or b"").decode("latin-1").strip()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.lower() or configured or local_ip(exchange)


def local_ip(exchange: Exchange) -> str:
    return exchange.server[0] if isinstance(exchange.server, tuple) else "unix"


class _Handler:
    """The shared request path: method, access, then :meth:`respond`."""

    def __init__(self, source: StatusSource, guard: LocalUnlessRequired, name: str) -> None:
        self.source, self.guard, self.configured_name = source, guard, name

    def __call__(self, exchange: Exchange) -> None:
        if exchange.request.method not in ("GET", "HEAD"):
            send_method_not_allowed(exchange, ALLOW)
            return
        if not self.guard.allows(exchange):
            structlog.get_logger("mpmd.status").info(
                "client_denied", client=str(exchange.client), reason="status is local-only "
                "without a Require", target=exchange.request.target.decode("latin-1"))
            send_error(exchange, 403)
            return
        body, content_type, extra = self.respond(exchange)
        data = body.encode("utf-8" if content_type.endswith("utf-8") else "latin-1", "replace")
        exchange.start_response(200, "OK", [
            ("Content-Type", content_type), ("Content-Length", str(len(data))), *extra])
        exchange.write(data)
        exchange.finish()

    def respond(self, exchange: Exchange) -> tuple[str, str, list[tuple[str, str]]]:
        raise NotImplementedError


class StatusHandler(_Handler):
    def respond(self, exchange: Exchange) -> tuple[str, str, list[tuple[str, str]]]:
        fmt, refresh = request_options(exchange.request.query)
        extra = [("Refresh", str(refresh))] if refresh is not None else []
        name = server_name(exchange, self.configured_name)
        report = self.source.report(detail=fmt != "auto")
        if fmt == "auto":
            return auto.render_auto(report, name), auto.CONTENT_TYPE, extra
        if fmt == "json":
            return jsonview.render_json(report, name), jsonview.CONTENT_TYPE, extra
        page = html.render_html(report, name, local_ip(exchange))
        return page, html.CONTENT_TYPE, extra


class MetricsHandler(_Handler):
    def respond(self, exchange: Exchange) -> tuple[str, str, list[tuple[str, str]]]:
        report = self.source.report(detail=True)
        return prometheus.render_prometheus(report), prometheus.CONTENT_TYPE, []


def _build(context: HandlerContext, cls: type[_Handler]) -> _Handler:
    from mpmd.mpm import registry

    runtime, config = context.runtime, context.config
    if not runtime.boards:
        raise ConfigError(f"{STATUS_HANDLER} needs the scoreboard, and this process has none")
    mpm = registry.load(config.mpm_module)
    facts = server_facts(config, runtime.mpm, mpm.capabilities.async_connections)
    servers = max_servers(config.mpm_settings.max_request_workers,
                          runtime.boards[0].thread_limit)
    source = StatusSource(runtime.boards, facts, servers, PsutilProbe())
    guarded = [normalize(loc.path.encode("latin-1")) for loc in config.locations
               if loc.require]
    return cls(source, LocalUnlessRequired(guarded), config.server_name)


def server_status(context: HandlerContext) -> Callable[[Exchange], None]:
    """Factory for ``SetHandler server-status`` (see :data:`mpmd.app.router.HANDLERS`)."""
    return _build(context, StatusHandler)


def server_metrics(context: HandlerContext) -> Callable[[Exchange], None]:
    """Factory for ``SetHandler server-metrics``."""
    return _build(context, MetricsHandler)
