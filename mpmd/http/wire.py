"""Byte-level rules the request reader applies around llhttp (pure functions and tables).

llhttp runs in strict mode and is the authority on framing.  This module holds
what mpmd adds around it, each rule small enough to check by eye:

- :func:`normalize_chunk_line` removes the BWS that RFC 9112 §7.1.1 allows
  around ``;`` and ``=`` in a chunk-size line and llhttp refuses; it never
  touches the chunk size itself, a line end, or any other byte, so every
  malformed size (bad hex, bare LF, overflow) still reaches llhttp as sent.
- :func:`request_line` recovers the request line as the client sent it (for the
  access log's ``%r`` when a request is refused, as Apache's ``the_request``).
- :func:`served_as_http11` maps ``HTTP/1.2`` .. ``HTTP/1.9`` to 1.1 (RFC 9112
  §2.6: a higher minor version is served as the highest one we implement).
- :func:`public_reason` says in HTTP's terms what llhttp refused; llhttp's own
  wording goes to the error log only.
- ``SINGLETON_FIELDS`` and ``FORBIDDEN_TRAILERS`` name the fields the reader
  refuses when repeated in a head, or when sent in a trailer section.
"""

from __future__ import annotations

import re

#: BWS around ";" and "=" in a chunk extension (RFC 9112 §7.1.1:
#: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )).
_EXT_BWS = re.compile(rb"[ \t]*([;=])[ \t]*")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
#: "METHOD SP target SP HTTP/1." and a minor digit above 1 (RFC 9112 §2.3, §2.6).
_HIGHER_MINOR = re.compile(rb"([\r\n]*[!-~]+ [!-~]+ HTTP/1\.)[2-9](?![0-9])")

#: Fields whose repetition makes the request ambiguous: Host (routing, RFC 9112
#: §3.2), Content-Length (framing, RFC 9112 §6.3; llhttp refuses it itself) and
#: Content-Type (how the content is processed, RFC 9110 §8.3).  All three are
#: singletons in RFC 9110's grammar, so a second one cannot be a list element.
SINGLETON_FIELDS = frozenset((b"host", b"content-length", b"content-type"))

#: Fields a trailer section must not carry (RFC 9110 §6.5.1): message framing,
#: routing, request modifiers (controls and conditionals, RFC 9110 §13, RFC 9111
#: §5), authentication, connection control, and what determines how to process
#: the content (RFC 9110 §6.5.1's Content-Encoding, Content-Type, Content-Range,
#: Trailer).  Each was evaluated before the body, so a late one is ambiguous.
FORBIDDEN_TRAILERS = frozenset(
    (
        b"transfer-encoding",
        b"content-length",
        b"host",
        b"connection",
        b"keep-alive",
        b"upgrade",
        b"te",
        b"trailer",
        b"expect",
        b"max-forwards",
        b"cache-control",
        b"pragma",
        b"range",
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"if-range",
        b"authorization",
        b"proxy-authorization",
        b"cookie",
        b"content-encoding",
        b"content-type",
        b"content-range",
    )
)

#: llhttp's reason (a substring of it) -> what is wrong, in HTTP's terms.
#: Checked in order; the first match wins.
_REASONS: tuple[tuple[str, str], ...] = (
    ("Content-Length", "invalid message framing (Content-Length)"),
    ("Transfer-Encoding", "invalid message framing (Transfer-Encoding)"),
    ("chunk", "malformed chunked request body"),
    ("header", "malformed header field"),
    ("version", "malformed HTTP version in the request line"),
    ("HTTP/", "malformed request line"),
    ("url", "malformed request target"),
    ("method", "malformed request line"),
    ("start line", "malformed request line"),
    ("space after", "malformed request line"),
)


def normalize_chunk_line(line: bytes) -> bytes:
    """``line`` (a chunk-size line, up to its LF) without BWS around ``;`` and ``=``."""
    if b" " in line or b"\t" in line:
        return _EXT_BWS.sub(rb"\1", line)
    return line


def chunk_size(line: bytes) -> int | None:
    """The size a chunk-size line announces, or None if it does not start with hex."""
    match = _HEX.match(line)
    return int(match[0], 16) if match else None


def request_line(head: bytes) -> bytes:
    """The first line of ``head`` (the bytes of a message from its start), as sent.

    Leading empty lines are skipped (RFC 9112 §2.2); a line not yet ended is
    returned as far as it came.
    """
    line = head.lstrip(b"\r\n").partition(b"\n")[0]
    return line[:-1] if line.endswith(b"\r") else line


def served_as_http11(head: bytes) -> bytes | None:
    """``head`` with a request line of ``HTTP/1.2`` .. ``HTTP/1.9`` changed to 1.1, or None."""
    match = _HIGHER_MINOR.match(head)
    if match is None:
        return None
    return match[1] + b"1" + head[match.end() :]


def public_reason(llhttp_reason: str, in_head: bool) -> str:
    """What llhttp refused, for the client: no parser internals."""
    for needle, reason in _REASONS:
        if needle in llhttp_reason:
            return reason
    return "malformed request head" if in_head else "malformed request body"
