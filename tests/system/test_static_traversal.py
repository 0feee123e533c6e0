"""Path traversal against the static handler, end to end, under every MPM.

One real mpmd per MPM serves ``DocumentRoot`` (no WSGI application, so the
static handler answers).  A secret lies next to the DocumentRoot, a symlink
inside it points out of it, and another points at a file inside it.  Every
attack shape is sent as a raw request line over a loopback socket
(``http.client`` would normalise the target) and must be refused with 400,
403 or 404, without one byte of the secret (or of ``/etc/passwd``) in the
answer.  The shapes that stay inside the root must be served, so a handler
that refused everything would fail here too.

The sans-I/O checks of the same shapes are in tests/unit/app/test_static.py;
this file proves that nothing on the way (llhttp, the request router, the
three connection drivers) turns a refused shape into a served one.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import MPMS, Server, ServerSpec

#: Different on every run, so a hit cannot be a coincidence.
SECRET = f"TOP-SECRET-{secrets.token_hex(8)}".encode()
INNER = b"inner file, fine to serve\n"
PASSWD_MARKER = b"root:x:0:0"
READ_TIMEOUT = 10.0
REFUSED = (400, 403, 404)


@dataclass(frozen=True)
class Answer:
    status: int
    raw: bytes  # everything received until EOF


@pytest.fixture(scope="module", params=MPMS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One static-only server per MPM for all shapes (the group is always killed)."""
    root = tmp_path_factory.mktemp(f"traversal-{request.param}")
    srv = Server(root, ServerSpec(mpm=request.param, wsgi=False))
    _plant_files(root)
    try:
        yield srv.start()
    finally:
        srv.kill_group()


def _plant_files(root: Path) -> None:
    """root/secret.txt outside the DocumentRoot; symlinks out of and inside it."""
    docs = root / "htdocs"
    (root / "secret.txt").write_bytes(SECRET)
    (root / "private").mkdir()
    (root / "private" / "secret.txt").write_bytes(SECRET)
    (docs / "sub").mkdir()
    (docs / "sub" / "inner.txt").write_bytes(INNER)
    (docs / "out.txt").symlink_to(root / "secret.txt")  # a file out of the root
    (docs / "outdir").symlink_to(root / "private")  # a directory out of the root
    (docs / "updir").symlink_to("..")  # relative, to the root's parent
    (docs / "in.txt").symlink_to(docs / "sub" / "inner.txt")  # stays inside
    (docs / "indir").symlink_to("sub")  # relative, stays inside


def fetch(server: Server, target: bytes, method: bytes = b"GET",
          version: bytes = b"HTTP/1.1") -> Answer:
    """Send one raw request (``Connection: close``) and read the answer to EOF."""
    head = method + b" " + target + b" " + version + b"\r\nHost: 127.0.0.1\r\n"
    buf = b""
    deadline = time.monotonic() + READ_TIMEOUT
    with socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(head + b"Connection: close\r\n\r\n")
        while time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            buf += data
        else:
            raise AssertionError(f"no EOF within {READ_TIMEOUT} s for {target!r}: {buf[:200]!r}")
    assert buf.startswith(b"HTTP/1.1 "), f"{target!r}: not an HTTP response: {buf[:200]!r}"
    return Answer(int(buf[9:12]), buf)


#: (id, request-target): every one must be refused without leaking the secret.
SHAPES: list[tuple[str, bytes]] = [
    # raw dot-dot segments
    ("dotdot", b"/../secret.txt"),
    ("dotdot-deep", b"/sub/../../secret.txt"),
    ("dotdot-many", b"/../../../../../../secret.txt"),
    ("dotdot-after-dot", b"/./../secret.txt"),
    ("dotdot-double-slashes", b"//..//secret.txt"),
    ("dotdot-many-slashes", b"/sub///..///..///secret.txt"),
    ("dotdot-trailing", b"/.."),
    ("dotdot-trailing-slash", b"/../"),
    ("dotdot-secret-trailing-slash", b"/../secret.txt/"),
    ("dotdot-secret-trailing-dot", b"/../secret.txt."),
    ("dotdot-secret-trailing-dot-slash", b"/../secret.txt/."),
    ("dotdot-semicolon", b"/..;/secret.txt"),
    # percent-encoded dots
    ("enc-dots", b"/%2e%2e/secret.txt"),
    ("enc-dots-upper", b"/%2E%2E/secret.txt"),
    ("enc-dot-second", b"/.%2e/secret.txt"),
    ("enc-dot-first", b"/%2e./secret.txt"),
    ("enc-dots-deep", b"/sub/%2e%2e/%2e%2e/secret.txt"),
    ("enc-dots-trailing", b"/%2e%2e"),
    # encoded slashes (AllowEncodedSlashes Off)
    ("enc-slash", b"/..%2fsecret.txt"),
    ("enc-slash-upper", b"/..%2Fsecret.txt"),
    ("enc-slash-leading", b"/%2f..%2fsecret.txt"),
    ("enc-all", b"/%2e%2e%2fsecret.txt"),
    # backslashes
    ("backslash", b"/..\\secret.txt"),
    ("backslash-enc", b"/..%5csecret.txt"),
    ("backslash-enc-upper", b"/..%5Csecret.txt"),
    ("backslash-enc-leading", b"/%5c..%5csecret.txt"),
    # NUL
    ("nul-enc", b"/..%00/secret.txt"),
    ("nul-enc-suffix", b"/out.txt%00.html"),
    ("nul-raw", b"/..\x00/secret.txt"),
    # overlong UTF-8 and other non-UTF-8 escapes
    ("overlong-dots", b"/%c0%ae%c0%ae/secret.txt"),
    ("overlong-dots-3byte", b"/%e0%80%ae%e0%80%ae/secret.txt"),
    ("overlong-slash", b"/..%c0%afsecret.txt"),
    ("overlong-backslash", b"/..%c1%9csecret.txt"),
    ("iis-unicode", b"/%u002e%u002e/secret.txt"),
    # double encoding: decoded once only
    ("double-enc-dots", b"/%252e%252e/secret.txt"),
    ("double-enc-slash", b"/..%252fsecret.txt"),
    # absolute-form (RFC 9112 §3.2.2) with a traversal in its path
    ("absolute-form", b"http://127.0.0.1/../secret.txt"),
    ("absolute-form-enc", b"http://127.0.0.1/%2e%2e/secret.txt"),
    ("absolute-form-passwd", b"http://127.0.0.1/../../../../etc/passwd"),
    # the host's files by absolute-looking paths
    ("double-slash-etc-passwd", b"//etc/passwd"),
    ("dotdot-etc-passwd", b"/../../../../../../etc/passwd"),
    ("file-scheme", b"file:///etc/passwd"),
    # symlinks leading out of the root
    ("symlink-file-out", b"/out.txt"),
    ("symlink-dir-out", b"/outdir/secret.txt"),
    ("symlink-dir-out-index", b"/outdir/"),
    ("symlink-file-out-trailing-slash", b"/out.txt/"),
    ("symlink-file-out-trailing-dot", b"/out.txt/."),
    ("symlink-dir-out-dotdot", b"/outdir/../secret.txt"),
    ("symlink-relative-up", b"/updir/secret.txt"),
    ("symlink-relative-up-dotdot", b"/indir/../updir/secret.txt"),
    # not a path at all
    ("no-leading-slash", b"secret.txt"),
    ("dotdot-no-leading-slash", b"../secret.txt"),
]


def _shape_params() -> list[object]:
    return [pytest.param(target, id=name) for name, target in SHAPES]


def assert_no_leak(answer: Answer, target: bytes) -> None:
    assert SECRET not in answer.raw, f"{target!r} leaked the secret"
    assert PASSWD_MARKER not in answer.raw, f"{target!r} leaked /etc/passwd"


@pytest.mark.parametrize("target", _shape_params())
def test_traversal_shape_is_refused(server: Server, target: bytes) -> None:
    answer = fetch(server, target)
    assert answer.status in REFUSED, f"{target!r} -> {answer.raw[:300]!r}"
    assert_no_leak(answer, target)


@pytest.mark.parametrize("target", _shape_params())
def test_traversal_shape_is_refused_to_head_and_http10(server: Server, target: bytes) -> None:
    # The same shapes through HEAD (no body path) and HTTP/1.0 (no Host needed).
    for method, version in ((b"HEAD", b"HTTP/1.1"), (b"GET", b"HTTP/1.0")):
        answer = fetch(server, target, method, version)
        assert answer.status in REFUSED, f"{method!r} {target!r} {version!r} -> {answer.status}"
        assert_no_leak(answer, target)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(b"/in.txt", id="symlink-file-in"),
        pytest.param(b"/indir/inner.txt", id="symlink-dir-in"),
        pytest.param(b"/sub/inner.txt", id="plain"),
        pytest.param(b"/./sub/./inner.txt", id="dot-segments"),
        pytest.param(b"//sub//inner.txt", id="double-slashes"),
        pytest.param(b"/%73ub/inner%2etxt", id="encoded-letters"),
        pytest.param(b"http://127.0.0.1/sub/inner.txt", id="absolute-form"),
    ],
)
def test_paths_that_stay_inside_are_served(server: Server, target: bytes) -> None:
    """The control group: a handler refusing everything must fail this."""
    answer = fetch(server, target)
    assert answer.status == 200, f"{target!r} -> {answer.raw[:300]!r}"
    assert answer.raw.endswith(b"\r\n\r\n" + INNER)
