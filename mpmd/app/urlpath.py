"""URL paths: strict decoding for file lookup, normalisation for ``<Location>`` matching.

Guarantees of :func:`safe_segments` (what the static handler maps to files):
the result is a tuple of non-empty path segments, none of which is ``.`` or
``..`` or contains ``/``, ``\\`` or NUL, decoded exactly once from valid UTF-8
(so overlong forms such as ``%c0%ae`` never become ``.``).  Anything else
raises :class:`PathRejected` with the status to answer: 400 for a malformed
escape (Apache's ``ap_unescape_url``), 404 for the refused shapes (Apache
answers 404 for ``%2f`` with ``AllowEncodedSlashes Off`` and for ``%00``; we
answer 404 for the others too so a probe learns nothing).

:func:`normalize` is lenient and never raises: it is what ``<Location>`` and
``Require`` match against, so ``/%73erver-status``, ``//server-status`` and
``/x/../server-status`` all match ``<Location /server-status>`` as in Apache
(which decodes, merges slashes and removes dot segments before matching).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from mpmd.errors import MpmdError

_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")  # a % not followed by two hex digits
_REFUSED = (b"\\", b"\0")


class PathRejected(MpmdError):
    """A request path that must not reach the file system; ``status`` is the answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def decode_strict(raw: bytes) -> bytes:
    """Percent-decode once, refusing bad escapes (400), ``%2f`` and NUL (404)."""
    if b"%" not in raw:
        return raw
    if _ESCAPE.search(raw):
        raise PathRejected(400, "malformed percent-escape")
    lowered = raw.lower()
    if b"%2f" in lowered:  # Apache AllowEncodedSlashes Off
        raise PathRejected(404, "encoded slash")
    return unquote_to_bytes(raw)


def safe_segments(raw: bytes) -> tuple[str, ...]:
    """The path's segments, safe to join under a document root (see module doc)."""
    if not raw.startswith(b"/"):
        raise PathRejected(400, "path is not absolute")
    decoded = decode_strict(raw)
    if any(bad in decoded for bad in _REFUSED):
        raise PathRejected(404, "backslash or NUL in path")
    try:
        text = decoded.decode("utf-8")  # strict: rejects overlong forms and surrogates
    except UnicodeDecodeError:
        raise PathRejected(404, "path is not valid UTF-8") from None
    segments = tuple(s for s in text.split("/") if s and s != ".")
    if ".." in segments:
        raise PathRejected(404, "dot-dot segment")
    return segments


def normalize(raw: bytes) -> str:
    """Decoded (latin-1), slash-merged, dot-segment-free path for matching.

    Dot segments are removed as RFC 3986 §5.2.4; ``..`` never climbs above ``/``.
    A trailing slash (or a trailing ``.``/``..`` segment) is kept as a slash.
    """
    text = unquote_to_bytes(raw).decode("latin-1") if b"%" in raw else raw.decode("latin-1")
    out: list[str] = []
    parts = text.split("/")
    for part in parts:
        if part == "..":
            if out:
                out.pop()
        elif part and part != ".":
            out.append(part)
    trailing = parts[-1] in ("", ".", "..") and len(parts) > 1 and bool(out)
    return "/" + "/".join(out) + ("/" if trailing else "")
