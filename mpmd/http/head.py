"""The request head being collected, and the checks RFC 9112 asks of it.

:class:`Head` gathers the request-target and the header fields that llhttp
reports, and :meth:`Head.build` turns them into a :class:`Request` or raises
the :class:`RemoteProtocolError` the head deserves: 505 for an unknown major
version, 501 for CONNECT and unknown transfer codings, 400 for a missing or
repeated Host, a repeated Content-Type, faulty Transfer-Encoding, 413 when
Content-Length exceeds LimitRequestBody, 417 for an unknown expectation.
"""

from __future__ import annotations

import httptools

from mpmd.config.model import RequestLimits
from mpmd.http.errors import RemoteProtocolError
from mpmd.http.events import Request

#: Header names the head checks need (lower case); all others pass untouched.
NOTED = frozenset((b"content-length", b"transfer-encoding", b"host", b"expect", b"content-type"))


class Head:
    """The request head being collected: target, fields, and what the checks need."""

    __slots__ = ("expect", "fields", "hosts", "length", "limits", "te", "typed", "url")

    def __init__(self, limits: RequestLimits) -> None:
        self.limits = limits
        self.url = b""
        self.fields: list[tuple[bytes, bytes]] = []
        self.length: bytes | None = None
        self.te: bytes | None = None
        self.expect: bytes | None = None
        self.hosts = 0
        self.typed = False

    def add_url(self, piece: bytes, parser: httptools.HttpRequestParser) -> None:
        self.url += piece
        limit = self.limits.line
        # Apache's LimitRequestLine counts "METHOD SP target SP HTTP/1.1" (414).
        if len(self.url) + 10 > limit and len(self.url) + len(parser.get_method()) + 10 > limit:
            raise RemoteProtocolError("request line exceeds LimitRequestLine", 414)

    def note(self, lname: bytes, value: bytes) -> None:
        """Remember a field the checks in :meth:`build` need (``lname`` in NOTED)."""
        if lname == b"content-length":
            self.length = value  # llhttp already refused duplicates and non-digits
        elif lname == b"transfer-encoding":
            self.te = value if self.te is None else self.te + b"," + value
        elif lname == b"host":
            self.hosts += 1
        elif lname == b"content-type":
            # RFC 9110 §8.3: a singleton; two values leave the content's
            # processing ambiguous (a comma-joined value is no media type).
            if self.typed:
                raise RemoteProtocolError("repeated Content-Type header")
            self.typed = True
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
