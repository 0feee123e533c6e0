"""Binding the ``Listen`` addresses, once, in the master.

The master owns one listening socket per address and every child inherits it
across fork: a child that exits loses none of the connections queued on the
socket (unlike per-child ``SO_REUSEPORT`` sockets).  Sockets are non-blocking
because children wait for them in a poller.

Guarantees: a failure raises :class:`~mpmd.errors.StartupError` naming the
address, the reason and the ``Listen`` line (file and line) that asked for it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat

from mpmd.config.model import ListenAddress
from mpmd.errors import StartupError


def bind_all(addresses: tuple[ListenAddress, ...], backlog: int) -> tuple[socket.socket, ...]:
    """Bind and listen on every address, or close what was bound and raise."""
    bound: list[socket.socket] = []
    try:
        for address in addresses:
            bound.append(bind_one(address, backlog))
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return tuple(bound)


def bind_one(address: ListenAddress, backlog: int) -> socket.socket:
    if address.kind == "unix":
        return _bind_unix(address, backlog)
    return _bind_tcp(address, backlog)


def _bind_tcp(address: ListenAddress, backlog: int) -> socket.socket:
    family = address.family
    host = address.host or ("::" if family == socket.AF_INET6 else "0.0.0.0")
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # Apache binds v6 sockets v6-only so "Listen [::]:80" and
            # "Listen 0.0.0.0:80" can coexist.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, address.port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise StartupError(
            f"AH00072: make_sock: could not bind to address {address}: {exc.strerror}"
            f"{_written_at(address)}"
        ) from exc
    sock.setblocking(False)
    return sock


def _written_at(address: ListenAddress) -> str:
    """Which Listen line asked for ``address``, in the words of Apache's AH00526."""
    if address.where is None:  # e.g. an address systemd passed in
        return ""
    return f" (Listen on line {address.where.line} of {address.where.file})"


def _bind_unix(address: ListenAddress, backlog: int) -> socket.socket:
    try:
        return _bind_unix_path(address.path, backlog)
    except StartupError as exc:
        raise StartupError(f"{exc}{_written_at(address)}") from exc


def _bind_unix_path(path: str, backlog: int) -> socket.socket:
    _remove_stale_unix_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        # Like a file created under the process umask: rw for whom the
        # operator's umask allows, never executable.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(path, 0o666 & ~umask)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise StartupError(f"could not bind to unix:{path}: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock


def _remove_stale_unix_socket(path: str) -> None:
    """Unlink a socket file nobody listens on; refuse to touch anything else."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise StartupError(f"could not bind to unix:{path}: exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    finally:
        probe.close()
    raise StartupError(f"could not bind to unix:{path}: another server listens there")


def unlink_unix_sockets(addresses: tuple[ListenAddress, ...]) -> None:
    for address in addresses:
        if address.kind == "unix":
            unlink_path(address.path)


def unlink_path(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
