"""Request side of the sans-I/O core: bytes in, request events out, on httptools (llhttp).

Responsible for everything the client sends: the request head, Apache's
LimitRequest* directives, the request-smuggling checks, and the body (by
Content-Length or chunked, trailers included).  llhttp does the byte-level
parsing in C; Python only runs once per request line, header field, body piece
and message boundary.

Guarantees:

- :meth:`RequestReader.feed` never raises.  Events and errors go, in wire
  order, into ``events``; a pipelined request before a bad one is still served
  and the error surfaces exactly where it happened.
- Every failure of llhttp or of our callbacks is queued as a
  :class:`RemoteProtocolError` (``KeyboardInterrupt``/``SystemExit`` pass
  through).  After one, nothing more is parsed.
- Memory is bounded: llhttp buffers at most one header field internally, and
  across reads a head may not exceed LimitRequestLine + LimitRequestFields x
  LimitRequestFieldSize bytes (431), nor may the non-data bytes of a chunked
  body (chunk lines, trailers) grow past that plus 1 KiB per chunk (400).
"""

from __future__ import annotations

from collections import deque

import httptools

from mpmd.config.model import RequestLimits
from mpmd.http.errors import RemoteProtocolError
from mpmd.http.events import ConnectionClosed, Data, EndOfMessage, Event, Request

_END = EndOfMessage()
_CLOSED = ConnectionClosed()
_OWS = (b" ", b"\t")
#: Header names the head checks need (lower case); all others pass untouched.
_NOTED = frozenset((b"content-length", b"transfer-encoding", b"host", b"expect"))
#: llhttp reasons that mean "not HTTP/1.x" (505, RFC 9110 §15.6.6); "PRI" is HTTP/2's preface.
_VERSION_ERRORS = frozenset(("Invalid HTTP version", "Pause on PRI/Upgrade"))
#: Used only to bound head memory when LimitRequestFields is 0 (unlimited, as Apache).
_UNLIMITED_FIELDS_BOUND = 10_000
#: Allowance for one chunk-size line with extensions, in the chunked overhead budget.
_CHUNK_LINE_ALLOWANCE = 1024


class _Head:
    """The request head being collected: target, fields, and what the checks need."""

    __slots__ = ("expect", "fields", "hosts", "length", "limits", "te", "url")

    def __init__(self, limits: RequestLimits) -> None:
        self.limits = limits
        self.url = b""
        self.fields: list[tuple[bytes, bytes]] = []
        self.length: bytes | None = None
        self.te: bytes | None = None
        self.expect: bytes | None = None
        self.hosts = 0

    def add_url(self, piece: bytes, parser: httptools.HttpRequestParser) -> None:
        self.url += piece
        limit = self.limits.line
        # Apache's LimitRequestLine counts "METHOD SP target SP HTTP/1.1" (414).
        if len(self.url) + 10 > limit and len(self.url) + len(parser.get_method()) + 10 > limit:
            raise RemoteProtocolError("request line exceeds LimitRequestLine", 414)

    def note(self, lname: bytes, value: bytes) -> None:
        """Remember a field the checks in :meth:`build` need (``lname`` in _NOTED)."""
        if lname == b"content-length":
            self.length = value  # llhttp already refused duplicates and non-digits
        elif lname == b"transfer-encoding":
            self.te = value if self.te is None else self.te + b"," + value
        elif lname == b"host":
            self.hosts += 1
        else:
            self.expect = value if self.expect is None else self.expect + b"," + value

    def build(self, parser: httptools.HttpRequestParser) -> Request:
        version: str = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise RemoteProtocolError(f"HTTP/{version} is not supported", 505)
        method: str = parser.get_method().decode("ascii")
        if method == "CONNECT":  # a tunnel needs a proxy; we are an origin server
            raise RemoteProtocolError("CONNECT is not supported", 501)
        if self.url == b"*" and method != "OPTIONS":  # RFC 9112 §3.2.4: OPTIONS only
            raise RemoteProtocolError("asterisk-form request-target with a method but OPTIONS")
        chunked = self.te is not None and _check_transfer_coding(self.te, version)
        length = None if self.length is None else int(self.length)
        _check_host(self.hosts, version)
        if length is not None and self.limits.body and length > self.limits.body:
            raise RemoteProtocolError("request body exceeds LimitRequestBody", 413)
        expect = self.expect is not None and _expects_continue(self.expect, version)
        path, query = _split_target(self.url)
        return Request(
            method=method,
            target=self.url,
            path=path,
            query=query,
            http_version=version,
            headers=tuple(self.fields),
            keep_alive=parser.should_keep_alive(),
            expect_continue=expect,
            content_length=length,
            chunked=chunked,
        )


class RequestReader:
    """Feeds llhttp and queues events; the httptools protocol object is ``self``."""

    __slots__ = (
        "_body_bytes",
        "_chunked",
        "_chunks",
        "_closed_input",
        "_crossed",
        "_failed",
        "_head",
        "_head_bytes",
        "_in_head",
        "_in_message",
        "_keep_alive",
        "_length",
        "_limits",
        "_max_fields",
        "_max_head",
        "_overhead",
        "_parser",
        "_raw_left",
        "_trailers",
        "completed",
        "events",
    )

    def __init__(self, limits: RequestLimits) -> None:
        self._limits = limits
        self._max_fields = limits.fields or _UNLIMITED_FIELDS_BOUND
        self._max_head = limits.line + 4 + self._max_fields * (limits.field_size + 2)
        self._parser = httptools.HttpRequestParser(self)
        #: Parsed events and, last, at most one error, in wire order.
        self.events: deque[Event | RemoteProtocolError] = deque()
        #: Messages whose EndOfMessage has been queued.
        self.completed = 0
        self._failed = self._closed_input = self._crossed = False
        self._in_message = self._in_head = self._chunked = self._keep_alive = False
        self._head = _Head(limits)
        self._trailers: list[tuple[bytes, bytes]] | None = None
        self._length: int | None = None
        self._head_bytes = self._body_bytes = self._chunks = self._overhead = self._raw_left = 0

    def feed(self, data: bytes) -> None:
        """Parse ``data``; results (or an error) go to ``events``."""
        while data and not (self._failed or self._closed_input):
            data = self._feed_raw(data) if self._raw_left else self._parse(data)

    def feed_eof(self) -> None:
        """The client closed its side: fine between requests, an error within one."""
        if self._failed:
            return
        if self._in_message:
            self._fail(RemoteProtocolError("connection closed in the middle of a request"))
        else:
            self.events.append(_CLOSED)

    @property
    def mid_message(self) -> bool:
        """Bytes of a message have been parsed whose end has not come yet."""
        return self._in_message

    def body_remaining(self) -> int | None:
        """Body bytes of the message being parsed still to arrive; None if chunked."""
        if not self._in_message:
            return 0
        if self._chunked:
            return None
        return self._raw_left or (self._length or 0) - self._body_bytes

    # -- httptools callbacks (each raises RemoteProtocolError to stop the parser) --

    def on_message_begin(self) -> None:
        self._crossed = self._in_message = self._in_head = True
        self._head = _Head(self._limits)
        self._trailers = None
        self._head_bytes = self._body_bytes = self._chunks = self._overhead = 0

    def on_url(self, url: bytes) -> None:
        self._head.add_url(url, self._parser)

    def on_header(self, name: bytes, value: bytes) -> None:
        if value[-1:] in _OWS:  # llhttp strips leading whitespace only (RFC 9112 §5.1)
            value = value.rstrip(b" \t")
        if self._in_head:
            fields = self._head.fields
        else:  # after the head: a trailer field of a chunked body
            self._trailers = fields = self._trailers or []
        fields.append((name, value))
        # LimitRequestFieldSize counts "name: value"; both limits answer 431 (RFC 6585 §5).
        if len(name) + len(value) + 2 > self._limits.field_size:
            raise RemoteProtocolError("a header field exceeds LimitRequestFieldSize", 431)
        if len(fields) > self._max_fields:
            raise RemoteProtocolError("too many header fields (LimitRequestFields)", 431)
        if self._in_head:
            lname = name.lower()
            if lname in _NOTED:
                self._head.note(lname, value)

    def on_headers_complete(self) -> None:
        self._crossed, self._in_head = True, False
        request = self._head.build(self._parser)
        self._chunked, self._length, self._keep_alive = (
            request.chunked,
            request.content_length,
            request.keep_alive,
        )
        if self._parser.should_upgrade():
            self._raw_left = _upgrade_body(request)
        self.events.append(request)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._limits.body and self._body_bytes > self._limits.body:
            raise RemoteProtocolError("request body exceeds LimitRequestBody", 413)
        self.events.append(Data(body))

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_message_complete(self) -> None:
        self._crossed = True
        if not self._raw_left:  # else llhttp skipped an Upgrade body: _feed_raw ends it
            self._end_message()

    # -- internals --

    def _parse(self, data: bytes) -> bytes:
        """Feed llhttp; returns the bytes it left unparsed after an Upgrade pause."""
        self._crossed = False
        body_before = self._body_bytes
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            return data[upgrade.args[0] :]
        except httptools.HttpParserError as exc:
            if not self._closed_input:  # else: llhttp refusing bytes after "close"
                self._fail(_translate(exc))
            return b""
        if not self._crossed:  # the whole read fell inside one phase of one message
            self._account(len(data), self._body_bytes - body_before)
        return b""

    def _feed_raw(self, data: bytes) -> bytes:
        """The Content-Length body of an Upgrade request, which llhttp will not parse.

        We never switch protocols (RFC 9110 §7.8 lets a server ignore Upgrade),
        so the body is counted off by hand and parsing resumes after it.
        """
        piece = data[: self._raw_left]
        self._raw_left -= len(piece)
        self._body_bytes += len(piece)
        self.events.append(Data(piece))
        if not self._raw_left:
            self._end_message()
        return data[len(piece) :]

    def _end_message(self) -> None:
        self.events.append(EndOfMessage(tuple(self._trailers)) if self._trailers else _END)
        self.completed += 1
        self._in_message = False
        # llhttp rejects anything after a non-keep-alive message; we ignore it instead.
        self._closed_input = not self._keep_alive

    def _account(self, fed: int, body: int) -> None:
        """Bound what llhttp and we buffer across reads (see the module docstring)."""
        if self._in_head:
            self._head_bytes += fed
            if self._head_bytes > self._max_head:
                status = 431 if self._head.fields else 414
                self._fail(RemoteProtocolError("request head too large", status))
        elif self._chunked and self._in_message:
            self._overhead += fed - body
            if self._overhead > self._max_head + _CHUNK_LINE_ALLOWANCE * self._chunks:
                self._fail(RemoteProtocolError("chunk lines or trailers too large"))

    def _fail(self, error: RemoteProtocolError) -> None:
        self.events.append(error)
        self._failed = True


def _check_transfer_coding(value: bytes, version: str) -> bool:
    """Accept exactly ``chunked`` (True); refuse everything else.

    - HTTP/1.0 with Transfer-Encoding: framing is faulty (RFC 9112 §6.1) -> 400.
    - chunked not last, or twice: length undeterminable (RFC 9112 §6.3 item 4,
      §7.1) -> 400.  llhttp already refuses most of these shapes.
    - chunked last after other codings ("gzip, chunked"): a coding we do not
      implement (RFC 9112 §6.1 SHOULD) -> 501.
    """
    if version == "1.0":
        raise RemoteProtocolError("Transfer-Encoding in an HTTP/1.0 request")
    codings = [coding.strip().lower() for coding in value.split(b",")]
    if codings == [b"chunked"]:
        return True
    if codings[-1] != b"chunked" or b"chunked" in codings[:-1]:
        raise RemoteProtocolError("invalid Transfer-Encoding")
    raise RemoteProtocolError("unsupported transfer coding", 501)


def _check_host(count: int, version: str) -> None:
    """RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, or any with several."""
    if count > 1 or (count == 0 and version == "1.1"):
        raise RemoteProtocolError("missing or repeated Host header")


def _expects_continue(value: bytes, version: str) -> bool:
    """RFC 9110 §10.1.1: only 100-continue is known (else 417); ignored in HTTP/1.0."""
    if value.strip().lower() != b"100-continue":
        raise RemoteProtocolError("unsupported expectation", 417)
    return version == "1.1"


def _upgrade_body(request: Request) -> int:
    """Body length of an Upgrade request, which we serve as a normal request."""
    if request.chunked:
        raise RemoteProtocolError("a chunked body with Upgrade is not supported", 501)
    return request.content_length or 0


def _split_target(target: bytes) -> tuple[bytes, bytes]:
    """(path, query) of a request-target in origin, absolute or asterisk form (RFC 9112 §3.2)."""
    if b"#" in target:  # never valid in a request-target, but llhttp lets it through
        target = target.partition(b"#")[0]
    if target[:1] == b"/":
        path, _, query = target.partition(b"?")
        return path, query
    if target == b"*":
        return target, b""
    try:
        url = httptools.parse_url(target)
    except httptools.HttpParserError as exc:
        raise RemoteProtocolError("invalid request target") from exc
    return url.path or b"/", url.query or b""


def _translate(exc: httptools.HttpParserError) -> RemoteProtocolError:
    """One llhttp error as the RemoteProtocolError a driver answers with."""
    if isinstance(exc, httptools.HttpParserCallbackError):
        cause = exc.__context__  # httptools puts our callback's exception here
        if isinstance(cause, RemoteProtocolError):
            return cause
        if cause is not None and not isinstance(cause, Exception):
            raise cause  # KeyboardInterrupt, SystemExit: not ours to swallow
        error = RemoteProtocolError(f"request parsing failed: {cause!r}")
        error.__cause__ = cause
        return error
    if isinstance(exc, httptools.HttpParserInvalidMethodError):
        return RemoteProtocolError("unknown request method", 501)  # RFC 9110 §9.1
    if str(exc) in _VERSION_ERRORS:
        return RemoteProtocolError("unsupported HTTP version", 505)
    return RemoteProtocolError(f"malformed request: {exc}")
