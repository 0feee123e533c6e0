"""``wsgi.input`` as the WSGI adapter hands it to an application.

Responsible for telling a vanished client from a failing application: the
exchange's body stream raises ``OSError`` (a reset, a broken pipe) when the
client goes away mid-body, and the application usually lets it propagate.
:class:`ClientInput` notes such a failure on its owner before re-raising, so
the adapter passes it to the driver (which ends the connection quietly, as
for a failed write) instead of logging ``wsgi_app_failed`` and answering 500
to nobody.

Guarantees: bytes and exceptions pass through unchanged; ``owner.io_failed``
becomes true on the first ``OSError`` from the stream and never reverts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from mpmd.http.exchange import InputStream


class IOFailureFlag(Protocol):
    """Whoever must learn that the client's connection failed."""

    io_failed: bool


class ClientInput:
    """The request body (PEP 3333 ``wsgi.input``); a failed read flags ``owner``."""

    __slots__ = ("_owner", "_stream")

    def __init__(self, stream: InputStream, owner: IOFailureFlag) -> None:
        self._stream, self._owner = stream, owner

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._stream.read(size)
        except OSError:
            self._owner.io_failed = True
            raise

    def readline(self, size: int = -1, /) -> bytes:
        try:
            return self._stream.readline(size)
        except OSError:
            self._owner.io_failed = True
            raise

    def readlines(self, hint: int = -1, /) -> list[bytes]:
        try:
            return self._stream.readlines(hint)
        except OSError:
            self._owner.io_failed = True
            raise

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line
