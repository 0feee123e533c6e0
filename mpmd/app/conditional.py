"""Validators, conditional requests and byte ranges for static files (pure functions).

Follows RFC 9110: entity-tag comparison (§8.8.3.2), the precedence of
preconditions (§13.2.2: If-Match, If-Unmodified-Since, If-None-Match,
If-Modified-Since, then If-Range), and single byte ranges (§14.1.2, §14.2).
ETags have Apache's default ``FileETag MTime Size`` shape,
``"<size hex>-<mtime in µs hex>"``, weak while the file changed less than a
second ago (Apache's ``ap_make_etag`` rule: such a file may still be changing).
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable

from mpmd.errors import MpmdError

#: An inclusive byte range (first, last).
ByteRange = tuple[int, int]
#: Looks up a request header by its lower-case name (``Request.header``).
HeaderLookup = Callable[[bytes], bytes | None]


class RangeNotSatisfiable(MpmdError):
    """The Range header selects no byte of the representation (answer 416)."""


def make_etag(size: int, mtime_ns: int, now: float) -> str:
    """Apache's ETag for a file of ``size`` bytes modified at ``mtime_ns``."""
    tag = f'"{size:x}-{mtime_ns // 1000:x}"'
    return "W/" + tag if now - mtime_ns / 1e9 < 1.0 else tag


def http_date(timestamp: float) -> str:
    """IMF-fixdate (RFC 9110 §5.6.7), independent of the locale."""
    return email.utils.formatdate(timestamp, usegmt=True)


def parse_http_date(value: bytes) -> int | None:
    """Seconds since the epoch, or None for an invalid date (which is then ignored)."""
    try:
        parsed = email.utils.parsedate_tz(value.decode("latin-1"))
    except (ValueError, IndexError):
        return None
    return None if parsed is None else int(email.utils.mktime_tz(parsed))


def _tags(value: bytes) -> list[str]:
    return [tag.strip() for tag in value.decode("latin-1").split(",")]


def etag_in(value: bytes, etag: str, *, weak: bool) -> bool:
    """Does the If-Match / If-None-Match list ``value`` match ``etag``?

    ``*`` matches any current representation.  Weak comparison ignores ``W/``;
    strong comparison never matches a weak tag (RFC 9110 §8.8.3.2).
    """
    for tag in _tags(value):
        if tag == "*":
            return True
        if weak and tag.removeprefix("W/") == etag.removeprefix("W/"):
            return True
        if not weak and tag == etag and not tag.startswith("W/"):
            return True
    return False


def precondition_status(header: HeaderLookup, etag: str, mtime: int) -> int | None:
    """412, 304 or None (go on), evaluated in RFC 9110 §13.2.2 order for GET/HEAD."""
    if_match = header(b"if-match")
    if if_match is not None:
        if not etag_in(if_match, etag, weak=False):
            return 412
    else:
        since = _date(header(b"if-unmodified-since"))
        if since is not None and mtime > since:
            return 412
    if_none_match = header(b"if-none-match")
    if if_none_match is not None:  # takes precedence over If-Modified-Since
        return 304 if etag_in(if_none_match, etag, weak=True) else None
    since = _date(header(b"if-modified-since"))
    return 304 if since is not None and mtime <= since else None


def _date(value: bytes | None) -> int | None:
    return None if value is None else parse_http_date(value)


def if_range_holds(value: bytes, etag: str, mtime: int) -> bool:
    """If-Range (RFC 9110 §13.1.5): a strong ETag match, or exactly Last-Modified."""
    text = value.decode("latin-1").strip()
    if text.startswith(('"', "W/")):
        return text == etag and not etag.startswith("W/")
    return parse_http_date(value) == mtime


def parse_range(value: bytes, size: int) -> ByteRange | None:
    """The single range ``bytes=a-b``, ``a-`` or ``-n`` of a ``size``-byte file.

    None means "serve the whole file": an invalid header is ignored (RFC 9110
    §14.2 allows it), and so are several ranges (we do not generate
    multipart/byteranges; a 200 with everything is always a valid answer).
    Raises :class:`RangeNotSatisfiable` when the range starts past the end.
    """
    unit, _, spec = value.decode("latin-1").partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not _digits(first or "0") or not _digits(last or "0") or not (first or last):
        return None
    if not first:  # suffix range: the last n bytes
        if int(last) == 0 or size == 0:
            raise RangeNotSatisfiable(f"bytes=-{last} of {size}")
        return max(size - int(last), 0), size - 1
    start = int(first)
    end = size - 1 if not last else int(last)
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(f"bytes={spec} of {size}")
    return start, min(end, size - 1)


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()
