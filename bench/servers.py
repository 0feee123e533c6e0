"""The server-under-test interface and the running-server handle.

A :class:`Server` turns (site, private directory, port, options) into a
:class:`~bench.procs.Launch`; :func:`running` starts it in its own process group, waits
until the port answers and the expected worker processes exist, and always stops the
group.  Equivalent settings everywhere: 2 processes, 4 threads each where the model has
threads, keep-alive timeout 30 s, unlimited keep-alive requests, no access log.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench import probe
from bench.procs import BenchError, Groups, Launch, children, free_port, wait_until
from bench.site import Site

PROCESSES = 2
THREADS = 4
KEEPALIVE_S = 30
START_DEADLINE_S = 30.0


@dataclass(frozen=True)
class App:
    """One application, as each kind of server names it."""

    name: str
    wsgi: str
    asgi: str
    static: bool = False  # servers with a native file handler serve htdocs/ instead


HELLO = App("hello", "hello:app", "asgi_apps:hello")
SLEEPY = App("sleepy", "sleepy:app", "asgi_apps:sleepy")
FILES = App("files", "files:app", "asgi_apps:files", static=True)
BIG = App("big", "bigapp:app", "asgi_big:hello")


@dataclass(frozen=True)
class Options:
    app: App = HELLO
    preload: bool = False
    # requests per keep-alive connection where the server has the knob (Apache's
    # MaxKeepAliveRequests); 0 = unlimited, the load scenarios' setting
    keepalive_requests: int = 0


class Server(Protocol):
    """A server under test (mpmd with one MPM, gunicorn sync, Apache event ...)."""

    @property
    def name(self) -> str: ...

    @property
    def family(self) -> str: ...

    @property
    def workers(self) -> int:
        """Processes expected under the master; 0 = single process."""

    @property
    def respawns(self) -> bool:
        """Replaces a killed worker (the respawn scenario)."""

    @property
    def reloads(self) -> bool:
        """Graceful reload is implemented (the reload scenarios)."""

    @property
    def preloads(self) -> bool:
        """Has an import-once-then-fork switch."""

    @property
    def swap_to(self) -> str | None:
        """The "event-like" model a reload can swap to, if any."""

    def unavailable(self, scratch: Path) -> str | None:
        """Why this server cannot run here, or None."""

    def serves(self, app: App) -> bool: ...

    def url(self, app: App, path: str) -> str: ...

    def launch(self, site: Site, root: Path, port: int, opts: Options) -> Launch: ...

    def reload(self, handle: Handle) -> None:
        """Ask for a graceful reload (returns without waiting)."""

    def swap(self, handle: Handle) -> None:
        """Rewrite the configuration to ``swap_to`` and reload gracefully."""


@dataclass
class Handle:
    server: Server
    port: int
    proc: subprocess.Popen[bytes]
    root: Path
    site: Site
    opts: Options
    notes: list[str] = field(default_factory=list)

    @property
    def pgid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)


def launch(groups: Groups, server: Server, site: Site, root: Path, opts: Options) -> Handle:
    """Start ``server`` in its own process group (the caller stops it: ``groups.stop``)."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    port = free_port()
    proc = groups.start(server.launch(site, root, port, opts), root / "server.log")
    return Handle(server, port, proc, root, site, opts)


@contextmanager
def running(groups: Groups, server: Server, site: Site, root: Path, opts: Options) -> Iterator[
    Handle
]:
    """Start ``server``, wait until it serves, yield it, always stop its group."""
    handle = launch(groups, server, site, root, opts)
    try:
        wait_ready(handle)
        yield handle
    finally:
        groups.stop(handle.pgid)


def wait_ready(handle: Handle) -> None:
    """Return once the server answers and has its workers; raise BenchError if not."""
    path = handle.server.url(handle.opts.app, "/" if not handle.opts.app.static else "/10k.bin")
    serving = wait_until(
        lambda: not handle.alive() or probe.get(handle.port, path).ok, START_DEADLINE_S, 0.02
    )
    if not serving or not handle.alive():
        raise BenchError(f"{handle.server.name} did not serve {path}: {log_tail(handle)}")
    want = handle.server.workers
    if not wait_until(lambda: len(children(handle.pgid)) >= want, START_DEADLINE_S):
        raise BenchError(f"{handle.server.name}: fewer than {want} workers: {log_tail(handle)}")


def log_tail(handle: Handle, size: int = 800) -> str:
    try:
        return (handle.root / "server.log").read_text(errors="replace")[-size:]
    except OSError:
        return "(no log)"
