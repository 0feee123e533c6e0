"""The one error-page builder (mpmd.http.pages) against Apache 2.4's documents."""

from __future__ import annotations

from mpmd.http.pages import CONTENT_TYPE, error_page, page_headers, reason

APACHE_DOCTYPE = b'<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n'


def test_a_canned_page_is_apaches_document() -> None:
    # Apache 2.4.58's 404 body, byte for byte (ap_send_error_response).
    assert error_page(404) == (
        APACHE_DOCTYPE + b"<html><head>\n<title>404 Not Found</title>\n</head><body>\n"
        b"<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n"
        b"</body></html>\n"
    )


def test_the_detail_follows_apaches_sentence_as_its_own_sentence() -> None:
    body = error_page(408, "request header read timeout")
    assert b"<title>408 Request Timeout</title>" in body
    assert (
        b"<p>Server timeout waiting for the HTTP request from the client.\n"
        b"Request header read timeout.\n</p>" in body
    )
    # Apache's 500 sentence ends without a line break; the detail still starts a line.
    assert b"your request.\nBoom.\n</p>" in error_page(500, "boom")


def test_the_detail_is_escaped() -> None:
    assert b"A &lt;b&gt; &amp; c." in error_page(400, "a <b> & c")


def test_reason_phrases_and_headers() -> None:
    assert reason(416) == "Range Not Satisfiable"  # RFC 9110 §15.5.17
    assert reason(431) == "Request Header Fields Too Large"  # RFC 6585 §5
    assert reason(599) == "Error"
    body = error_page(400)
    assert CONTENT_TYPE == "text/html; charset=iso-8859-1"
    assert page_headers(body) == [
        ("Content-Type", CONTENT_TYPE),
        ("Content-Length", str(len(body))),
    ]
