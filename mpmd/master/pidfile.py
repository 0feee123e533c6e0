"""The PidFile: written atomically, removed on exit, read by ``-k`` verbs.

Atomic write (temporary file + ``rename``) so a reader never sees a partial
pid.  A PidFile naming a live process that is not us means another server
runs with this configuration.
"""

from __future__ import annotations

import contextlib
import os

import psutil

from mpmd.errors import StartupError


def read_pid(path: str) -> int | None:
    """The pid in ``path``, or None when there is no usable file."""
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip() or 0) or None
    except (FileNotFoundError, ValueError):
        return None


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs; an exited process its parent has not reaped yet
    (a zombie) does not count."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def write_pidfile(path: str, pid: int) -> None:
    old = read_pid(path)
    if old and old != pid and process_alive(old):
        raise StartupError(f"mpmd (pid {old}) already running (PidFile {path})")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{pid}.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{pid}\n")
    os.replace(tmp, path)


def remove_pidfile(path: str, pid: int) -> None:
    """Remove ``path`` if it still names ``pid`` (never another server's file)."""
    if read_pid(path) == pid:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
