"""The server-status and server-metrics handlers behind the router."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from mpmd.app.router import build_router, check_routes
from mpmd.app.runtime import Runtime
from mpmd.config.model import (
    ListenAddress,
    LocationConfig,
    ServerConfig,
    ThreadedSettings,
)
from mpmd.errors import ConfigError, Location
from mpmd.http.exchange import Address, Handler
from mpmd.scoreboard.board import Scoreboard
from mpmd.status.handler import extended_status_enabled, request_options

from ..app.fakes import FakeExchange, make_request
from .apache_auto import parse_auto
from .boards import board, child, served

STATUS = LocationConfig("/server-status", "server-status", ("local",))
METRICS = LocationConfig("/metrics", "server-metrics", ("ip", "10.0.0.0/8"))
OPEN = LocationConfig("/open-status", "server-status")  # no Require anywhere


def make_config(tmp_path: Path, *locations: LocationConfig, **kw: object) -> ServerConfig:
    fields: dict[str, object] = dict(
        config_file="/etc/mpmd/mpmd.conf", server_root="/etc/mpmd",
        mpm_module="mpm_event_module", mpm_chosen_by="test",
        mpm_settings=ThreadedSettings(1, 4, 6, 0, thread_limit=3, threads_per_child=3),
        modules=(), defines=(), listen=(ListenAddress("tcp", "127.0.0.1", 8080),),
        document_root=str(tmp_path), locations=locations,
    )
    fields.update(kw)
    return ServerConfig(**fields)  # type: ignore[arg-type]


@pytest.fixture
def scoreboard() -> Iterator[Scoreboard]:
    b = board(server_limit=4, threads=3)
    child(b, 0, 4242, b"_W_")
    served(b, 0, 1, count=2, sent=2048, micros=3000, request=b"GET /x HTTP/1.1",
           client=b"127.0.0.1")
    yield b
    b.close()


def router(tmp_path: Path, b: Scoreboard, *locations: LocationConfig, **kw: object) -> Handler:
    config = make_config(tmp_path, *locations, **kw)
    runtime = Runtime(multithread=True, multiprocess=True, mpm="event", generation=1,
                      boards=(b,))
    return build_router(config, runtime)


def get(handler: Handler, target: bytes, *, method: str = "GET",
        client: Address = ("127.0.0.1", 5000),
        headers: tuple[tuple[bytes, bytes], ...] = ((b"Host", b"status.example:8080"),),
        ) -> FakeExchange:
    exchange = FakeExchange(make_request(method, target, headers), client=client)
    handler(exchange)
    return exchange


def test_auto(tmp_path: Path, scoreboard: Scoreboard) -> None:
    ex = get(router(tmp_path, scoreboard, STATUS), b"/server-status?auto")
    assert ex.status == 200 and ex.header("Content-Type") == "text/plain; charset=ISO-8859-1"
    name, values = parse_auto(ex.body.decode("latin-1"))
    assert name == "status.example"  # the Host header's name, as ap_get_server_name
    # MaxRequestWorkers 6 / ThreadsPerChild 3 = 2 processes of 3 slots
    assert values["Scoreboard"] == "_W_..."
    assert values["Total Accesses"] == "2"  # ExtendedStatus On: status is in use
    assert int(ex.header("Content-Length") or 0) == len(ex.body)


def test_html_json_and_refresh(tmp_path: Path, scoreboard: Scoreboard) -> None:
    handler = router(tmp_path, scoreboard, STATUS)
    page = get(handler, b"/server-status")
    assert page.header("Content-Type") == "text/html; charset=ISO-8859-1"
    assert b"<pre>_W_...</pre>" in page.body and page.header("Refresh") is None
    assert get(handler, b"/server-status?refresh").header("Refresh") == "10"
    assert get(handler, b"/server-status?refresh=3&auto").header("Refresh") == "3"
    data = json.loads(get(handler, b"/server-status?json").body)
    assert data["processes"][0]["pid"] == 4242
    assert data["slots"][0]["request"] == "GET /x HTTP/1.1"


def test_metrics_at_its_own_location(tmp_path: Path, scoreboard: Scoreboard) -> None:
    ex = get(router(tmp_path, scoreboard, METRICS), b"/metrics", client=("10.1.2.3", 1))
    assert ex.status == 200
    assert (ex.header("Content-Type") or "").startswith("text/plain; version=0.0.4")
    assert b"\nmpmd_requests_total 2\n" in ex.body


def test_require_is_enforced_by_the_router(tmp_path: Path, scoreboard: Scoreboard) -> None:
    handler = router(tmp_path, scoreboard, STATUS, METRICS)
    assert get(handler, b"/server-status?auto", client=("192.0.2.1", 1)).status == 403
    assert get(handler, b"/metrics", client=("127.0.0.1", 1)).status == 403


def test_a_status_location_without_require_is_local_only(
    tmp_path: Path, scoreboard: Scoreboard
) -> None:
    handler = router(tmp_path, scoreboard, OPEN)
    with capture_logs() as logs:
        assert get(handler, b"/open-status", client=("192.0.2.1", 1)).status == 403
    assert logs[0]["event"] == "client_denied"
    assert get(handler, b"/open-status", client=("127.0.0.1", 1)).status == 200
    granted = LocationConfig("/open-status", "server-status", ("all", "granted"))
    handler = router(tmp_path, scoreboard, granted)
    assert get(handler, b"/open-status", client=("192.0.2.1", 1)).status == 200


def test_only_get_and_head(tmp_path: Path, scoreboard: Scoreboard) -> None:
    handler = router(tmp_path, scoreboard, STATUS)
    post = get(handler, b"/server-status", method="POST")
    assert post.status == 405 and post.header("Allow") == "GET, HEAD"
    assert get(handler, b"/server-status?auto", method="HEAD").status == 200


def test_extended_status_default_follows_apache(tmp_path: Path) -> None:
    assert extended_status_enabled(make_config(tmp_path, STATUS)) is True
    assert extended_status_enabled(make_config(tmp_path)) is False
    assert extended_status_enabled(make_config(tmp_path, STATUS, extended_status=False)) is False
    assert extended_status_enabled(make_config(tmp_path, extended_status=True)) is True


def test_extended_status_off_keeps_auto_short(tmp_path: Path, scoreboard: Scoreboard) -> None:
    handler = router(tmp_path, scoreboard, STATUS, extended_status=False)
    _, values = parse_auto(get(handler, b"/server-status?auto").body.decode("latin-1"))
    assert "Total Accesses" not in values


def test_handler_names_are_known_to_configtest(tmp_path: Path) -> None:
    # what `mpmd -t` accepts: both status handlers, "None", and every Require form
    fine = (STATUS, METRICS, OPEN, LocationConfig("/app", "None", ("all", "denied")),
            LocationConfig("/lan", None, ("ip", "10.1", "2001:db8::/32")))
    check_routes(make_config(tmp_path, *fine))  # raises on any of them


HERE = Location("/etc/mpmd/mpmd.conf", 12)


@pytest.mark.parametrize(("location", "message"), [
    (LocationConfig("/s", "server-statu", where=HERE), "unknown SetHandler 'server-statu'"),
    (LocationConfig("/s", "server-status", ("locale",), where=HERE), "unsupported Require"),
    (LocationConfig("/s", "server-status", ("all",), where=HERE), "unsupported Require"),
    (LocationConfig("/s", None, ("ip", "10.0.0.300"), where=HERE), "Require ip"),
    (LocationConfig("~ ^/s", "server-status", where=HERE), "only URL-path prefixes"),
])
def test_configtest_refuses_a_bad_location_naming_its_line(
    tmp_path: Path, location: LocationConfig, message: str
) -> None:
    # the app named here cannot be imported: check_routes must not need it
    config = make_config(tmp_path, STATUS, location, wsgi_app="no_such_module:app")
    with pytest.raises(ConfigError, match=message) as caught:
        check_routes(config)
    assert caught.value.where == HERE


def test_a_process_without_scoreboard_cannot_serve_status(tmp_path: Path) -> None:
    runtime = Runtime(multithread=False, multiprocess=False, mpm="event", generation=1)
    with pytest.raises(ConfigError, match="scoreboard"):
        build_router(make_config(tmp_path, STATUS), runtime)


@pytest.mark.parametrize(("query", "expected"), [
    (b"", ("html", None)), (b"auto", ("auto", None)), (b"json", ("json", None)),
    (b"refresh", ("html", 10)), (b"refresh=0", ("html", 10)), (b"refresh=x", ("html", 10)),
    (b"auto&refresh=5", ("auto", 5)), (b"notable;json", ("json", None)),
])
def test_request_options(query: bytes, expected: tuple[str, int | None]) -> None:
    assert request_options(query) == expected
