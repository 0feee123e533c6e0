"""The Python peers: gunicorn (sync, gthread), uvicorn (ASGI, WSGI) and waitress.

All run from the bench virtualenv (bench.install), never from the project's own
environment.  Settings follow bench.servers: 2 processes, 4 threads per gthread worker,
keep-alive 30 s, no access log.  waitress has one process, so it gets 8 threads.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Launch
from bench.servers import KEEPALIVE_S, PROCESSES, THREADS, App, Handle, Options
from bench.site import Site

GUNICORN_CONF = """\
wsgi_app = {app!r}
bind = "127.0.0.1:{port}"
workers = {workers}
worker_class = {worker_class!r}
threads = {threads}
preload_app = {preload}
keepalive = {keepalive}
chdir = {chdir!r}
pidfile = {pidfile!r}
accesslog = None
errorlog = "-"
loglevel = "warning"
"""


@dataclass(frozen=True)
class Gunicorn:
    """gunicorn with one worker class; HUP is its graceful reload."""

    name: str
    worker_class: str
    venv_bin: Path
    family: str = "gunicorn"
    workers: int = PROCESSES
    respawns: bool = True
    reloads: bool = True
    preloads: bool = True
    swap_to: str | None = None

    def unavailable(self, scratch: Path) -> str | None:
        exe = self.venv_bin / "gunicorn"
        return None if exe.exists() else f"{exe} not installed"

    def serves(self, app: App) -> bool:
        return True

    def url(self, app: App, path: str) -> str:
        return path

    def launch(self, site: Site, root: Path, port: int, opts: Options) -> Launch:
        self.write_conf(site, root, port, opts, self.worker_class)
        argv = (str(self.venv_bin / "gunicorn"), "-c", str(root / "gunicorn.conf.py"))
        return Launch(argv, site.root, {"PYTHONPATH": str(site.root)})

    def write_conf(self, site: Site, root: Path, port: int, opts: Options, wclass: str) -> None:
        text = GUNICORN_CONF.format(
            app=opts.app.wsgi, port=port, workers=PROCESSES, worker_class=wclass,
            threads=THREADS if wclass == "gthread" else 1, preload=opts.preload,
            keepalive=KEEPALIVE_S, chdir=str(site.root), pidfile=str(root / "gunicorn.pid"),
        )
        (root / "gunicorn.conf.py").write_text(text)

    def reload(self, handle: Handle) -> None:
        handle.signal(signal.SIGHUP)

    def swap(self, handle: Handle) -> None:
        # gunicorn re-reads its config file on HUP, worker_class included.
        wclass = self.swap_to or "gthread"
        self.write_conf(handle.site, handle.root, handle.port, handle.opts, wclass)
        handle.signal(signal.SIGHUP)


@dataclass(frozen=True)
class Uvicorn:
    """uvicorn with httptools and uvloop, 2 worker processes (spawned, not forked)."""

    name: str
    interface: str  # "asgi3" (native) or "wsgi"
    venv_bin: Path
    family: str = "uvicorn"
    workers: int = PROCESSES
    respawns: bool = False
    reloads: bool = False
    preloads: bool = False
    swap_to: str | None = None

    def unavailable(self, scratch: Path) -> str | None:
        exe = self.venv_bin / "uvicorn"
        return None if exe.exists() else f"{exe} not installed"

    def serves(self, app: App) -> bool:
        return True

    def url(self, app: App, path: str) -> str:
        return path

    def launch(self, site: Site, root: Path, port: int, opts: Options) -> Launch:
        target = opts.app.asgi if self.interface == "asgi3" else opts.app.wsgi
        argv = (
            str(self.venv_bin / "uvicorn"), target, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(PROCESSES), "--http", "httptools", "--loop", "uvloop",
            "--interface", self.interface, "--timeout-keep-alive", str(KEEPALIVE_S),
            "--no-access-log", "--log-level", "warning", "--app-dir", str(site.root),
        )
        return Launch(argv, site.root)

    def reload(self, handle: Handle) -> None:
        raise NotImplementedError("uvicorn is not measured in the reload scenarios")

    def swap(self, handle: Handle) -> None:
        raise NotImplementedError("uvicorn has no MPM to swap")


@dataclass(frozen=True)
class Waitress:
    """waitress: one process, 8 threads (the same 8 threads as 2 x 4 elsewhere)."""

    name: str
    venv_bin: Path
    family: str = "waitress"
    workers: int = 0
    respawns: bool = False
    reloads: bool = False
    preloads: bool = False
    swap_to: str | None = None

    def unavailable(self, scratch: Path) -> str | None:
        exe = self.venv_bin / "waitress-serve"
        return None if exe.exists() else f"{exe} not installed"

    def serves(self, app: App) -> bool:
        return True

    def url(self, app: App, path: str) -> str:
        return path

    def launch(self, site: Site, root: Path, port: int, opts: Options) -> Launch:
        argv = (
            str(self.venv_bin / "waitress-serve"), f"--listen=127.0.0.1:{port}",
            f"--threads={PROCESSES * THREADS}", f"--channel-timeout={KEEPALIVE_S}",
            opts.app.wsgi,
        )
        return Launch(argv, site.root, {"PYTHONPATH": str(site.root)})

    def reload(self, handle: Handle) -> None:
        raise NotImplementedError("waitress has no graceful reload")

    def swap(self, handle: Handle) -> None:
        raise NotImplementedError("waitress has no MPM to swap")
