"""The WSGI adapter: PEP 3333 on top of an :class:`~mpmd.http.exchange.Exchange`.

Theory of operation: for each request :class:`WSGIHandler` builds the environ
(one dict literal over constants computed once per handler), calls the
application with a per-request :class:`_Response`'s ``start_response``, and
copies the returned iterable to the exchange.  The head goes to the exchange
only with the first non-empty body string (PEP 3333 "Buffering and
Streaming"), so until then a failure can still become a clean 500.

Guarantees:

- the iterable's ``close()`` is called on every path (success, application
  error, client disconnect);
- an error before anything was sent gives Apache's 500 page and a
  ``wsgi_app_failed`` event with the traceback, and the handler returns
  normally (the child keeps serving); after the head was sent, or when the
  exchange itself failed (client gone: a write or a ``wsgi.input`` read
  raised), the exception goes to the driver, which cuts the connection;
- nothing the application passes as status or header reaches the wire
  unchecked: CR, LF, NUL and other controls, non-tokens, non-latin-1 text and
  hop-by-hop headers (PEP 3333 "Other HTTP Features") are errors;
- a response of at most one body string gets a Content-Length, so small
  bodies go out unchunked, head and body in one send.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, BinaryIO, cast
from urllib.parse import unquote_to_bytes
from wsgiref.types import WSGIApplication, WSGIEnvironment

import structlog

from mpmd import SERVER_SOFTWARE
from mpmd.app.errorpages import send_error
from mpmd.app.wsgi_input import ClientInput
from mpmd.errors import MpmdError
from mpmd.http.errors import ProtocolError
from mpmd.http.exchange import Address, Exchange

ExcInfo = (
    tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
)

#: RFC 9110 §7.6.1 / PEP 3333: an application must not set these.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
     "te", "trailer", "trailers", "transfer-encoding", "upgrade"}
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch  # RFC 9110 §5.6.2
# RFC 9110 §5.5 field-value: VCHAR, obs-text, SP, HTAB; PEP 3333: latin-1 only.
_BAD_TEXT = re.compile(r"[^\t\x20-\x7e\x80-\xff]").search
_BODILESS = frozenset({204, 304})  # RFC 9110 §8.6: no Content-Length to invent
_PROTOCOLS = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}
_CACHE_SIZE = 512  # bound of each per-handler cache (header names, statuses, addresses)


class WSGIProtocolError(MpmdError):
    """The application broke PEP 3333 (bad status or header, call order)."""


def parse_status(status: object) -> tuple[int, str]:
    """``"200 OK"`` -> ``(200, "OK")``; PEP 3333 wants code, space, reason."""
    if (
        type(status) is not str or len(status) < 4 or status[3] != " "
        or not (status[:3].isdigit() and status[:3].isascii())
        or not 100 <= int(status[:3]) <= 599 or _BAD_TEXT(status)
    ):
        raise WSGIProtocolError(f"invalid status {status!r}")
    return int(status[:3]), status[4:]


def check_headers(headers: object) -> int | None:
    """Validate response headers; return the Content-Length the app set, if any."""
    if type(headers) is not list:
        raise WSGIProtocolError(f"response headers must be a list, not {type(headers).__name__}")
    length = None
    for item in headers:
        if type(item) is not tuple or len(item) != 2:
            raise WSGIProtocolError(f"invalid header {item!r}")
        name, value = item
        if type(name) is not str or not _TOKEN(name):
            raise WSGIProtocolError(f"invalid header name {name!r}")
        if type(value) is not str or _BAD_TEXT(value):
            raise WSGIProtocolError(f"invalid value for header {name}: {value!r}")
        lower = name.lower()
        if lower in HOP_BY_HOP:
            raise WSGIProtocolError(f"hop-by-hop header {name} is the server's (PEP 3333)")
        if lower == "content-length":
            if not (value.isdigit() and value.isascii()):
                raise WSGIProtocolError(f"invalid Content-Length {value!r}")
            length = int(value)
    return length


class FileWrapper:
    """``wsgi.file_wrapper``: the handler sends a wrapped regular file with sendfile."""

    def __init__(self, filelike: IO[bytes], blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while block := read(self.blksize):
            yield block

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


class ErrorStream:
    """``wsgi.errors``: each line becomes a ``wsgi_errors`` event in the error log."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = ""

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            structlog.get_logger("mpmd.wsgi").error("wsgi_errors", message=line)
        return len(text)

    def writelines(self, seq: Iterable[str]) -> None:
        for text in seq:
            self.write(text)

    def flush(self) -> None:
        if self._pending:
            self.write("\n")


class _Response:
    """One request's ``start_response``/``write`` state (PEP 3333's rules)."""

    __slots__ = ("code", "exchange", "headers", "io_failed", "length", "pushed", "reason",
                 "statuses")

    def __init__(self, exchange: Exchange, statuses: dict[str, tuple[int, str]]) -> None:
        self.exchange = exchange
        self.statuses = statuses  # the handler's cache of parsed status lines
        self.code = 0  # 0: start_response not called yet
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.length: int | None = None
        self.pushed = False  # status and headers handed to the exchange
        self.io_failed = False  # the exchange raised: the client is gone

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None, /
    ) -> Callable[[bytes], object]:
        # (None, None, None), what sys.exc_info() gives outside a handler, counts as none.
        if exc_info is not None and exc_info[1] is not None:
            try:
                if self.exchange.headers_sent:  # too late to change: abort the response
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # PEP 3333: break the traceback cycle
        elif self.code:
            raise WSGIProtocolError("start_response() called again without exc_info")
        parsed = self.statuses.get(status)
        if parsed is None:
            parsed = parse_status(status)
            if len(self.statuses) < _CACHE_SIZE:
                self.statuses[status] = parsed
        code, reason = parsed
        self.length = check_headers(headers)
        self.code, self.reason, self.headers, self.pushed = code, reason, headers, False
        return self.write

    def write(self, data: bytes) -> None:
        if type(data) is not bytes:
            data = _as_bytes(data)
        if not data:  # PEP 3333: no head before the first non-empty string
            return
        if not self.pushed:
            self.push()
        try:
            self.exchange.write(data)
        except BaseException:
            self.io_failed = True
            raise

    def push(self) -> None:
        if not self.code:
            raise WSGIProtocolError("response body before start_response()")
        self.exchange.start_response(self.code, self.reason, self.headers)
        self.pushed = True

    def add_length(self, length: int) -> None:
        """Add Content-Length unless the app set one or the status has no body."""
        if self.code and self.length is None and self.code not in _BODILESS:
            self.headers = [*self.headers, ("Content-Length", str(length))]
            self.length = length


def _as_bytes(data: object) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise WSGIProtocolError(f"body strings must be bytes, not {type(data).__name__}")


def _split_address(address: Address) -> tuple[str, str]:
    # Unix sockets have no host or port; REMOTE_ADDR is the peer's path (usually "").
    if isinstance(address, str):
        return address, ""
    return address[0], str(address[1])


def parse_server_name(server_name: str) -> tuple[str, str | None]:
    """ServerName ``[scheme://]host[:port]`` -> ``(host, port or None)``."""
    rest = server_name.partition("://")[2] or server_name
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        return host, tail[1:] or None
    host, _, port = rest.partition(":")
    return host, port or None


def _regular_fileno(filelike: object) -> int | None:
    try:
        fd = cast(IO[bytes], filelike).fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (AttributeError, OSError, ValueError):
        return None


class WSGIHandler:
    """Serve a PEP 3333 application (a :data:`~mpmd.http.exchange.Handler`)."""

    def __init__(
        self,
        app: WSGIApplication,
        *,
        server_name: str = "",
        multithread: bool = False,
        multiprocess: bool = True,
    ) -> None:
        self.app = app
        host, port = parse_server_name(server_name) if server_name else ("", None)
        self._server_host = host
        self._fixed_server = (host, port) if host and port else None
        self._constant: WSGIEnvironment = {
            "SCRIPT_NAME": "",
            "SERVER_SOFTWARE": SERVER_SOFTWARE,
            "wsgi.version": (1, 0),
            "wsgi.multithread": multithread,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,
        }
        self._header_keys: dict[bytes, str] = {}
        self._statuses: dict[str, tuple[int, str]] = {}
        self._servers: dict[Address, tuple[str, str]] = {}

    def __call__(self, exchange: Exchange) -> None:
        response = _Response(exchange, self._statuses)
        errors = ErrorStream()
        try:
            environ = self.environ(exchange, errors)
            if exchange.request.chunked or exchange.request.content_length:
                environ["wsgi.input"] = ClientInput(exchange.input, response)  # notes resets
            self._run(environ, response)
        except ProtocolError:
            # The client's body was malformed or too large (wsgi.input raised):
            # the driver answers with the error's status (400, 413 …), not a 500.
            raise
        except Exception as exc:
            if response.io_failed:
                raise  # the client is gone: the driver's business, not the app's
            sent = exchange.headers_sent
            structlog.get_logger("mpmd.wsgi").error(
                "wsgi_app_failed", exc_info=exc, headers_sent=sent,
                method=exchange.request.method, target=exchange.request.target.decode("latin-1"),
            )
            if sent:
                raise  # too late for a 500: the driver cuts the connection
            send_error(exchange, 500)
        finally:
            errors.flush()

    def environ(self, exchange: Exchange, errors: ErrorStream) -> WSGIEnvironment:
        """The PEP 3333 environ for ``exchange`` (``errors`` is ``wsgi.errors``)."""
        request = exchange.request
        path = request.path
        server_name, server_port = self._fixed_server or self._local_server(exchange.server)
        remote_addr, remote_port = _split_address(exchange.client)
        environ: WSGIEnvironment = {
            **self._constant,
            "REQUEST_METHOD": request.method,
            "PATH_INFO": (unquote_to_bytes(path) if b"%" in path else path).decode("latin-1"),
            "QUERY_STRING": request.query.decode("latin-1"),
            "REQUEST_URI": request.target.decode("latin-1"),
            "SERVER_NAME": server_name,
            "SERVER_PORT": server_port,
            "SERVER_PROTOCOL": _PROTOCOLS.get(request.http_version)
            or "HTTP/" + request.http_version,
            "REMOTE_ADDR": remote_addr,
            "REMOTE_PORT": remote_port,
            "wsgi.url_scheme": exchange.scheme,
            "wsgi.input": exchange.input,
            "wsgi.errors": errors,
        }
        if request.content_length is not None:
            environ["CONTENT_LENGTH"] = str(request.content_length)
        self._add_headers(environ, request.headers)
        return environ

    def _local_server(self, address: Address) -> tuple[str, str]:
        server = self._servers.get(address)
        if server is None:
            # A Unix listener has no name or port: say localhost:80 so PEP 3333's URL
            # reconstruction (which prefers HTTP_HOST anyway) stays well-formed.
            unix = isinstance(address, str)
            host, port = ("localhost", "80") if unix else _split_address(address)
            server = (self._server_host or host, port)
            if len(self._servers) < _CACHE_SIZE:
                self._servers[address] = server
        return server

    def _add_headers(
        self, environ: WSGIEnvironment, headers: Iterable[tuple[bytes, bytes]]
    ) -> None:
        keys = self._header_keys
        for name, value in headers:
            key = keys.get(name)
            if key is None:
                key = _environ_key(name)
                if len(keys) < _CACHE_SIZE:
                    keys[name] = key
            if not key:
                continue
            text = value.decode("latin-1")
            if key in environ:  # repeated field: RFC 9110 §5.3 list join
                text = environ[key] + ("; " if key == "HTTP_COOKIE" else ", ") + text
            environ[key] = text

    def _run(self, environ: WSGIEnvironment, response: _Response) -> None:
        result = self.app(environ, response.start_response)
        try:
            self._send(result, response)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not response.pushed:
            response.push()
        response.exchange.finish()

    def _send(self, result: Iterable[bytes], response: _Response) -> None:
        if type(result) is FileWrapper and response.code and self._sendfile(result, response):
            return
        if type(result) in (list, tuple) and len(cast(list[bytes], result)) <= 1:
            response.add_length(sum(map(len, result)))
        write = response.write
        for data in result:
            write(data)

    def _sendfile(self, wrapper: FileWrapper, response: _Response) -> bool:
        fd = _regular_fileno(wrapper.filelike)
        if fd is None:
            return False
        offset = wrapper.filelike.tell()  # PEP 3333: from the current position
        count = max(os.fstat(fd).st_size - offset, 0)
        if response.length is not None:
            count = min(count, response.length)
        response.add_length(count)
        response.push()
        try:
            response.exchange.sendfile(cast(BinaryIO, wrapper.filelike), offset, count)
        except BaseException:
            response.io_failed = True
            raise
        return True


def _environ_key(name: bytes) -> str:
    """CGI name of a request header; "" drops it.

    Names with ``_`` are dropped as Apache 2.4 and gunicorn do: ``X-Auth_User``
    would otherwise become ``HTTP_X_AUTH_USER`` and spoof a proxy's
    ``X-Auth-User``.  Content-Length comes from the parsed request instead.
    """
    text = name.decode("latin-1").upper()
    if "_" in text or text == "CONTENT-LENGTH":
        return ""
    if text == "CONTENT-TYPE":
        return "CONTENT_TYPE"
    return "HTTP_" + text.replace("-", "_")
