"""StaticHandler: files, directories, validators, ranges, and every traversal shape."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from mpmd.app.beneath import Opened
from mpmd.app.conditional import http_date
from mpmd.app.static import StaticHandler, lookup_status

from .fakes import FakeExchange, make_request
from .unprivileged import run_unprivileged, shared_tree

OLD = 1_000_000_000  # 2001-09-09: old enough for a strong ETag


@pytest.fixture
def root(tmp_path: Path) -> Path:
    docs = tmp_path / "htdocs"
    docs.mkdir()
    (docs / "index.html").write_bytes(b"<h1>It works!</h1>\n")
    (docs / "data.bin").write_bytes(bytes(range(100)))
    (docs / "notes").write_bytes(b"no extension")
    (docs / "archive.tar.gz").write_bytes(b"\x1f\x8b")
    (docs / "empty.txt").write_bytes(b"")
    (docs / ".htpasswd").write_bytes(b"secret")
    (docs / "sub").mkdir()
    (docs / "sub" / "index.html").write_bytes(b"sub index")
    (docs / "noindex").mkdir()
    (tmp_path / "outside.txt").write_bytes(b"outside")
    (docs / "escape.txt").symlink_to(tmp_path / "outside.txt")
    (docs / "escapedir").symlink_to(tmp_path)
    (docs / "alias.bin").symlink_to(docs / "data.bin")
    for path in docs.rglob("*"):
        os.utime(path, (OLD, OLD), follow_symlinks=False)
    return docs


def get(root: Path, target: bytes, method: str = "GET",
        headers: tuple[tuple[bytes, bytes], ...] = ()) -> FakeExchange:
    exchange = FakeExchange(make_request(method, target, headers))
    StaticHandler(str(root), ("index.html",))(exchange)
    return exchange


ETAG = f'"64-{OLD * 1_000_000:x}"'  # 100 bytes, mtime in microseconds, Apache's shape


class TestFiles:
    def test_file_with_validators_and_sendfile(self, root: Path) -> None:
        exchange = get(root, b"/data.bin")
        assert (exchange.status, bytes(exchange.body)) == (200, bytes(range(100)))
        assert exchange.sendfiles == [(0, 100)]
        assert exchange.header("Content-Length") == "100"
        assert exchange.header("ETag") == ETAG
        assert exchange.header("Last-Modified") == "Sun, 09 Sep 2001 01:46:40 GMT"
        assert exchange.header("Accept-Ranges") == "bytes"
        assert exchange.finished

    def test_mime_types_without_charset(self, root: Path) -> None:
        assert get(root, b"/index.html").header("Content-Type") == "text/html"
        assert get(root, b"/archive.tar.gz").header("Content-Type") == "application/gzip"
        assert get(root, b"/notes").header("Content-Type") is None

    def test_a_file_with_a_trailing_slash_is_not_found(self, root: Path) -> None:
        # Apache's default handler has AcceptPathInfo Off: "/file/" is 404, not the file.
        for target in (b"/data.bin/", b"/alias.bin/", b"/sub/index.html/"):
            exchange = get(root, target)
            assert exchange.status == 404, target
            assert exchange.sendfiles == []

    def test_head_sends_headers_only(self, root: Path) -> None:
        exchange = get(root, b"/data.bin", "HEAD")
        assert exchange.status == 200 and exchange.header("Content-Length") == "100"
        assert exchange.sendfiles == [] and exchange.body == b""

    def test_empty_file(self, root: Path) -> None:
        exchange = get(root, b"/empty.txt")
        assert (exchange.status, exchange.header("Content-Length")) == (200, "0")
        assert exchange.sendfiles == []

    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
    def test_other_methods_405(self, root: Path, method: str) -> None:
        exchange = get(root, b"/index.html", method)
        assert exchange.status == 405
        assert exchange.header("Allow") == "GET, HEAD"
        assert f"The requested method {method} is not allowed".encode() in exchange.body

    def test_missing_file_404(self, root: Path) -> None:
        exchange = get(root, b"/nope.html")
        assert exchange.status == 404
        assert b"<title>404 Not Found</title>" in exchange.body

    def test_file_as_directory_404(self, root: Path) -> None:
        assert get(root, b"/index.html/x").status == 404

    def test_recently_modified_file_has_weak_etag(self, root: Path) -> None:
        (root / "fresh.txt").write_bytes(b"new")
        assert get(root, b"/fresh.txt").header("ETag").startswith('W/"3-')  # type: ignore[union-attr]

    def test_fifo_is_refused_without_blocking(self, root: Path) -> None:
        os.mkfifo(root / "pipe")
        assert get(root, b"/pipe").status == 403

    def test_symlink_inside_root_is_served(self, root: Path) -> None:
        assert get(root, b"/alias.bin").status == 200


class TestDirectories:
    def test_root_serves_index(self, root: Path) -> None:
        assert bytes(get(root, b"/").body) == b"<h1>It works!</h1>\n"

    def test_subdirectory_index(self, root: Path) -> None:
        assert bytes(get(root, b"/sub/").body) == b"sub index"

    def test_missing_slash_redirects_keeping_query(self, root: Path) -> None:
        exchange = get(root, b"/sub?a=1")
        assert (exchange.status, exchange.header("Location")) == (301, "/sub/?a=1")
        assert b'<a href="/sub/?a=1">here</a>' in exchange.body

    def test_redirect_never_leaves_the_site(self, root: Path) -> None:
        exchange = get(root, b"//sub")
        assert (exchange.status, exchange.header("Location")) == (301, "/sub/")

    def test_root_named_like_a_private_file_still_works(self, root: Path) -> None:
        hidden = root / ".htdocs"
        hidden.mkdir()
        (hidden / "index.html").write_bytes(b"hidden root")
        exchange = FakeExchange(make_request("GET", b"/"))
        StaticHandler(str(hidden))(exchange)
        assert bytes(exchange.body) == b"hidden root"

    def test_directory_without_index_is_forbidden(self, root: Path) -> None:
        assert get(root, b"/noindex/").status == 403


class TestConditional:
    def test_if_none_match_304(self, root: Path) -> None:
        exchange = get(root, b"/data.bin", headers=((b"If-None-Match", ETAG.encode()),))
        assert (exchange.status, exchange.header("ETag")) == (304, ETAG)
        assert exchange.body == b"" and exchange.sendfiles == []

    def test_if_none_match_weak_comparison_and_lists(self, root: Path) -> None:
        value = b'"other", W/' + ETAG.encode()
        assert get(root, b"/data.bin", headers=((b"If-None-Match", value),)).status == 304
        assert get(root, b"/data.bin", headers=((b"If-None-Match", b"*"),)).status == 304

    def test_if_none_match_mismatch_beats_if_modified_since(self, root: Path) -> None:
        headers = ((b"If-None-Match", b'"other"'),
                   (b"If-Modified-Since", http_date(OLD + 10).encode()))
        assert get(root, b"/data.bin", headers=headers).status == 200

    def test_if_modified_since(self, root: Path) -> None:
        same = ((b"If-Modified-Since", http_date(OLD).encode()),)
        older = ((b"If-Modified-Since", http_date(OLD - 1).encode()),)
        garbage = ((b"If-Modified-Since", b"yesterday"),)
        assert get(root, b"/data.bin", headers=same).status == 304
        assert get(root, b"/data.bin", headers=older).status == 200
        assert get(root, b"/data.bin", headers=garbage).status == 200

    def test_if_match_and_if_unmodified_since_412(self, root: Path) -> None:
        assert get(root, b"/data.bin", headers=((b"If-Match", b'"x"'),)).status == 412
        assert get(root, b"/data.bin", headers=((b"If-Match", ETAG.encode()),)).status == 200
        stale = ((b"If-Unmodified-Since", http_date(OLD - 5).encode()),)
        assert get(root, b"/data.bin", headers=stale).status == 412


class TestRanges:
    @pytest.mark.parametrize(
        ("spec", "first", "last"),
        [(b"bytes=10-19", 10, 19), (b"bytes=90-", 90, 99), (b"bytes=-5", 95, 99),
         (b"bytes=95-500", 95, 99), (b"BYTES = 0-0", 0, 0), (b"bytes=-500", 0, 99)],
    )
    def test_single_range_206(self, root: Path, spec: bytes, first: int, last: int) -> None:
        exchange = get(root, b"/data.bin", headers=((b"Range", spec),))
        assert exchange.status == 206
        assert exchange.header("Content-Range") == f"bytes {first}-{last}/100"
        assert exchange.header("Content-Length") == str(last - first + 1)
        assert bytes(exchange.body) == bytes(range(first, last + 1))
        assert exchange.sendfiles == [(first, last - first + 1)]

    @pytest.mark.parametrize("spec", [b"bytes=100-", b"bytes=100-200", b"bytes=-0"])
    def test_unsatisfiable_416(self, root: Path, spec: bytes) -> None:
        exchange = get(root, b"/data.bin", headers=((b"Range", spec),))
        assert (exchange.status, exchange.header("Content-Range")) == (416, "bytes */100")

    @pytest.mark.parametrize(
        "spec", [b"bytes=0-1,5-6", b"bytes=5-1", b"items=0-1", b"bytes=a-b", b"bytes=-", b"bytes"]
    )
    def test_multiple_or_invalid_ranges_serve_whole_file(self, root: Path, spec: bytes) -> None:
        exchange = get(root, b"/data.bin", headers=((b"Range", spec),))
        assert exchange.status == 200 and len(exchange.body) == 100

    def test_range_ignored_for_head(self, root: Path) -> None:
        exchange = get(root, b"/data.bin", "HEAD", headers=((b"Range", b"bytes=0-1"),))
        assert exchange.status == 200

    def test_if_range(self, root: Path) -> None:
        rng = (b"Range", b"bytes=0-1")
        assert get(root, b"/data.bin", headers=(rng, (b"If-Range", ETAG.encode()))).status == 206
        assert get(root, b"/data.bin", headers=(rng, (b"If-Range", b'"old"'))).status == 200
        date = http_date(OLD).encode()
        assert get(root, b"/data.bin", headers=(rng, (b"If-Range", date))).status == 206
        later = http_date(OLD + 1).encode()
        assert get(root, b"/data.bin", headers=(rng, (b"If-Range", later))).status == 200

    def test_empty_file_range_416(self, root: Path) -> None:
        exchange = get(root, b"/empty.txt", headers=((b"Range", b"bytes=0-"),))
        assert (exchange.status, exchange.header("Content-Range")) == (416, "bytes */0")


class TestTraversal:
    """One test per attack shape; none may reach outside.txt or a private file."""

    @pytest.mark.parametrize(
        ("target", "status"),
        [
            (b"/../outside.txt", 404),  # plain dot-dot
            (b"/sub/../../outside.txt", 404),  # dot-dot deeper down
            (b"/%2e%2e/outside.txt", 404),  # encoded dots
            (b"/%2E%2E/outside.txt", 404),  # upper-case escapes
            (b"/.%2e/outside.txt", 404),  # half-encoded
            (b"/..%2foutside.txt", 404),  # encoded slash (AllowEncodedSlashes Off)
            (b"/sub%2Findex.html", 404),  # encoded slash, harmless target still refused
            (b"/index.html%00.txt", 404),  # NUL
            (b"/..\\outside.txt", 404),  # raw backslash
            (b"/..%5coutside.txt", 404),  # encoded backslash
            (b"/%c0%ae%c0%ae/outside.txt", 404),  # overlong UTF-8 dot
            (b"/%e0%80%ae%e0%80%ae/outside.txt", 404),  # 3-byte overlong dot
            (b"/%252e%252e/outside.txt", 404),  # double encoding decodes once only
            (b"/%zz", 400),  # malformed escape
            (b"/%2", 400),  # truncated escape
            (b"/escape.txt", 403),  # symlink to a file outside the root
            (b"/escapedir/outside.txt", 403),  # symlinked directory outside the root
            (b"/.htpasswd", 403),  # Apache's <Files ".ht*"> Require all denied
            (b"*", 400),  # not a path
        ],
    )
    def test_refused(self, root: Path, target: bytes, status: int) -> None:
        exchange = get(root, target)
        assert exchange.status == status
        assert b"outside" not in exchange.body and b"secret" not in exchange.body

    def test_dot_segments_that_stay_inside_are_fine(self, root: Path) -> None:
        assert get(root, b"/./sub/./index.html").status == 200
        assert get(root, b"//sub//index.html").status == 200

    def test_utf8_names_work(self, root: Path) -> None:
        (root / "caf\u00e9.txt").write_bytes(b"coffee")
        assert bytes(get(root, b"/caf%C3%A9.txt").body) == b"coffee"


class TestSymlinksInside:
    """Links that stay inside DocumentRoot keep working (see also TestTraversal)."""

    def test_absolute_link_to_a_directory_with_its_index(self, root: Path) -> None:
        (root / "absdir").symlink_to(root / "sub")
        assert bytes(get(root, b"/absdir/").body) == b"sub index"
        assert bytes(get(root, b"/absdir/index.html").body) == b"sub index"

    def test_relative_link_to_a_directory_redirects_then_serves_index(self, root: Path) -> None:
        (root / "reldir").symlink_to("sub")
        exchange = get(root, b"/reldir")
        assert (exchange.status, exchange.header("Location")) == (301, "/reldir/")
        assert bytes(get(root, b"/reldir/").body) == b"sub index"

    def test_directory_index_that_is_a_link_inside(self, root: Path) -> None:
        (root / "linked").mkdir()
        (root / "linked" / "index.html").symlink_to("../sub/index.html")
        assert bytes(get(root, b"/linked/").body) == b"sub index"

    def test_directory_index_that_is_a_link_outside_is_skipped(self, root: Path) -> None:
        (root / "leaky").mkdir()
        (root / "leaky" / "index.html").symlink_to(root.parent / "outside.txt")
        exchange = get(root, b"/leaky/")
        assert exchange.status == 403 and b"outside" not in exchange.body

    def test_directory_index_that_is_a_directory_is_skipped(self, root: Path) -> None:
        (root / "odd" / "index.html").mkdir(parents=True)
        assert get(root, b"/odd/").status == 403

    def test_content_type_comes_from_the_requested_name(self, root: Path) -> None:
        (root / "page.txt").symlink_to("index.html")  # mod_mime types by r->filename
        assert get(root, b"/page.txt").header("Content-Type") == "text/plain"

    def test_absolute_link_to_a_file_inside(self, root: Path) -> None:
        (root / "abs.bin").symlink_to(root / "data.bin")
        assert bytes(get(root, b"/abs.bin").body) == bytes(range(100))


class _FailingRoot:
    def __init__(self, code: int) -> None:
        self.code = code

    def open(self, parts: Sequence[str]) -> Opened:
        raise OSError(self.code, os.strerror(self.code))


class TestLookupErrors:
    """Any OSError while resolving is a 403 or a 404, never a 500 (issue 12, item 2)."""

    @pytest.mark.parametrize(
        ("code", "status"),
        [
            (errno.ENOENT, 404), (errno.ENOTDIR, 404), (errno.ELOOP, 404),
            (errno.ENAMETOOLONG, 404), (errno.EINVAL, 404),  # realpath's EINVAL in the swap
            (errno.EACCES, 403), (errno.EPERM, 403), (errno.EXDEV, 403),
            (errno.EMFILE, 404), (errno.EIO, 404),
        ],
    )
    def test_every_errno_is_answered(self, root: Path, code: int, status: int) -> None:
        handler = StaticHandler(str(root))
        handler.root = _FailingRoot(code)  # type: ignore[assignment]
        exchange = FakeExchange(make_request("GET", b"/index.html"))
        handler(exchange)
        assert exchange.status == status and exchange.finished

    def test_server_faults_are_logged_path_answers_are_not(self) -> None:
        with capture_logs() as logs:
            assert lookup_status(OSError(errno.EMFILE, "Too many open files"), b"/x") == 404
            assert lookup_status(OSError(errno.ENOENT, "No such file"), b"/y") == 404
        assert [(e["event"], e["path"], e["errno"]) for e in logs] == [
            ("static_lookup_failed", "/x", "EMFILE")
        ]

    def test_missing_document_root_is_404(self, tmp_path: Path) -> None:
        exchange = FakeExchange(make_request("GET", b"/"))
        StaticHandler(str(tmp_path / "absent"))(exchange)
        assert exchange.status == 404

    def test_name_too_long_is_404(self, root: Path) -> None:
        assert get(root, b"/" + b"a" * 300).status == 404

    def test_symlink_loop_is_404(self, root: Path) -> None:
        (root / "loop").symlink_to("loop")
        assert get(root, b"/loop").status == 404

    def test_unreadable_file_and_directory_are_403(self) -> None:
        with shared_tree() as docs:
            (docs / "locked.txt").write_bytes(b"locked")
            (docs / "locked.txt").chmod(0)
            (docs / "closed").mkdir()
            (docs / "closed" / "index.html").write_bytes(b"closed")
            (docs / "closed").chmod(0o644)  # no search permission

            def check() -> None:
                for target in (b"/locked.txt", b"/closed/", b"/closed/index.html"):
                    exchange = FakeExchange(make_request("GET", target))
                    StaticHandler(str(docs))(exchange)
                    assert exchange.status == 403, target

            run_unprivileged(check)
