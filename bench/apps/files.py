"""A WSGI app serving files of htdocs/ with ``wsgi.file_wrapper`` (sendfile where offered).

What a WSGI-only server does for static files; only the base name of the path is used,
so nothing outside htdocs/ can be reached.
"""

import os
from collections.abc import Callable, Iterable
from typing import Any

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "htdocs")
BLOCK = 65536


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    name = os.path.basename(environ.get("PATH_INFO", ""))
    path = os.path.join(ROOT, name)
    if not name or not os.path.isfile(path):
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]
    f = open(path, "rb")  # noqa: SIM115  (the server closes it through the iterable)
    size = os.fstat(f.fileno()).st_size
    start_response(
        "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))]
    )
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(f, BLOCK)  # type: ignore[no-any-return]
    return _chunks(f)


def _chunks(f: Any) -> Iterable[bytes]:
    with f:
        yield from iter(lambda: f.read(BLOCK), b"")
