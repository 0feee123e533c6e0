"""build_router and Require: Location matching, handler registry, access checks."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterable
from pathlib import Path
from wsgiref.types import StartResponse, WSGIEnvironment

import pytest
from structlog.testing import capture_logs

from mpmd.app.authz import compile_require, is_local, parse_network
from mpmd.app.loader import AppLoadError
from mpmd.app.router import HANDLERS, Router, build_router
from mpmd.app.runtime import Runtime
from mpmd.app.static import StaticHandler
from mpmd.app.wsgi import WSGIHandler
from mpmd.config.model import ListenAddress, LocationConfig, MpmSettings, ServerConfig
from mpmd.errors import ConfigError, Location
from mpmd.http.exchange import Address

from .fakes import FakeExchange, make_request


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"from app " + environ["PATH_INFO"].encode()]


def make_config(docroot: Path, **kw: object) -> ServerConfig:
    fields: dict[str, object] = dict(
        config_file="/etc/mpmd/mpmd.conf", server_root="/etc/mpmd",
        mpm_module="mpm_prefork_module", mpm_chosen_by="test",
        mpm_settings=MpmSettings(1, 1, 1, 0), modules=(), defines=(),
        listen=(ListenAddress("tcp", "127.0.0.1", 8080),), document_root=str(docroot),
    )
    fields.update(kw)
    return ServerConfig(**fields)  # type: ignore[arg-type]


@pytest.fixture
def docroot(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_bytes(b"static index")
    (tmp_path / "apple").write_bytes(b"static apple")
    return tmp_path


WHERE = Location("/etc/mpmd/mpmd.conf", 42)


def serve(handler: object, target: bytes, client: Address = ("127.0.0.1", 1)) -> FakeExchange:
    exchange = FakeExchange(make_request("GET", target), client=client)
    handler(exchange)  # type: ignore[operator]
    return exchange


def runtime(multithread: bool, multiprocess: bool) -> Runtime:
    return Runtime(multithread=multithread, multiprocess=multiprocess, mpm="prefork",
                   generation=1)


class TestDefaults:
    def test_static_without_app_and_locations(self, docroot: Path) -> None:
        handler = build_router(make_config(docroot), runtime(False, True))
        assert isinstance(handler, StaticHandler)  # no router in the hot path
        assert bytes(serve(handler, b"/").body) == b"static index"

    def test_preloaded_app_is_used(self, docroot: Path) -> None:
        handler = build_router(make_config(docroot), runtime(True, False), app=app)
        assert isinstance(handler, WSGIHandler) and handler.app is app
        assert bytes(serve(handler, b"/x").body) == b"from app /x"

    def test_configured_app_is_imported(self, docroot: Path, tmp_path: Path) -> None:
        name = f"mpmd_router_app_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(
            "def hello(environ, start_response):\n"
            "    start_response('200 OK', [])\n"
            "    return [b'imported']\n")
        saved = list(sys.path)
        try:
            config = make_config(docroot, wsgi_app=f"{name}:hello", wsgi_path=(str(tmp_path),))
            handler = build_router(config, runtime(False, True))
        finally:
            sys.path[:] = saved
            sys.modules.pop(name, None)
        assert bytes(serve(handler, b"/").body) == b"imported"

    def test_import_failure_propagates(self, docroot: Path) -> None:
        config = make_config(docroot, wsgi_app="mpmd_no_such_app_module:app")
        with pytest.raises(AppLoadError):
            build_router(config, runtime(False, True))


class TestLocations:
    def router(self, docroot: Path, *locations: LocationConfig) -> Router:
        handler = build_router(make_config(docroot, locations=locations),
                               runtime(False, True), app=app)
        assert isinstance(handler, Router)
        return handler

    def test_segment_prefix_matching(self, docroot: Path) -> None:
        router = self.router(docroot, LocationConfig("/app", handler="default-handler"))
        assert bytes(serve(router, b"/app").body) != b"from app /app"  # static: 404
        assert serve(router, b"/app/x").status == 404
        assert bytes(serve(router, b"/apple").body) == b"from app /apple"

    def test_longest_prefix_wins(self, docroot: Path) -> None:
        router = self.router(
            docroot,
            LocationConfig("/", handler="default-handler"),
            LocationConfig("/api", handler="wsgi-handler"),
            LocationConfig("/api/static", handler="default-handler"),
        )
        assert bytes(serve(router, b"/").body) == b"static index"
        assert bytes(serve(router, b"/api/v1").body) == b"from app /api/v1"
        assert serve(router, b"/api/static/x").status == 404

    def test_matching_uses_normalised_path(self, docroot: Path) -> None:
        router = self.router(docroot, LocationConfig("/private", require=("all", "denied")))
        for target in (b"/private", b"//private/x", b"/%70rivate", b"/x/../private/"):
            assert serve(router, target).status == 403, target
        assert serve(router, b"/privately").status == 200

    def test_nested_location_inherits_require(self, docroot: Path) -> None:
        router = self.router(
            docroot,
            LocationConfig("/admin", require=("local",)),
            LocationConfig("/admin/files", handler="default-handler"),
        )
        assert serve(router, b"/admin/files/x", client=("10.0.0.1", 1)).status == 403
        assert serve(router, b"/admin/files/x", client=("127.0.0.1", 1)).status == 404

    def test_set_handler_none_restores_default(self, docroot: Path) -> None:
        router = self.router(
            docroot,
            LocationConfig("/", handler="default-handler"),
            LocationConfig("/dyn", handler="None"),
        )
        assert bytes(serve(router, b"/dyn").body) == b"from app /dyn"

    def test_denied_logs_event(self, docroot: Path) -> None:
        router = self.router(docroot, LocationConfig("/", require=("ip", "10.0.0.0/8")))
        with capture_logs() as logs:
            assert serve(router, b"/", client=("192.0.2.1", 5)).status == 403
        assert [e["event"] for e in logs] == ["client_denied"]
        assert serve(router, b"/", client=("10.1.2.3", 5)).status == 200

    def test_unknown_handler_names_location(self, docroot: Path) -> None:
        config = make_config(docroot, locations=(
            LocationConfig("/server-info", handler="server-info", where=WHERE),))
        with pytest.raises(ConfigError, match="unknown SetHandler 'server-info'") as info:
            build_router(config, runtime(False, True))
        assert info.value.where == WHERE and "mpmd.conf:42" in str(info.value)

    def test_wsgi_handler_without_app_names_location(self, docroot: Path) -> None:
        config = make_config(docroot, locations=(
            LocationConfig("/app", handler="wsgi-handler", where=WHERE),))
        with pytest.raises(ConfigError, match="needs a WSGI application") as info:
            build_router(config, runtime(False, True))
        assert info.value.where == WHERE

    @pytest.mark.parametrize("path", ["~ ^/re", "relative"])
    def test_non_prefix_locations_refused(self, docroot: Path, path: str) -> None:
        config = make_config(docroot, locations=(LocationConfig(path, where=WHERE),))
        with pytest.raises(ConfigError, match="only URL-path prefixes"):
            build_router(config, runtime(False, True))

    def test_each_named_handler_is_built_once(self, docroot: Path) -> None:
        router = self.router(
            docroot,
            LocationConfig("/a", handler="wsgi-handler"),
            LocationConfig("/b", handler="wsgi-handler"),
        )
        first, second = (route.handler for route in router.routes)
        assert first is second is router.default

    def test_registry_names(self) -> None:
        assert set(HANDLERS) == {
            "default-handler", "wsgi-handler", "server-status", "server-metrics"}


class TestRequire:
    @pytest.mark.parametrize(
        ("words", "client", "allowed"),
        [
            (("all", "granted"), ("192.0.2.1", 1), True),
            (("all", "denied"), ("127.0.0.1", 1), False),
            (("local",), ("127.0.0.1", 1), True),
            (("local",), ("127.9.9.9", 1), True),
            (("local",), ("::1", 1), True),
            (("local",), ("::ffff:127.0.0.1", 1), True),
            (("local",), ("", 0), False),
            (("local",), "", True),  # Unix-socket peer
            (("local",), ("192.0.2.1", 1), False),
            (("local",), ("198.51.100.7", 1), True),  # same address as the server end
            (("ip", "10.1"), ("10.1.200.3", 1), True),
            (("ip", "10.1."), ("10.2.0.1", 1), False),
            (("ip", "192.0.2.0/24", "2001:db8::/32"), ("2001:db8::5", 1), True),
            (("ip", "192.0.2.0/255.255.255.0"), ("::ffff:192.0.2.9", 1), True),
            (("ip", "192.0.2.1"), ("192.0.2.2", 1), False),
            (("ip", "10.0.0.0/8"), "", False),
        ],
    )
    def test_rules(self, words: tuple[str, ...], client: Address, allowed: bool) -> None:
        check = compile_require(words)
        assert check(client, ("198.51.100.7", 80)) is allowed

    @pytest.mark.parametrize(
        "words", [(), ("all",), ("all", "maybe"), ("host", "example.com"), ("ip",),
                  ("ip", "300.1.1.1"), ("local", "extra"), ("not", "ip", "10.0.0.1")],
    )
    def test_unsupported_rules_are_config_errors(self, words: tuple[str, ...]) -> None:
        with pytest.raises(ConfigError) as info:
            compile_require(words, WHERE)
        assert info.value.where == WHERE

    def test_partial_networks(self) -> None:
        assert str(parse_network("10")) == "10.0.0.0/8"
        assert str(parse_network("172.16.5")) == "172.16.5.0/24"

    def test_is_local_unix_server(self) -> None:
        assert is_local("", "/run/mpmd.sock")
