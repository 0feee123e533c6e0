"""The smallest useful WSGI application: ``Hello, world!`` (13 bytes) for every request.

Serve it with ``WSGIPath examples`` and ``WSGIApp hello:app`` in
``config/mpmd.conf``, or with ``mpmd -f config/examples/hello.conf``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = b"Hello, world!"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """PEP 3333 application: a fixed plain-text body with its Content-Length."""
    start_response(
        "200 OK",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))],
    )
    return [BODY]
