"""ASGI twins of the WSGI apps, for uvicorn's native (non-WSGI) mode.

``hello``, ``sleepy`` (``asyncio.sleep``: what an async user would write) and ``files``
answer exactly like their WSGI counterparts.
"""

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

BODY = b"Hello, World!"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "htdocs")


async def _answer(send: Send, body: bytes, ctype: bytes) -> None:
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def hello(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await _answer(send, BODY, b"text/plain")


async def sleepy(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await asyncio.sleep(0.05)
        await _answer(send, BODY, b"text/plain")


async def files(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = os.path.join(ROOT, os.path.basename(scope["path"]))
    with open(path, "rb") as f:
        body = f.read()
    await _answer(send, body, b"application/octet-stream")
