"""A client that resets its connection mid-body is gone, not an application failure.

The driver's ``wsgi.input`` raises ``OSError`` (ECONNRESET) then; the adapter
must hand it to the driver quietly, as it does for a failed write: no
``wsgi_app_failed`` event, no 500 sent to nobody, the iterable still closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import cast
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import pytest
from structlog.testing import capture_logs

from mpmd.app.wsgi import WSGIHandler
from mpmd.app.wsgi_input import ClientInput
from mpmd.http.exchange import Exchange

from .fakes import FakeExchange, FakeInput, make_request


class ResetInput(FakeInput):
    """Ten bytes, then the client's RST."""

    def __init__(self) -> None:
        super().__init__(b"0123456789")
        self.reads = 0

    def _reset(self) -> None:
        self.reads += 1
        if self.reads > 1:
            raise ConnectionResetError(104, "Connection reset by peer")

    def read(self, size: int = -1, /) -> bytes:
        self._reset()
        return super().read(size if size >= 0 else 10)

    def readline(self, size: int = -1, /) -> bytes:
        self._reset()
        return super().readline(size)

    def readlines(self, hint: int = -1, /) -> list[bytes]:
        self._reset()
        return super().readlines(hint)


def handle(app: WSGIApplication, exchange: FakeExchange) -> None:
    WSGIHandler(app)(cast(Exchange, exchange))


def upload_exchange() -> FakeExchange:
    exchange = FakeExchange(make_request("POST", b"/up", content_length=100000))
    exchange.input = ResetInput()
    return exchange


READERS: dict[str, Callable[[ClientInput], object]] = {
    "read": lambda s: [s.read(5), s.read(5), s.read(5)],
    "read-all": lambda s: [s.read(), s.read()],
    "readline": lambda s: [s.readline(), s.readline()],
    "readlines": lambda s: [s.readlines(), s.readlines()],
    "iterate": lambda s: [s.read(1), *s],
}


class Closing:
    def __init__(self) -> None:
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield b"never"

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("reader", sorted(READERS))
def test_reset_mid_body_goes_to_the_driver_quietly(reader: str) -> None:
    result = Closing()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        READERS[reader](environ["wsgi.input"])
        return result

    exchange = upload_exchange()
    with capture_logs() as logs, pytest.raises(ConnectionResetError):
        handle(app, exchange)
    assert logs == []  # not the application's fault: no event
    assert exchange.status is None and not exchange.body  # no 500 sent to nobody


def test_iterable_is_closed_when_the_reset_comes_while_iterating() -> None:
    class Reading(Closing):
        def __init__(self, stream: ClientInput) -> None:
            super().__init__()
            self.stream = stream

        def __iter__(self) -> Iterator[bytes]:
            while self.stream.read(4):
                yield b"."

    results: list[Reading] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        results.append(Reading(environ["wsgi.input"]))
        return results[0]

    exchange = upload_exchange()
    with capture_logs() as logs, pytest.raises(ConnectionResetError):
        handle(app, exchange)
    assert results[0].closed and logs == []


def test_the_apps_own_os_error_is_still_a_500() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["wsgi.input"].read(5)
        raise FileNotFoundError("/no/such/template")

    exchange = upload_exchange()
    with capture_logs() as logs:
        handle(app, exchange)
    assert exchange.status == 500
    assert [e["event"] for e in logs] == ["wsgi_app_failed"]


def test_an_app_error_raised_over_a_reset_is_not_logged_as_the_apps() -> None:
    """The connection is dead either way: no 500 can reach the client, so the
    error goes to the driver (which ends the connection) as for a failed write."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            environ["wsgi.input"].read()
            environ["wsgi.input"].read()
        except OSError:
            raise RuntimeError("upload interrupted") from None
        return [b""]

    exchange = upload_exchange()
    with capture_logs() as logs, pytest.raises(RuntimeError, match="interrupted"):
        handle(app, exchange)
    assert logs == [] and exchange.status is None


def test_a_bodiless_request_reads_the_exchange_stream_directly() -> None:
    seen: list[object] = []

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen.append(environ["wsgi.input"])
        start_response("204 No Content", [])
        return []

    exchange = FakeExchange()
    handle(app, exchange)
    assert seen == [exchange.input]  # no wrapper where no read can fail
