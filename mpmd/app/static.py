"""Static files from DocumentRoot (Apache's default handler with mod_dir and mod_mime).

Guarantees: only GET and HEAD (others: 405 with ``Allow``); nothing outside
DocumentRoot is ever opened or served: the request path is checked by
:func:`mpmd.app.urlpath.safe_segments`, then opened beneath a descriptor held
for DocumentRoot (:mod:`mpmd.app.beneath`), so what is checked is what is
served, even while the tree changes under the request (a symlink swapped in
between two requests, or during one, cannot leak a file from outside);
whether a path is a file or a directory (mod_dir's redirect, DirectoryIndex)
is decided from the descriptor that was walked, never by a second lookup by
name.  Symlinks that stay inside DocumentRoot are followed.  ``.ht*`` files are
refused as Apache's default ``<Files ".ht*">`` does.  Any error resolving a
path is a 403 (permission, or a link leading outside) or a 404, never a 500.
Bodies go out with ``exchange.sendfile`` from the opened descriptor, with a
Content-Length, never chunked.

Apache behaviour followed: a directory without its trailing slash is
redirected to it (mod_dir), then served by the first existing DirectoryIndex
file, else 403 (no automatic listing); types come from a fixed table
(Python's built-in one, not the host's mime.types, so every host answers the
same), with no charset added and no Content-Type when the type is unknown
(Apache 2.4 has no DefaultType).
"""

from __future__ import annotations

import errno
import mimetypes
import os
import time
from typing import BinaryIO

import structlog

from mpmd.app import conditional
from mpmd.app.beneath import Opened, Root
from mpmd.app.errorpages import REASONS, send_error, send_method_not_allowed, send_redirect
from mpmd.app.urlpath import PathRejected, safe_segments
from mpmd.http.exchange import Exchange

ALLOW = "GET, HEAD"
log = structlog.get_logger("mpmd.app")
# A compressed file is served as what it is (Apache: AddType application/x-gzip .gz).
_ENCODING_TYPES = {
    "gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz",
    "compress": "application/x-compress", "br": "application/x-brotli",
}


class StaticHandler:
    """Serve files below ``document_root`` (a :data:`~mpmd.http.exchange.Handler`).

    DocumentRoot is held open for the handler's life (one handler per child);
    a DocumentRoot replaced on deploy is picked up by the next request
    (:class:`mpmd.app.beneath.Root`).
    """

    def __init__(self, document_root: str, directory_index: tuple[str, ...] = ("index.html",)):
        self.root = Root(document_root)
        self.directory_index = directory_index
        self._mime = mimetypes.MimeTypes()  # Python's table only, see module doc
        self._types: dict[str, str | None] = {}

    def __call__(self, exchange: Exchange) -> None:
        request = exchange.request
        if request.method not in ("GET", "HEAD"):
            send_method_not_allowed(exchange, ALLOW)
            return
        try:
            segments = _segments(request.path)
            opened = self.root.open(segments)
        except PathRejected as exc:
            send_error(exchange, exc.status)
            return
        except OSError as exc:
            send_error(exchange, lookup_status(exc, request.path))
            return
        with opened:
            self._serve(exchange, opened, segments[-1] if segments else "")

    def _serve(self, exchange: Exchange, opened: Opened, name: str) -> None:
        if opened.is_dir:
            self._serve_directory(exchange, opened)
        elif opened.is_file and exchange.request.path.endswith(b"/"):
            # "/file.txt/": path info after a file; Apache's default handler
            # refuses it (AcceptPathInfo defaults to Off for it: 404).
            send_error(exchange, 404)
        elif opened.is_file:
            self._send(exchange, opened, name)
        else:  # FIFOs, sockets, devices: never read them
            send_error(exchange, 403)

    def _serve_directory(self, exchange: Exchange, directory: Opened) -> None:
        request = exchange.request
        if not request.path.endswith(b"/"):  # mod_dir's trailing-slash redirect
            # One leading slash only: "//host/dir" would redirect off-site.
            query = b"?" + request.query if request.query else b""
            location = b"/" + request.path.lstrip(b"/") + b"/" + query
            send_redirect(exchange, location.decode("latin-1"))
            return
        for name in self.directory_index:
            try:
                index = directory.open(name)
            except OSError:  # missing, unreadable, or a link leading outside: next
                continue
            with index:
                if index.is_file:
                    self._send(exchange, index, name)
                    return
        send_error(exchange, 403)  # Apache without Options Indexes (AH01276)

    def _send(self, exchange: Exchange, opened: Opened, name: str) -> None:
        """Answer with the regular file ``opened`` (named ``name`` in the request)."""
        request, info = exchange.request, opened.info
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
        content_type = self._content_type(name)
        if content_type:
            headers.append(("Content-Type", content_type))
        try:
            selected = _range(exchange, size, etag, mtime)
        except conditional.RangeNotSatisfiable:
            send_error(exchange, 416, [("Content-Range", f"bytes */{size}")])
            return
        with open(opened.fd, "rb", buffering=0, closefd=False) as file:
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

    def _content_type(self, name: str) -> str | None:
        # The name requested, not a symlink's target: mod_mime looks at r->filename.
        extension = os.path.splitext(name)[1].lower()
        if extension not in self._types:
            guessed, encoding = self._mime.guess_type("x" + extension)
            self._types[extension] = _ENCODING_TYPES.get(encoding or "", guessed)
        return self._types[extension]


def _segments(path: bytes) -> tuple[str, ...]:
    """The request path's segments (PathRejected for refused shapes and ``.ht*``)."""
    segments = safe_segments(path)
    if segments and segments[-1].startswith(".ht"):
        raise PathRejected(403, ".ht* files are private")
    return segments


#: errnos that are an answer about the path, not a fault of the server.
_EXPECTED = frozenset({
    errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG, errno.EINVAL,
    errno.EACCES, errno.EPERM, errno.EXDEV,
})


def lookup_status(error: OSError, path: bytes) -> int:
    """The status for a failed lookup: 403 when refused (permission, a link out
    of DocumentRoot), else 404; logged when the errno says the server is unwell."""
    if error.errno not in _EXPECTED:  # EMFILE, EIO ...: the operator should know
        log.warning("static_lookup_failed", path=path.decode("latin-1"),
                    errno=errno.errorcode.get(error.errno or 0, str(error.errno)),
                    error=str(error))
    if error.errno in (errno.EACCES, errno.EPERM, errno.EXDEV):
        return 403
    return 404


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
