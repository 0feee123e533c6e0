"""WSGIHandler against an in-memory exchange: PEP 3333 behaviour and failure paths."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment
from wsgiref.validate import validator

import pytest
from structlog.testing import capture_logs

from mpmd import SERVER_SOFTWARE
from mpmd.app.wsgi import WSGIHandler, check_headers, parse_server_name, parse_status

from .fakes import FakeExchange, make_request

# The validator reports some problems as warnings and an unclosed iterator in __del__:
# both must fail the test.
pytestmark = [
    pytest.mark.filterwarnings("error::wsgiref.validate.WSGIWarning"),
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
]


def serve(app: WSGIApplication, exchange: FakeExchange | None = None, **kw: Any) -> FakeExchange:
    exchange = exchange or FakeExchange()
    WSGIHandler(app, **kw)(exchange)
    return exchange


def hello(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, world!\n"]


def echo(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    body = environ["wsgi.input"].read(1 << 20)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body]


def streaming(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b""
    for i in range(3):
        yield b"part%d\n" % i


def writer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"via write; ")
    return [b"then iterable"]


def line_reader(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    stream = environ["wsgi.input"]
    lines = [stream.readline(), *stream.readlines(), *stream]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"|".join(lines)]


def error_page(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise KeyError("boom")
    except KeyError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")],
                       sys.exc_info())
    return [b"sorry"]


class TestValidator:
    """Each app runs wrapped in wsgiref.validate, which asserts on any PEP 3333 slip."""

    @pytest.mark.parametrize(
        ("app", "body", "expected"),
        [
            (hello, b"", b"Hello, world!\n"),
            (echo, b"posted data", b"posted data"),
            (streaming, b"", b"part0\npart1\npart2\n"),
            (writer, b"", b"via write; then iterable"),
            (line_reader, b"a\nb\nc", b"a\n|b\n|c"),
            (error_page, b"", b"sorry"),
        ],
    )
    def test_app_passes_validator(self, app: WSGIApplication, body: bytes, expected: bytes) -> None:
        request = make_request("POST", b"/x?y=1", ((b"Content-Type", b"text/plain"),),
                               content_length=len(body))
        exchange = serve(validator(app), FakeExchange(request, body=body))
        assert exchange.status != 500
        assert bytes(exchange.body) == expected
        assert exchange.finished

    def test_get_without_body_passes_validator(self) -> None:
        exchange = serve(validator(hello), FakeExchange(make_request("GET", b"/")))
        assert exchange.status == 200


class TestEnviron:
    def capture(self, exchange: FakeExchange, **kw: Any) -> WSGIEnvironment:
        seen: list[WSGIEnvironment] = []

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            seen.append(environ)
            start_response("204 No Content", [])
            return []

        serve(app, exchange, **kw)
        return seen[0]

    def test_pep3333_keys(self) -> None:
        request = make_request(
            "POST", b"/caf%C3%A9/a%2Fb?q=%20x",
            ((b"Host", b"example.com"), (b"Content-Type", b"text/plain"),
             (b"Content-Length", b"3"), (b"Accept", b"a"), (b"accept", b"b")),
            content_length=3,
        )
        env = self.capture(FakeExchange(request, client=("10.0.0.9", 4321)),
                           multithread=True, multiprocess=False)
        assert env["REQUEST_METHOD"] == "POST"
        assert env["SCRIPT_NAME"] == ""
        # percent-decoded once, bytes as latin-1 (PEP 3333 "Unicode Issues")
        assert env["PATH_INFO"] == "/caf\u00c3\u00a9/a/b"
        assert env["QUERY_STRING"] == "q=%20x"
        assert env["REQUEST_URI"] == "/caf%C3%A9/a%2Fb?q=%20x"
        assert env["CONTENT_TYPE"] == "text/plain"
        assert env["CONTENT_LENGTH"] == "3"
        assert "HTTP_CONTENT_LENGTH" not in env and "HTTP_CONTENT_TYPE" not in env
        assert env["HTTP_HOST"] == "example.com"
        assert env["HTTP_ACCEPT"] == "a, b"
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("127.0.0.1", "8080")
        assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("10.0.0.9", "4321")
        assert env["SERVER_SOFTWARE"] == SERVER_SOFTWARE
        assert env["wsgi.version"] == (1, 0)
        assert env["wsgi.url_scheme"] == "http"
        assert (env["wsgi.multithread"], env["wsgi.multiprocess"]) == (True, False)
        assert env["wsgi.run_once"] is False
        assert env["wsgi.input_terminated"] is True
        assert callable(env["wsgi.file_wrapper"])

    def test_absent_length_and_type_are_omitted(self) -> None:
        env = self.capture(FakeExchange(make_request("GET", b"/", http_version="1.0")))
        assert "CONTENT_LENGTH" not in env and "CONTENT_TYPE" not in env
        assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
        assert env["QUERY_STRING"] == ""

    def test_underscore_headers_are_dropped(self) -> None:
        request = make_request(headers=((b"X-Auth_User", b"evil"), (b"X-Auth-User", b"ok")))
        env = self.capture(FakeExchange(request))
        assert env["HTTP_X_AUTH_USER"] == "ok"

    def test_cookies_join_with_semicolon(self) -> None:
        request = make_request(headers=((b"Cookie", b"a=1"), (b"Cookie", b"b=2")))
        assert self.capture(FakeExchange(request))["HTTP_COOKIE"] == "a=1; b=2"

    def test_server_name_directive(self) -> None:
        env = self.capture(FakeExchange(), server_name="www.example.com:81")
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("www.example.com", "81")
        env = self.capture(FakeExchange(), server_name="www.example.com")
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("www.example.com", "8080")

    def test_unix_socket_addresses(self) -> None:
        env = self.capture(FakeExchange(client="", server="/run/mpmd.sock"))
        assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("localhost", "80")
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"]) == ("", "")

    def test_chunked_upload_has_no_length_and_reads_to_eof(self) -> None:
        request = make_request("POST", b"/", ((b"Transfer-Encoding", b"chunked"),), chunked=True)
        exchange = serve(validator(echo), FakeExchange(request, body=b"de-chunked body"))
        assert bytes(exchange.body) == b"de-chunked body"
        env = self.capture(FakeExchange(request))
        assert "CONTENT_LENGTH" not in env
        assert env["HTTP_TRANSFER_ENCODING"] == "chunked"


@pytest.mark.parametrize(
    ("server_name", "expected"),
    [
        ("example.com", ("example.com", None)),
        ("example.com:8080", ("example.com", "8080")),
        ("https://example.com:8443", ("example.com", "8443")),
        ("[::1]:80", ("::1", "80")),
        ("[::1]", ("::1", None)),
    ],
)
def test_parse_server_name(server_name: str, expected: tuple[str, str | None]) -> None:
    assert parse_server_name(server_name) == expected


class TestFraming:
    def test_single_string_gets_content_length_in_one_write(self) -> None:
        exchange = serve(hello)
        assert exchange.header("Content-Length") == "14"
        assert exchange.writes == [b"Hello, world!\n"]

    def test_empty_list_gets_zero_length(self) -> None:
        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return ()

        exchange = serve(app)
        assert exchange.header("Content-Length") == "0"
        assert exchange.finished

    def test_app_length_is_kept_and_generators_get_none(self) -> None:
        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [("Content-Length", "2")])
            return [b"ok"]

        assert [v for k, v in serve(app).headers if k == "Content-Length"] == ["2"]
        exchange = serve(streaming)
        assert exchange.header("Content-Length") is None
        assert exchange.writes == [b"part0\n", b"part1\n", b"part2\n"]

    def test_no_length_invented_for_304(self) -> None:
        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            start_response("304 Not Modified", [])
            return [b""]

        exchange = serve(app)
        assert (exchange.status, exchange.header("Content-Length")) == (304, None)

    def test_head_still_iterates_and_closes(self) -> None:
        app = Tracked([b"a", b"b"])
        exchange = serve(app, FakeExchange(make_request("HEAD")))
        assert app.consumed == 2 and app.closed
        assert exchange.status == 200


class Tracked:
    """An app whose iterable records how far it was consumed and whether closed."""

    def __init__(self, chunks: list[bytes], fail_at: int | None = None) -> None:
        self.chunks, self.fail_at = chunks, fail_at
        self.consumed = 0
        self.closed = False

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Tracked:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return self

    def __iter__(self) -> Iterator[bytes]:
        for i, chunk in enumerate(self.chunks):
            if i == self.fail_at:
                raise RuntimeError("generator failed")
            self.consumed += 1
            yield chunk

    def close(self) -> None:
        self.closed = True


class TestFailures:
    def test_exception_before_start_response_gives_500_and_event(self) -> None:
        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            raise ZeroDivisionError("oops")

        with capture_logs() as logs:
            exchange = serve(app)
        assert exchange.status == 500
        assert b"<title>500 Internal Server Error</title>" in exchange.body
        [event] = [e for e in logs if e["event"] == "wsgi_app_failed"]
        assert isinstance(event["exc_info"], ZeroDivisionError)
        assert event["log_level"] == "error"

    def test_exception_after_start_response_before_body_gives_500(self) -> None:
        app = Tracked([b"a", b"b"], fail_at=0)
        with capture_logs():
            exchange = serve(app)
        assert exchange.status == 500 and app.closed
        assert exchange.header("Content-Type") == "text/html; charset=iso-8859-1"

    def test_exception_after_body_sent_reraises_and_closes(self) -> None:
        app = Tracked([b"a", b"b"], fail_at=1)
        exchange = FakeExchange()
        with capture_logs() as logs, pytest.raises(RuntimeError, match="generator failed"):
            WSGIHandler(app)(exchange)
        assert app.closed
        assert (exchange.status, bytes(exchange.body)) == (200, b"a")
        assert [(e["event"], e["headers_sent"]) for e in logs] == [("wsgi_app_failed", True)]

    def test_client_disconnect_reraises_and_closes(self) -> None:
        app = Tracked([b"a", b"b"])
        exchange = FakeExchange(fail_writes=True)
        with capture_logs() as logs, pytest.raises(BrokenPipeError):
            WSGIHandler(app)(exchange)
        assert app.closed and app.consumed == 1
        assert logs == []  # not the application's fault: no 500, no event

    def test_close_called_on_success(self) -> None:
        app = Tracked([b"a"])
        serve(app)
        assert app.closed

    def test_no_start_response_gives_500(self) -> None:
        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            return [b"body"]

        with capture_logs():
            assert serve(app).status == 500

    def test_second_start_response_without_exc_info_is_an_error(self) -> None:
        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [])
            start_response("201 Created", [])
            return [b""]

        with capture_logs() as logs:
            assert serve(app).status == 500
        assert "again without exc_info" in str(logs[0]["exc_info"])

    def test_exc_info_after_headers_sent_reraises_original(self) -> None:
        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
            start_response("200 OK", [])
            yield b"started"
            try:
                raise LookupError("late")
            except LookupError:
                start_response("500 Oops", [], sys.exc_info())
            yield b"never"

        with capture_logs(), pytest.raises(LookupError, match="late"):
            serve(app)

    def test_exc_info_before_headers_sent_replaces_status(self) -> None:
        exchange = serve(error_page)
        assert (exchange.status, exchange.reason) == (503, "Service Unavailable")

    @pytest.mark.parametrize(
        "headers",
        [
            [("X-Evil", "a\r\nSet-Cookie: x=1")],
            [("X-Evil", "a\nb")],
            [("X-Evil", "a\0b")],
            [("X-Evil\r\nX", "a")],
            [("Bad Name", "a")],
            [("X-Snowman", "\u2603")],
            [("Connection", "close")],
            [("Transfer-Encoding", "chunked")],
            [("Content-Length", "-1")],
            (("X", "tuple, not list"),),
            [("X", 1)],
        ],
    )
    def test_bad_headers_give_500_and_are_never_sent(self, headers: Any) -> None:
        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", headers)
            return [b"x"]

        with capture_logs() as logs:
            exchange = serve(app)
        assert exchange.status == 500
        assert all(name in ("Content-Type", "Content-Length") for name, _ in exchange.headers)
        assert logs[0]["event"] == "wsgi_app_failed"

    @pytest.mark.parametrize("status", ["200", "200OK", "99 Low", "600 High", "abc OK",
                                        "200 O\r\nK", b"200 OK", "\uff12\uff10\uff10 OK"])
    def test_bad_status_gives_500(self, status: Any) -> None:
        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            start_response(status, [])
            return [b"x"]

        with capture_logs():
            assert serve(app).status == 500

    def test_str_body_gives_500(self) -> None:
        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[str]:
            start_response("200 OK", [])
            return ["text"]

        with capture_logs():
            assert serve(app).status == 500  # type: ignore[arg-type]

    def test_child_keeps_serving_after_failure(self) -> None:
        calls = iter([ValueError("first"), None])

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            error = next(calls)
            if error:
                raise error
            return hello(environ, start_response)

        handler = WSGIHandler(app)
        first, second = FakeExchange(), FakeExchange()
        with capture_logs():
            handler(first)
            handler(second)
        assert (first.status, second.status) == (500, 200)


def test_parse_status_and_check_headers() -> None:
    assert parse_status("404 Not Found") == (404, "Not Found")
    assert parse_status("200 ") == (200, "")
    assert check_headers([("Content-Length", "12"), ("X", "\tok")]) == 12
    assert check_headers([]) is None


class TestFileWrapper:
    def test_real_file_goes_through_sendfile_from_current_position(self, tmp_path: Path) -> None:
        path = tmp_path / "data.bin"
        path.write_bytes(b"0123456789")
        opened: list[io.BufferedReader] = []

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            f = path.open("rb")
            f.seek(3)
            opened.append(f)
            wrapped: Iterable[bytes] = environ["wsgi.file_wrapper"](f, 4)
            return wrapped

        exchange = serve(app)
        assert exchange.sendfiles == [(3, 7)]
        assert bytes(exchange.body) == b"3456789"
        assert exchange.header("Content-Length") == "7"
        assert opened[0].closed

    def test_app_content_length_limits_sendfile(self, tmp_path: Path) -> None:
        path = tmp_path / "data.bin"
        path.write_bytes(b"0123456789")

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [("Content-Length", "4")])
            wrapped: Iterable[bytes] = environ["wsgi.file_wrapper"](path.open("rb"))
            return wrapped

        exchange = serve(app)
        assert exchange.sendfiles == [(0, 4)] and bytes(exchange.body) == b"0123"

    def test_file_like_without_fileno_is_iterated(self) -> None:
        stream = io.BytesIO(b"x" * 10)

        def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            wrapped: Iterable[bytes] = environ["wsgi.file_wrapper"](stream, 4)
            return wrapped

        exchange = serve(validator(app))
        assert exchange.sendfiles == []
        assert exchange.writes == [b"xxxx", b"xxxx", b"xx"]
        assert stream.closed


def test_wsgi_errors_lines_become_events() -> None:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        errors = environ["wsgi.errors"]
        print("first line", file=errors)
        errors.writelines(["second ", "line\nthird"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    with capture_logs() as logs:
        serve(validator(app))
    assert [e["message"] for e in logs if e["event"] == "wsgi_errors"] == [
        "first line", "second line", "third"]


class MiniFlask:
    """A tiny framework in Flask's style: route decorator, request object, Response."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Callable[..., tuple[bytes, int, dict[str, str]]]] = {}

    def route(self, path: str, methods: tuple[str, ...] = ("GET",)) -> Callable[..., Any]:
        def register(view: Callable[..., Any]) -> Callable[..., Any]:
            for method in methods:
                self.routes[(method, path)] = view
            return view
        return register

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        view = self.routes.get((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        if view is None:
            start_response("404 NOT FOUND", [("Content-Type", "text/html; charset=utf-8")])
            return [b"not found"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body, status, headers = view(environ["wsgi.input"].read(length), environ)
        headers = {"Content-Type": "text/html; charset=utf-8", **headers}
        start_response(f"{status} OK", [*headers.items(), ("Content-Length", str(len(body)))])
        return [body]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.wsgi_app(environ, start_response)


def test_flask_style_app() -> None:
    app = MiniFlask()

    @app.route("/")
    def index(data: bytes, environ: WSGIEnvironment) -> tuple[bytes, int, dict[str, str]]:
        return f"Hello from {environ['HTTP_HOST']}".encode(), 200, {}

    @app.route("/items", methods=("POST",))
    def create(data: bytes, environ: WSGIEnvironment) -> tuple[bytes, int, dict[str, str]]:
        return b"created " + data, 201, {"Location": "/items/1"}

    handler = WSGIHandler(validator(app))
    get = FakeExchange(make_request("GET", b"/", ((b"Host", b"h.example"),)))
    handler(get)
    assert (get.status, bytes(get.body)) == (200, b"Hello from h.example")
    post = FakeExchange(make_request("POST", b"/items", content_length=4), body=b"ab=c")
    handler(post)
    assert (post.status, post.header("Location"), bytes(post.body)) == (201, "/items/1",
                                                                        b"created ab=c")
    missing = FakeExchange(make_request("GET", b"/nope"))
    handler(missing)
    assert (missing.status, missing.reason) == (404, "NOT FOUND")
