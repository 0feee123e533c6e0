"""The control socket: CLI verbs as line-delimited JSON over a Unix socket.

A client connects, sends one line ``{"command": "reload"}`` and reads one
line back: ``{"ok": true, "message": "...", "generation": 2}``.  The master
answers a ``reload`` only once the new generation serves (or failed), which
is what makes ``mpmd reload`` synchronous.  The socket is created mode 0600:
only its owner (the user that started the master) may command the server.

Everything is non-blocking and driven by the master's ``select`` loop; a
client that sends garbage or nothing gets an error or is dropped, and can
never stall the master.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from mpmd.errors import StartupError

COMMANDS = frozenset({"reload", "restart", "stop", "graceful-stop", "ping"})
MAX_LINE = 4096


@dataclass(eq=False)
class ControlRequest:
    command: str
    conn: socket.socket
    args: dict[str, Any] = field(default_factory=dict)


class ControlServer:
    """The master's end of the control socket."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # stale: the PidFile check already ruled out a live master
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # created 0600, with no window of wider access
        try:
            self._sock.bind(path)
        except OSError as exc:
            self._sock.close()
            raise StartupError(f"could not create control socket {path}: {exc.strerror}") from exc
        finally:
            os.umask(old_umask)
        self._sock.listen(16)
        self._sock.setblocking(False)
        self._clients: dict[socket.socket, bytearray] = {}

    def sockets(self) -> list[socket.socket]:
        return [self._sock, *self._clients]

    def private_fds(self) -> tuple[int, ...]:
        return (self._sock.fileno(), *(c.fileno() for c in self._clients))

    def handle(self, readable: list[Any]) -> list[ControlRequest]:
        """Accept and read what is ready; complete requests come back."""
        requests: list[ControlRequest] = []
        for sock in readable:
            if sock is self._sock:
                self._accept()
            elif sock in self._clients:
                request = self._read(sock)
                if request is not None:
                    requests.append(request)
        return requests

    def reply(self, request: ControlRequest, ok: bool, message: str, **data: Any) -> None:
        payload = json.dumps({"ok": ok, "message": message, **data}).encode() + b"\n"
        with contextlib.suppress(OSError):
            request.conn.setblocking(True)
            request.conn.settimeout(1.0)  # a client that does not read loses its answer
            request.conn.sendall(payload)
        request.conn.close()

    def close(self) -> None:
        for conn in list(self._clients):
            conn.close()
        self._clients.clear()
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _accept(self) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            conn, _ = self._sock.accept()
            conn.setblocking(False)
            self._clients[conn] = bytearray()

    def _read(self, conn: socket.socket) -> ControlRequest | None:
        try:
            data = conn.recv(MAX_LINE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            data = b""
        buffer = self._clients[conn]
        buffer += data
        if b"\n" not in buffer and data and len(buffer) < MAX_LINE:
            return None
        del self._clients[conn]
        return self._parse(conn, bytes(buffer).split(b"\n", 1)[0])

    def _parse(self, conn: socket.socket, line: bytes) -> ControlRequest | None:
        try:
            message = json.loads(line)
            command = message["command"]
        except (ValueError, KeyError, TypeError):
            self.reply(ControlRequest("", conn), False, "malformed request")
            return None
        if command not in COMMANDS:
            self.reply(ControlRequest(command, conn), False, f"unknown command {command!r}")
            return None
        args = {k: v for k, v in message.items() if k != "command"}
        return ControlRequest(command, conn, args)


def default_path(pid_file: str) -> str:
    """Next to the PidFile: ``run/mpmd.pid`` -> ``run/mpmd.ctl``."""
    base, _ = os.path.splitext(pid_file)
    return base + ".ctl"


def send_command(path: str, command: str, timeout: float) -> dict[str, Any]:
    """The client side: one request, one answer (raises OSError/ValueError)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(json.dumps({"command": command}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(MAX_LINE)
            if not chunk:
                break
            data += chunk
    answer: dict[str, Any] = json.loads(data)
    return answer
