"""Pure helpers: URL path normalisation, validators, ranges, Apache's error pages."""

from __future__ import annotations

import pytest

from mpmd.app import conditional
from mpmd.app.errorpages import page, send_error
from mpmd.app.urlpath import PathRejected, normalize, safe_segments

from .fakes import FakeExchange


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"/", "/"), (b"", "/"), (b"//a///b", "/a/b"), (b"/a/./b/../c", "/a/c"),
        (b"/../../a", "/a"), (b"/a/b/", "/a/b/"), (b"/a/b/..", "/a/"), (b"/%61%2fb", "/a/b"),
    ],
)
def test_normalize(raw: bytes, expected: str) -> None:
    assert normalize(raw) == expected


def test_safe_segments() -> None:
    assert safe_segments(b"/a/./b//c%20d") == ("a", "b", "c d")


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"/a/../b", 404), (b"/a/%2e%2e/b", 404), (b"/a%2fb", 404), (b"/a%2Fb", 404),
     (b"/a%00b", 404), (b"/a\\b", 404), (b"/a%5cb", 404), (b"/%c0%ae%c0%ae/x", 404),
     (b"/%ed%a0%80", 404), (b"/%ff", 404), (b"/%g0", 400), (b"/a%", 400), (b"a/b", 400)],
)
def test_safe_segments_refuses(raw: bytes, status: int) -> None:
    # refused by the path check itself, whether or not such a file exists
    with pytest.raises(PathRejected) as info:
        safe_segments(raw)
    assert info.value.status == status


def test_etag_shape_and_weakness() -> None:
    # size 45 = 0x2d; mtime 1179000000.123456 s = 0x4304b54329240 µs
    assert conditional.make_etag(45, 1_179_000_000_123_456_789, 2e9) == '"2d-4304b54329240"'
    assert conditional.make_etag(1, 10**18, 10**9 + 0.5).startswith('W/"')


@pytest.mark.parametrize(
    "value",
    [b"Sun, 06 Nov 1994 08:49:37 GMT", b"Sunday, 06-Nov-94 08:49:37 GMT",
     b"Sun Nov  6 08:49:37 1994"],
)
def test_http_date_formats(value: bytes) -> None:
    # RFC 9110 §5.6.7: recipients accept all three forms
    assert conditional.parse_http_date(value) == 784111777
    assert conditional.http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"


def test_invalid_dates_are_none() -> None:
    assert conditional.parse_http_date(b"not a date") is None
    assert conditional.parse_http_date(b"") is None


def test_etag_comparison() -> None:
    assert conditional.etag_in(b'W/"a"', '"a"', weak=True)
    assert not conditional.etag_in(b'W/"a"', '"a"', weak=False)
    assert not conditional.etag_in(b'"a"', 'W/"a"', weak=False)
    assert conditional.etag_in(b'"x", "a"', '"a"', weak=False)


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [(b"bytes=0-0", 1, (0, 0)), (b"bytes=0-", 5, (0, 4)), (b"bytes= 1-2 ", 5, (1, 2)),
     (b"bytes=-1", 5, (4, 4)), (b"bytes=1-2,3-4", 5, None), (b"bytes=+1-2", 5, None)],
)
def test_parse_range(value: bytes, size: int, expected: object) -> None:
    assert conditional.parse_range(value, size) == expected


def test_parse_range_unsatisfiable() -> None:
    with pytest.raises(conditional.RangeNotSatisfiable):
        conditional.parse_range(b"bytes=-1", 0)


def test_apache_404_page_bytes() -> None:
    assert page(404, "The requested URL was not found on this server.") == (
        b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n'
        b"<html><head>\n<title>404 Not Found</title>\n</head><body>\n"
        b"<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n"
        b"</body></html>\n"
    )


def test_send_error_sets_length_and_type() -> None:
    exchange = FakeExchange()
    send_error(exchange, 403)
    assert exchange.status == 403 and exchange.reason == "Forbidden"
    assert exchange.header("Content-Length") == str(len(exchange.body))
    assert exchange.header("Content-Type") == "text/html; charset=iso-8859-1"
    assert exchange.finished
