"""One plain HTTP/1.1 request on a fresh loopback connection, timed.

Used to tell that a server answers (readiness, after a child was killed) and as the
"normal client" beside slow or idle clients.  Never raises for network trouble: a
failure is a result.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

MAX_RESPONSE = 4 * 1024 * 1024


@dataclass(frozen=True)
class Probe:
    ok: bool
    status: int
    seconds: float
    error: str = ""


def get(port: int, path: str = "/", timeout_s: float = 2.0) -> Probe:
    """GET ``path`` with ``Connection: close`` and read the whole response."""
    start = time.monotonic()
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.settimeout(max(0.001, timeout_s - (time.monotonic() - start)))
            sock.sendall(request)
            data = _read_all(sock, start + timeout_s)
    except OSError as exc:
        return Probe(False, 0, time.monotonic() - start, type(exc).__name__)
    status = _status(data)
    return Probe(200 <= status < 400, status, time.monotonic() - start)


def _read_all(sock: socket.socket, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < MAX_RESPONSE:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _status(data: bytes) -> int:
    parts = data.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return 0
    return int(parts[1])


def wait_serving(port: int, path: str, deadline_s: float) -> bool:
    """True once a GET of ``path`` succeeds, False after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if get(port, path, timeout_s=min(2.0, max(0.05, end - time.monotonic()))).ok:
            return True
        time.sleep(0.02)
    return False
