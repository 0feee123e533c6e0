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
- llhttp stays the authority on framing.  The reader feeds it in pieces that
  end where it must look (a head's end, a Content-Length body's end, a
  trailer line): splitting never changes what llhttp parses.  Inside a chunked
  body it feeds each chunk-size line alone, with the BWS RFC 9112 §7.1.1
  allows around ``;`` and ``=`` removed (see :mod:`mpmd.http.wire`), and the
  chunk data as sent; nothing else is ever rewritten.  Requests without a
  chunked body pay one ``find`` per read for this.
- A refused request carries its request line as sent (``request_line``), and
  ``HTTP/1.2`` .. ``1.9`` is served as 1.1 (RFC 9112 §2.6).
"""

from __future__ import annotations

import dataclasses
from collections import deque

import httptools

from mpmd.config.model import RequestLimits
from mpmd.http.chunklines import ChunkLines
from mpmd.http.errors import RemoteProtocolError
from mpmd.http.events import ConnectionClosed, Data, EndOfMessage, Event, Request
from mpmd.http.head import NOTED, Head
from mpmd.http.wire import FORBIDDEN_TRAILERS, public_reason, request_line, served_as_http11

_END = EndOfMessage()
_CLOSED = ConnectionClosed()
_OWS = (b" ", b"\t")
#: llhttp reasons that mean "not HTTP/1.x" (505, RFC 9110 §15.6.6); "PRI" is HTTP/2's preface.
_VERSION_ERRORS = frozenset(("Invalid HTTP version", "Pause on PRI/Upgrade"))
#: Used only to bound head memory when LimitRequestFields is 0 (unlimited, as Apache).
_UNLIMITED_FIELDS_BOUND = 10_000
#: Allowance for one chunk-size line with extensions, in the chunked overhead budget.
_CHUNK_LINE_ALLOWANCE = 1024
#: Bytes of a request line kept across reads for ``request_line`` (beyond
#: LimitRequestLine llhttp or the 414 check has stopped already).
_LINE_SLACK = 64


class RequestReader:
    """Feeds llhttp and queues events; the httptools protocol object is ``self``."""

    __slots__ = (
        "_as_sent",
        "_body_bytes",
        "_chunk_lines",
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
        "_line",
        "_max_fields",
        "_max_head",
        "_overhead",
        "_parser",
        "_raw_left",
        "_tail",
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
        self._head = Head(limits)
        self._trailers: list[tuple[bytes, bytes]] | None = None
        self._length: int | None = None
        self._head_bytes = self._body_bytes = self._chunks = self._overhead = self._raw_left = 0
        #: Inside a chunked body: where its chunk lines are.
        self._chunk_lines: ChunkLines | None = None
        #: The current message from its start while its head spans reads (first line only).
        self._line: bytes | None = None
        self._tail = b""  # the last bytes of the previous read while a head spans reads
        self._as_sent: bytes | None = None  # the request line of an HTTP/1.2 served as 1.1

    def feed(self, data: bytes) -> None:
        """Parse ``data``; results (or an error) go to ``events``."""
        while data and not (self._failed or self._closed_input):
            if self._in_message and not self._in_head:
                data = self._feed_body(data)
            elif self._in_message or data.find(b"\r\n\r\n") != len(data) - 4:
                data = self._feed_split(data)
            else:  # the common case, inlined: one whole head, between messages
                data = self._parse(data, True)

    def feed_eof(self) -> None:
        """The client closed its side: fine between requests, an error within one."""
        if self._failed:
            return
        if self._in_message:
            self._fail(RemoteProtocolError("connection closed in the middle of a request"))
        else:
            self.events.append(_CLOSED)

    def received_line(self) -> bytes | None:
        """The request line of a head still incomplete, if all of that line came."""
        line = self._line
        if not self._in_head or line is None or b"\n" not in line:
            return None
        return request_line(line)

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
        self._head = Head(self._limits)
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
            if name.lower() in FORBIDDEN_TRAILERS:
                raise RemoteProtocolError("a field that is not allowed in a trailer section")
            self._trailers = fields = self._trailers or []
        fields.append((name, value))
        # LimitRequestFieldSize counts "name: value"; both limits answer 431 (RFC 6585 §5).
        if len(name) + len(value) + 2 > self._limits.field_size:
            raise RemoteProtocolError("a header field exceeds LimitRequestFieldSize", 431)
        if len(fields) > self._max_fields:
            raise RemoteProtocolError("too many header fields (LimitRequestFields)", 431)
        if self._in_head:
            lname = name.lower()
            if lname in NOTED:
                self._head.note(lname, value)

    def on_headers_complete(self) -> None:
        request = self._head.build(self._parser)  # raises with _in_head still set
        self._crossed, self._in_head = True, False
        if self._as_sent is not None:  # rare: an HTTP/1.2 served as 1.1
            request = dataclasses.replace(request, request_line=self._as_sent)
            self._as_sent = None
        if request.chunked:  # _feed_split checks that the body starts a piece
            self._chunk_lines = ChunkLines(self._max_head + _CHUNK_LINE_ALLOWANCE)
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

    def _feed_body(self, data: bytes) -> bytes:
        if self._raw_left:
            return self._feed_raw(data)
        if self._chunk_lines is not None:
            return self._feed_chunk_lines(self._chunk_lines, data)
        return self._feed_split(data)

    def _feed_split(self, data: bytes) -> bytes:
        """Feed llhttp up to the next place the reader must look at; returns the rest.

        That place is a head's end (the first CRLFCRLF: llhttp in strict mode
        ends a head nowhere else), a Content-Length body's end, or a trailer
        line's end.  So every piece that starts between messages starts a
        message, and a chunked body's first byte starts a piece.
        """
        spanning = self._in_head  # this read continues a head
        if not self._in_message or spanning:
            end = data.find(b"\r\n\r\n")
            cut = end + 4 if end >= 0 else 0
            if spanning and self._tail:  # the CRLFCRLF may straddle the reads
                end = (self._tail + data[:3]).find(b"\r\n\r\n")
                cut = end + 4 - len(self._tail) if end >= 0 else cut
        elif self._chunked:  # the trailer section: one line at a time
            cut = data.find(b"\n") + 1
        else:
            cut = (self._length or 0) - self._body_bytes
        piece = data if cut <= 0 or cut >= len(data) else data[:cut]
        tail = self._tail if spanning else b""
        scanning = self._chunk_lines is not None
        leftover = self._parse(piece, not self._in_message)
        if self._in_head:
            self._keep_line(piece, spanning)
        elif self._chunk_lines is not None and not scanning:
            self._check_chunk_start(tail + piece)
        rest = b"" if piece is data else data[len(piece) :]
        return leftover + rest if leftover else rest

    def _keep_line(self, piece: bytes, spanning: bool) -> None:
        """The head goes on in the next read: keep its first line (and the last bytes)."""
        self._tail = (self._tail + piece)[-3:] if spanning else piece[-3:]
        line = self._line
        if not spanning:
            line = piece.lstrip(b"\r\n")
        elif line is None or b"\n" in line:
            return
        else:
            line += piece
        self._line = line[: self._limits.line + _LINE_SLACK]

    def _check_chunk_start(self, head_end: bytes) -> None:
        """A chunked request's head ended in this piece: scan its chunk lines
        (see :mod:`mpmd.http.chunklines`) only if llhttp provably stands at the
        body's first byte (the piece ended with the head's CRLFCRLF, no chunk
        seen); otherwise llhttp parses the body alone, strictly.  A whole head
        fed alone (the inlined case in :meth:`feed`) always ends its piece.
        """
        if not (self._in_message and not self._chunks and head_end.endswith(b"\r\n\r\n")):
            self._chunk_lines = None

    def _feed_chunk_lines(self, lines: ChunkLines, data: bytes) -> bytes:
        """Inside a chunked body: llhttp gets it with BWS removed from the size lines."""
        try:
            piece, rest, count = lines.scan(data)
        except RemoteProtocolError as error:
            self._fail(error)
            return b""
        before = self._chunks
        if piece:
            self._parse(piece)
        if self._failed:
            return b""
        if lines.bad or self._chunks - before != count:  # llhttp and we disagree: never serve
            self._fail(RemoteProtocolError("malformed chunked request body", detail=repr(piece)))
        elif lines.finished:  # the last chunk: the trailer section follows, line by line
            self._chunk_lines = None
        return rest

    def _parse(self, data: bytes, idle: bool = False) -> bytes:
        """Feed llhttp; returns the bytes it left unparsed after an Upgrade pause.

        ``idle``: no message was under way, so ``data`` starts the next one.
        """
        self._crossed = False
        body_before = self._body_bytes
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            return data[upgrade.args[0] :]
        except httptools.HttpParserError as exc:
            if not self._closed_input:  # else: llhttp refusing bytes after "close"
                return self._refused(exc, data, idle)
            return b""
        if not self._crossed:  # the whole read fell inside one phase of one message
            self._account(len(data), self._body_bytes - body_before)
        return b""

    def _refused(self, exc: httptools.HttpParserError, data: bytes, idle: bool) -> bytes:
        """llhttp (or a callback) refused ``data``: queue the error, with the request line."""
        error = _translate(exc, self._in_head)
        if self._in_head:  # no Request went out for this message: say what was received
            head = data if idle else (self._line or b"") + data
            if error.error_status_hint == 505 and self._as_sent is None:
                fixed = served_as_http11(head)
                if fixed is not None:
                    return self._serve_as_http11(head, fixed)
            error.request_line = self._as_sent or request_line(head)[: self._limits.line]
        self._fail(error)
        return b""

    def _serve_as_http11(self, head: bytes, fixed: bytes) -> bytes:
        """RFC 9112 §2.6: parse the message again, from its start, as HTTP/1.1.

        llhttp refuses any minor version but 0 and 1 in the request line, so a
        fresh parser gets the bytes received so far with the digit replaced;
        the access log keeps the line as sent.
        """
        self._as_sent = request_line(head)
        self._parser = httptools.HttpRequestParser(self)
        self._in_message = self._in_head = False
        return self._parse(fixed, True)

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


def _upgrade_body(request: Request) -> int:
    """Body length of an Upgrade request, which we serve as a normal request."""
    if request.chunked:
        raise RemoteProtocolError("a chunked body with Upgrade is not supported", 501)
    return request.content_length or 0


def _translate(exc: httptools.HttpParserError, in_head: bool) -> RemoteProtocolError:
    """One llhttp error as the RemoteProtocolError a driver answers with.

    The message says what is wrong in HTTP's terms; llhttp's wording, which
    names its own states, is the ``detail`` for the error log.
    """
    if isinstance(exc, httptools.HttpParserCallbackError):
        cause = exc.__context__  # httptools puts our callback's exception here
        if isinstance(cause, RemoteProtocolError):
            return cause
        if cause is not None and not isinstance(cause, Exception):
            raise cause  # KeyboardInterrupt, SystemExit: not ours to swallow
        error = RemoteProtocolError("the request could not be parsed", detail=repr(cause))
        error.__cause__ = cause
        return error
    reason = str(exc)
    if isinstance(exc, httptools.HttpParserInvalidMethodError):
        return RemoteProtocolError("request method not implemented", 501, detail=reason)
    if reason in _VERSION_ERRORS:  # RFC 9110 §15.6.6
        return RemoteProtocolError("HTTP version not supported", 505, detail=reason)
    return RemoteProtocolError(public_reason(reason, in_head), detail=reason)
