"""Error responses shared by every handler.

The pages are Apache 2.4's short HTML documents (same titles and sentences),
built by :mod:`mpmd.http.pages` like the drivers' own error answers, so a
client or monitoring probe that knows Apache sees what it expects.  Canned
bodies are cached per status; only the 405 page and redirects carry request
data, and that is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from mpmd.http import pages
from mpmd.http.exchange import Exchange

#: Reason phrases of the statuses the applications send (see mpmd.http.pages).
REASONS: dict[int, str] = {
    status: pages.reason(status)
    for status in (200, 206, 301, 304, 400, 403, 404, 405, 412, 416, 500)
}
CONTENT_TYPE = pages.CONTENT_TYPE
page = pages.page


def send_page(
    exchange: Exchange, status: int, body: bytes, headers: Sequence[tuple[str, str]] = ()
) -> None:
    """Send a complete HTML response (replacing a head not yet sent)."""
    exchange.start_response(status, pages.reason(status), [*headers, *pages.page_headers(body)])
    exchange.write(body)
    exchange.finish()


def send_error(exchange: Exchange, status: int, headers: Sequence[tuple[str, str]] = ()) -> None:
    """Send the canned page for ``status`` (400, 403, 404, 412, 416 or 500)."""
    send_page(exchange, status, pages.error_page(status), headers)


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
