"""Error responses shared by every handler.

The pages are Apache 2.4's short HTML documents (same titles and sentences),
served as ``text/html; charset=iso-8859-1`` with a Content-Length, so a client
or monitoring probe that knows Apache sees what it expects.  Bodies are built
once per status at import; only the 405 page and redirects carry request data,
and that is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from mpmd.http.exchange import Exchange

REASONS: dict[int, str] = {
    200: "OK",
    206: "Partial Content",
    301: "Moved Permanently",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    416: "Range Not Satisfiable",
    500: "Internal Server Error",
}

# Apache's wording (modules/http/http_protocol.c, get_canned_error_string).
_SENTENCES: dict[int, str] = {
    400: "Your browser sent a request that this server could not understand.<br />\n",
    403: "You don't have permission to access this resource.",
    404: "The requested URL was not found on this server.",
    412: "The precondition on the request for this URL evaluated to false.",
    416: (
        "None of the range-specifier values in the Range\n"
        "request-header field overlap the current extent\n"
        "of the selected resource."
    ),
    500: (
        "The server encountered an internal error or\n"
        "misconfiguration and was unable to complete\n"
        "your request."
    ),
}

CONTENT_TYPE = "text/html; charset=iso-8859-1"


def page(status: int, sentence: str) -> bytes:
    """An Apache-style error document for ``status`` with one paragraph."""
    title = f"{status} {REASONS[status]}"
    return (
        '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n'
        f"<html><head>\n<title>{title}</title>\n</head><body>\n"
        f"<h1>{REASONS[status]}</h1>\n<p>{sentence}</p>\n</body></html>\n"
    ).encode("latin-1")


_PAGES: dict[int, bytes] = {status: page(status, text) for status, text in _SENTENCES.items()}


def send_page(
    exchange: Exchange, status: int, body: bytes, headers: Sequence[tuple[str, str]] = ()
) -> None:
    """Send a complete HTML response (replacing a head not yet sent)."""
    exchange.start_response(
        status,
        REASONS[status],
        [*headers, ("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))],
    )
    exchange.write(body)
    exchange.finish()


def send_error(
    exchange: Exchange, status: int, headers: Sequence[tuple[str, str]] = ()
) -> None:
    """Send the canned page for ``status`` (400, 403, 404, 412, 416 or 500)."""
    send_page(exchange, status, _PAGES[status], headers)


def send_method_not_allowed(exchange: Exchange, allow: str) -> None:
    """405 with ``Allow`` (RFC 9110 §15.5.6 requires it) and Apache's sentence."""
    method = html.escape(exchange.request.method)
    body = page(405, f"The requested method {method} is not allowed for this URL.")
    send_page(exchange, 405, body, [("Allow", allow)])


def send_redirect(exchange: Exchange, location: str) -> None:
    """301 to ``location`` (a path-absolute reference, allowed by RFC 9110 §10.2.2)."""
    link = html.escape(location, quote=True)
    body = page(301, f'The document has moved <a href="{link}">here</a>.')
    send_page(exchange, 301, body, [("Location", location)])
