"""Response framing: the head's bytes and how the body is delimited (RFC 9112 §6-7).

Pure functions over values.  :func:`build_head` decides the framing once per
response, from the request method and version, the status and the handler's
headers:

==========================================  ===========================
response                                    body framing
==========================================  ===========================
HEAD, 204, 304 (or ``head_only``)           none; body bytes are dropped
handler set Content-Length                  that length, kept
HTTP/1.1 client, no length                  ``Transfer-Encoding: chunked``
HTTP/1.0 client, no length                  until the connection closes
==========================================  ===========================

Hop-by-hop fields (Connection, Keep-Alive, Transfer-Encoding, ...) are the
server's to set (RFC 9110 §7.6.1), so the handler's are dropped; a handler's
``Connection: close`` is honoured.  The head never contains CR, LF or NUL
except as line ends, so a handler cannot split a response.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from mpmd.http.errors import LocalProtocolError

LAST_CHUNK = b"0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

_HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    )
)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")  # RFC 9110 §5.6.2
_BAD_VALUE = re.compile(r"[\r\n\0]")


class Framing(enum.Enum):
    NONE = "none"  # no body may be sent (HEAD, 204, 304)
    LENGTH = "length"  # Content-Length
    CHUNKED = "chunked"  # Transfer-Encoding: chunked
    CLOSE = "close"  # delimited by closing the connection (HTTP/1.0 only)


@dataclass(frozen=True, slots=True)
class ResponseHead:
    data: bytes
    framing: Framing
    length: int | None  # the Content-Length sent, if any
    close: bool  # the head says "Connection: close"


def check_headers(headers: list[tuple[str, str]]) -> None:
    """Raise ValueError for a field name that is not a token, or a value with CR, LF or NUL."""
    for name, value in headers:
        if not _TOKEN.match(name) or _BAD_VALUE.search(value):
            raise ValueError(f"invalid response header {name!r}: {value!r}")


def build_head(
    status: int,
    reason: str,
    headers: list[tuple[str, str]],
    *,
    method: str,
    version: str,
    keep_alive: bool,
    date: str | None = None,
    server: str = "",
    head_only: bool = False,
) -> ResponseHead:
    """The response head for a request of ``method``/``version`` (see the module table).

    ``keep_alive`` is whether the connection may stay open as far as the caller
    knows; the result's ``close`` adds what the framing and the handler decide.
    ``date`` and ``server`` are added unless the handler set those fields.
    """
    if not 200 <= status <= 999:
        raise LocalProtocolError(f"status {status} is not a final status")
    lines = [f"HTTP/1.1 {status} {reason}\r\n"]
    length, close, date, server = _copy_fields(headers, lines, date, server, not keep_alive)
    if status == 204:  # RFC 9110 §8.6: never a Content-Length in a 204
        length = None
    framing = _framing(status, method, version, length, head_only)
    if length is not None and status != 204:
        lines.append(f"Content-Length: {length}\r\n")
    if framing is Framing.CHUNKED:
        lines.append("Transfer-Encoding: chunked\r\n")
    close = close or framing is Framing.CLOSE
    if close:
        lines.append("Connection: close\r\n")
    elif version == "1.0":  # RFC 9112 §9.3: 1.0 keep-alive must be confirmed
        lines.append("Connection: keep-alive\r\n")
    if server:
        lines.insert(1, f"Server: {server}\r\n")
    if date:
        lines.insert(1, f"Date: {date}\r\n")
    lines.append("\r\n")
    return ResponseHead(_encode(lines), framing, length, close)


def chunk_prefix(count: int) -> bytes:
    return b"%x\r\n" % count


def _copy_fields(
    headers: list[tuple[str, str]], lines: list[str], date: str | None, server: str, close: bool
) -> tuple[int | None, bool, str | None, str]:
    """Append the handler's end-to-end fields; note Content-Length and Connection."""
    length: int | None = None
    for name, value in headers:
        lname = name.lower()
        if lname == "content-length":
            length = _content_length(value, length)
            continue
        if lname in _HOP_BY_HOP:
            close = close or (lname == "connection" and _has_close(value))
            continue
        if lname == "date":
            date = None
        elif lname == "server":
            server = ""
        lines.append(f"{name}: {value}\r\n")
    return length, close, date, server


def _framing(
    status: int, method: str, version: str, length: int | None, head_only: bool
) -> Framing:
    # RFC 9110 §9.3.2 (HEAD), §15.3.5 (204), §15.4.5 (304): no content.
    if head_only or method == "HEAD" or status == 204 or status == 304:
        return Framing.NONE
    if length is not None:
        return Framing.LENGTH
    return Framing.CHUNKED if version == "1.1" else Framing.CLOSE


def _content_length(value: str, previous: int | None) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise LocalProtocolError(f"invalid Content-Length {value!r}")
    length = int(text)
    if previous is not None and previous != length:
        raise LocalProtocolError("conflicting Content-Length values")
    return length


def _has_close(value: str) -> bool:
    return "close" in (token.strip() for token in value.lower().split(","))


def _encode(lines: list[str]) -> bytes:
    """Join and encode the head, refusing any stray CR, LF or NUL (response splitting)."""
    text = "".join(lines)
    if text.count("\n") != len(lines) or text.count("\r") != len(lines) or "\0" in text:
        raise LocalProtocolError("CR, LF or NUL in the response head")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError("response head is not ISO-8859-1 (PEP 3333)") from exc
