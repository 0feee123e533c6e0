"""Static files from DocumentRoot (Apache's default handler with mod_dir and mod_mime).

Guarantees: only GET and HEAD (others: 405 with ``Allow``); a file is served
only if its real path (symlinks resolved) lies under the real DocumentRoot;
the request path is checked by :func:`mpmd.app.urlpath.safe_segments` first;
``.ht*`` files are refused as Apache's default ``<Files ".ht*">`` does.
Bodies go out with ``exchange.sendfile`` and a Content-Length, never chunked.

Apache behaviour followed: a directory without its trailing slash is
redirected to it (mod_dir), then served by the first existing DirectoryIndex
file, else 403 (no automatic listing); types come from a fixed table
(Python's built-in one, not the host's mime.types, so every host answers the
same), with no charset added and no Content-Type when the type is unknown
(Apache 2.4 has no DefaultType).
"""

from __future__ import annotations

import mimetypes
import os
import stat
import time
from typing import BinaryIO

from mpmd.app import conditional
from mpmd.app.errorpages import REASONS, send_error, send_method_not_allowed, send_redirect
from mpmd.app.urlpath import PathRejected, safe_segments
from mpmd.http.exchange import Exchange

ALLOW = "GET, HEAD"
# A compressed file is served as what it is (Apache: AddType application/x-gzip .gz).
_ENCODING_TYPES = {
    "gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz",
    "compress": "application/x-compress", "br": "application/x-brotli",
}


class StaticHandler:
    """Serve files below ``document_root`` (a :data:`~mpmd.http.exchange.Handler`)."""

    def __init__(self, document_root: str, directory_index: tuple[str, ...] = ("index.html",)):
        self.root = os.path.realpath(document_root)
        self._prefix = self.root.rstrip(os.sep) + os.sep  # "/" as a root stays "/"
        self.directory_index = directory_index
        self._mime = mimetypes.MimeTypes()  # Python's table only, see module doc
        self._types: dict[str, str | None] = {}

    def __call__(self, exchange: Exchange) -> None:
        request = exchange.request
        if request.method not in ("GET", "HEAD"):
            send_method_not_allowed(exchange, ALLOW)
            return
        try:
            path = self._resolve(safe_segments(request.path))
        except PathRejected as exc:
            send_error(exchange, exc.status)
            return
        self._serve_path(exchange, path)

    def _resolve(self, segments: tuple[str, ...]) -> str:
        if segments and segments[-1].startswith(".ht"):
            raise PathRejected(403, ".ht* files are private")
        return self._confine(os.path.join(self.root, *segments))

    def _confine(self, path: str) -> str:
        """The real path of ``path``, refused (403) if it leaves the root."""
        real = os.path.realpath(path)
        if real != self.root and not real.startswith(self._prefix):
            raise PathRejected(403, "symlink leads outside DocumentRoot")
        return real

    def _serve_path(self, exchange: Exchange, path: str) -> None:
        try:
            mode = os.stat(path).st_mode
        except PermissionError:
            send_error(exchange, 403)
            return
        except OSError:
            send_error(exchange, 404)
            return
        if stat.S_ISDIR(mode):
            self._serve_directory(exchange, path)
        elif stat.S_ISREG(mode):
            self._serve_file(exchange, path)
        else:  # FIFOs, sockets, devices: never open them
            send_error(exchange, 403)

    def _serve_directory(self, exchange: Exchange, path: str) -> None:
        request = exchange.request
        if not request.path.endswith(b"/"):  # mod_dir's trailing-slash redirect
            # One leading slash only: "//host/dir" would redirect off-site.
            query = b"?" + request.query if request.query else b""
            location = b"/" + request.path.lstrip(b"/") + b"/" + query
            send_redirect(exchange, location.decode("latin-1"))
            return
        for name in self.directory_index:
            try:
                candidate = self._confine(os.path.join(path, name))
            except PathRejected:
                continue
            if os.path.isfile(candidate):
                self._serve_file(exchange, candidate)
                return
        send_error(exchange, 403)  # Apache without Options Indexes (AH01276)

    def _serve_file(self, exchange: Exchange, path: str) -> None:
        try:
            # O_NONBLOCK: a file swapped for a FIFO after the stat must not block the open.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except PermissionError:
            send_error(exchange, 403)
            return
        except OSError:
            send_error(exchange, 404)
            return
        with open(fd, "rb", buffering=0) as file:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                send_error(exchange, 403)
                return
            self._send(exchange, file, info, path)

    def _send(self, exchange: Exchange, file: BinaryIO, info: os.stat_result, path: str) -> None:
        request = exchange.request
        size, mtime = info.st_size, int(info.st_mtime)
        etag = conditional.make_etag(size, info.st_mtime_ns, time.time())
        status = conditional.precondition_status(request.header, etag, mtime)
        if status == 304:  # RFC 9110 §15.4.5: the validators, no body
            exchange.start_response(304, REASONS[304], [("ETag", etag)])
            exchange.finish()
            return
        if status == 412:
            send_error(exchange, 412)
            return
        headers = [("Last-Modified", conditional.http_date(mtime)), ("ETag", etag),
                   ("Accept-Ranges", "bytes")]
        content_type = self._content_type(path)
        if content_type:
            headers.append(("Content-Type", content_type))
        try:
            selected = _range(exchange, size, etag, mtime)
        except conditional.RangeNotSatisfiable:
            send_error(exchange, 416, [("Content-Range", f"bytes */{size}")])
            return
        self._send_body(exchange, file, headers, size, selected)

    def _send_body(
        self, exchange: Exchange, file: BinaryIO, headers: list[tuple[str, str]],
        size: int, selected: conditional.ByteRange | None,
    ) -> None:
        status, (first, last) = 200, (0, size - 1)
        if selected is not None:
            status, (first, last) = 206, selected
            headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
        count = last - first + 1
        headers.append(("Content-Length", str(count)))
        exchange.start_response(status, REASONS[status], headers)
        if count and exchange.request.method != "HEAD":
            exchange.sendfile(file, first, count)
        exchange.finish()

    def _content_type(self, path: str) -> str | None:
        extension = os.path.splitext(path)[1].lower()
        if extension not in self._types:
            guessed, encoding = self._mime.guess_type("x" + extension)
            self._types[extension] = _ENCODING_TYPES.get(encoding or "", guessed)
        return self._types[extension]


def _range(exchange: Exchange, size: int, etag: str, mtime: int) -> conditional.ByteRange | None:
    """The range to send, if any: only for GET (RFC 9110 §14.2), subject to If-Range."""
    request = exchange.request
    value = request.header(b"range")
    if value is None or request.method != "GET":
        return None
    if_range = request.header(b"if-range")
    if if_range is not None and not conditional.if_range_holds(if_range, etag, mtime):
        return None
    return conditional.parse_range(value, size)
