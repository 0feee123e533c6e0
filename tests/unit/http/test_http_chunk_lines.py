"""The chunk-size line scanner (mpmd/http/chunklines.py) and the rules of mpmd/http/wire.py."""

from __future__ import annotations

import random

import pytest

from mpmd.config.model import RequestLimits
from mpmd.http.chunklines import ChunkLines
from mpmd.http.errors import RemoteProtocolError
from mpmd.http.events import Data, EndOfMessage, Request
from mpmd.http.wire import (
    normalize_chunk_line,
    public_reason,
    request_line,
    served_as_http11,
)

from .http_core_helpers import run

LIMIT = 1024


def scan_all(pieces: list[bytes]) -> tuple[bytes, bytes, int, ChunkLines]:
    """Scan ``pieces`` in order: (all bytes for llhttp, rest after the body, lines)."""
    lines = ChunkLines(LIMIT)
    fed, rest, count = b"", b"", 0
    for piece in pieces:
        out, rest, n = lines.scan(piece)
        fed += out
        count += n
        if lines.finished:
            break
    return fed, rest, count, lines


def test_a_body_without_bws_is_passed_through_uncopied() -> None:
    data = b"5\r\nhello\r\n3;x=y\r\nabc\r\n"
    out, rest, count = ChunkLines(LIMIT).scan(data)
    assert out is data and rest == b"" and count == 2


@pytest.mark.parametrize(
    ("line", "clean"),
    [
        # RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )
        (b"5 ; a=b\r\n", b"5;a=b\r\n"),
        (b"5\t;\ta = b ;c\r\n", b"5;a=b;c\r\n"),
        (b'5;a = "x y"\r\n', b'5;a="x y"\r\n'),
        # Not BWS next to ";" or "=": left for llhttp to refuse.
        (b"5 \r\n", b"5 \r\n"),
        (b"1 0;a\r\n", b"1 0;a\r\n"),
        (b" 5;a\r\n", b" 5;a\r\n"),
        (b"5 ;a\n", b"5;a\n"),  # the bare LF stays: llhttp refuses it
    ],
)
def test_only_bws_around_semicolon_and_equals_is_removed(line: bytes, clean: bytes) -> None:
    assert normalize_chunk_line(line) == clean


def test_bws_lines_are_cleaned_and_data_kept_as_sent() -> None:
    # "a ; b" inside chunk data looks like an extension but is data: untouched.
    body = b"5 ; x\r\na ; b\r\n0 ; y = z\r\nT: 1\r\n\r\nGET /next"
    out, rest, count, lines = scan_all([body])
    assert out == b"5;x\r\na ; b\r\n0;y=z\r\n"
    assert rest == b"T: 1\r\n\r\nGET /next" and count == 2 and lines.finished


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_any_cut_of_the_reads_gives_the_same_bytes(size: int) -> None:
    body = b"3 ; a = b\r\nabc\r\n10\t;\tq\r\n" + b"x" * 16 + b"\r\n0 ;z\r\n\r\n"
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    out, rest, count, lines = scan_all(pieces)
    whole_out, whole_rest, _, _ = scan_all([body])
    assert whole_out == b"3;a=b\r\nabc\r\n10;q\r\n" + b"x" * 16 + b"\r\n0;z\r\n"
    assert out + rest == whole_out + whole_rest or out == whole_out
    assert count == 3 and lines.finished


def test_a_line_without_a_hex_size_is_marked_bad() -> None:
    _, _, count, lines = scan_all([b"zz ; a\r\nab\r\n"])
    assert lines.bad and lines.finished and count == 1


def test_a_size_line_that_never_ends_is_cut_at_the_limit() -> None:
    lines = ChunkLines(LIMIT)
    lines.scan(b"5;" + b"a" * 1000)
    with pytest.raises(RemoteProtocolError) as caught:
        lines.scan(b"a" * 100)
    assert caught.value.error_status_hint == 400


def test_request_line_as_sent() -> None:
    assert request_line(b"\r\nBREW /pot HTTP/1.1\r\nHost: x\r\n") == b"BREW /pot HTTP/1.1"
    assert request_line(b"GET /unfinished") == b"GET /unfinished"


@pytest.mark.parametrize(
    ("head", "fixed"),
    [
        (b"GET / HTTP/1.2\r\nHost: x\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n"),
        (b"\r\nPOST /a?b HTTP/1.9", b"\r\nPOST /a?b HTTP/1.1"),
        (b"GET / HTTP/1.10\r\n", None),  # HTTP-version is DIGIT "." DIGIT (RFC 9112 §2.3)
        (b"GET / HTTP/2.2\r\n", None),
        (b"GET / HTTP/1.1\r\n", None),
    ],
)
def test_higher_minor_versions_are_served_as_11(head: bytes, fixed: bytes | None) -> None:
    assert served_as_http11(head) == fixed


@pytest.mark.parametrize(
    ("llhttp", "in_head", "reason"),
    [
        ("Expected HTTP/, RTSP/ or ICE/", True, "malformed request line"),
        ("Invalid header token", True, "malformed header field"),
        ("Invalid header value char", True, "malformed header field"),
        ("Invalid char in url path", True, "malformed request target"),
        ("Duplicate Content-Length", True, "invalid message framing (Content-Length)"),
        ("Invalid character in chunk size", False, "malformed chunked request body"),
        ("Invalid word encountered", True, "malformed request head"),
    ],
)
def test_public_reasons_name_no_parser_state(llhttp: str, in_head: bool, reason: str) -> None:
    assert public_reason(llhttp, in_head) == reason


@pytest.mark.parametrize("seed", range(20))
def test_random_bodies_with_bws_parse_to_their_data_in_any_cut(seed: int) -> None:
    """Through the whole core: random chunks, random BWS in their extensions,
    random read sizes; the body is the chunks' data and the next request follows."""
    rng = random.Random(seed)
    ws = [b"", b" ", b"\t", b"  \t"]
    body, wire = b"", b""
    for _ in range(rng.randint(1, 6)):
        data = bytes(rng.choice(b"ab ;=\r\n") for _ in range(rng.randint(1, 40)))
        ext = b"".join(
            rng.choice(ws) + b";" + rng.choice(ws) + b"e" for _ in range(rng.randint(0, 2))
        )
        wire += b"%x" % len(data) + ext + b"\r\n" + data + b"\r\n"
        body += data
    wire += b"0" + rng.choice(ws) + b";" + rng.choice(ws) + b"z\r\n\r\n"
    head = b"POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    stream = head + wire + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    cuts, i = [], 0
    while i < len(stream):
        n = rng.randint(1, 30)
        cuts.append(stream[i : i + n])
        i += n
    outcome, _ = run(cuts, RequestLimits())
    requests = [e for e in outcome if isinstance(e, Request)]
    got = b"".join(e.data for e in outcome if isinstance(e, Data))
    assert [r.target for r in requests] == [b"/u", b"/next"]
    assert got == body and sum(isinstance(e, EndOfMessage) for e in outcome) == 2
