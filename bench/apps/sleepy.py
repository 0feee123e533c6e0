"""A WSGI app that blocks 50 ms (a database call, say) and answers like hello."""

import time
from collections.abc import Callable, Iterable
from typing import Any

from hello import app as hello_app

DELAY_S = 0.05


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    time.sleep(DELAY_S)
    body: Iterable[bytes] = hello_app(environ, start_response)
    return body
