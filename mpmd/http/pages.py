"""Error documents in Apache 2.4's shape: status and detail in, bytes out.

Pure (no I/O, no configuration): the connection drivers (refused requests,
timeouts, a failed handler) and the applications (404, 403, 405, ...) build
their pages here, so every error answer of the server looks alike.  A page is
Apache's short HTML document (``ap_send_error_response``): its doctype, the
status line as title, the reason phrase as heading, and one paragraph with
Apache's canned sentence for the status (``get_canned_error_string`` in
modules/http/http_protocol.c) followed by what is wrong, if the caller says.
It is served as ``text/html; charset=iso-8859-1`` with a Content-Length.
"""

from __future__ import annotations

import html
from functools import lru_cache
from http import HTTPStatus

CONTENT_TYPE = "text/html; charset=iso-8859-1"

#: Reason phrases where mpmd says RFC 9110's words rather than Python's older
#: ones (416 is "Range Not Satisfiable" since RFC 7233); others come from
#: :class:`http.HTTPStatus`.
_REASONS: dict[int, str] = {
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

#: Apache 2.4's sentence per status (http_protocol.c, get_canned_error_string).
_SENTENCES: dict[int, str] = {
    400: "Your browser sent a request that this server could not understand.<br />\n",
    403: "You don't have permission to access this resource.",
    404: "The requested URL was not found on this server.",
    408: "Server timeout waiting for the HTTP request from the client.\n",
    412: "The precondition on the request for this URL evaluated to false.",
    413: "The amount of data provided in\nthe request exceeds the capacity limit.\n",
    414: "The requested URL's length exceeds the capacity\nlimit for this server.<br />\n",
    416: (
        "None of the range-specifier values in the Range\n"
        "request-header field overlap the current extent\n"
        "of the selected resource."
    ),
    417: (
        "The expectation given in the Expect request-header\n"
        "field could not be met by this server.\n"
    ),
    431: "A request header field or the header section\nexceeds this server's limit.\n",
    500: (
        "The server encountered an internal error or\n"
        "misconfiguration and was unable to complete\n"
        "your request."
    ),
    501: "The request method is not supported by this server.<br />\n",
    505: "The HTTP version of the request is not supported by this server.\n",
}


def reason(status: int) -> str:
    """The reason phrase for ``status`` ("Error" for a code HTTP does not name)."""
    phrase = _REASONS.get(status)
    if phrase is not None:
        return phrase
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def page(status: int, paragraph: str) -> bytes:
    """Apache's document for ``status`` with ``paragraph`` (HTML, already escaped)."""
    phrase = reason(status)
    return (
        '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n'
        f"<html><head>\n<title>{status} {phrase}</title>\n</head><body>\n"
        f"<h1>{phrase}</h1>\n<p>{paragraph}</p>\n</body></html>\n"
    ).encode("latin-1", "replace")


@lru_cache(maxsize=256)
def error_page(status: int, detail: str = "") -> bytes:
    """The canned page for ``status``, then ``detail`` (plain text: what is wrong,
    in HTTP's terms) as a sentence of its own.  Cached: details are the fixed
    texts of :class:`mpmd.http.errors.RemoteProtocolError`, a few per status."""
    sentence = _SENTENCES.get(status, "")
    if not detail:
        return page(status, sentence)
    note = f"{html.escape(detail[:1].upper() + detail[1:])}.\n"
    if sentence and not sentence.endswith("\n"):
        sentence += "\n"
    return page(status, sentence + note)


def page_headers(body: bytes) -> list[tuple[str, str]]:
    """The header fields that describe a page built here."""
    return [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))]
