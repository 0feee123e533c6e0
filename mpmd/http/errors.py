"""Errors of the HTTP/1.1 layer.

Two kinds, as in h11: :class:`RemoteProtocolError` when the peer broke the
protocol (the driver answers with ``error_status_hint`` and closes), and
:class:`LocalProtocolError` when our own caller misused the API (a bug, or a
handler that wrote more than its Content-Length).  Both carry the status a
server should answer with, so a driver never has to guess.

The message of a :class:`RemoteProtocolError` is for the client (the error
page): it says what is wrong in HTTP's terms.  ``detail`` is for the error log
(llhttp's own wording, say); ``request_line`` is the request line as the client
sent it, when one was received, for the access log.
"""

from __future__ import annotations

from mpmd.errors import MpmdError


class ProtocolError(MpmdError):
    """Base of both kinds; ``error_status_hint`` is the HTTP status to answer with."""

    error_status_hint: int

    def __init__(self, message: str, error_status_hint: int = 400, *, detail: str = "") -> None:
        super().__init__(message)
        self.error_status_hint = error_status_hint
        self.detail = detail or message


class RemoteProtocolError(ProtocolError):
    """The client misbehaved: 400, 408, 413, 414, 417, 431, 501 or 505.

    After one of these the connection must close; the core refuses further
    events.
    """

    #: The request line as received (without its CRLF), if one was; set by the reader.
    request_line: bytes | None = None


class LocalProtocolError(ProtocolError):
    """The caller used the core wrongly (a move its state does not allow).

    The hint is 500: if nothing was sent yet, the honest answer is a server error.
    """

    def __init__(self, message: str, error_status_hint: int = 500) -> None:
        super().__init__(message, error_status_hint)
