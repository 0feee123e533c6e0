"""mpmd itself as a server under test, one adapter per MPM.

Runs ``python -m mpmd -f CONF`` with the harness's own interpreter (``sys.executable``,
the repository on PYTHONPATH), never from the peers' virtualenv.  The configuration is
Apache syntax, generated in the server's private directory with the same settings as the
peers: 2 processes, 4 threads per child for worker and event.  An MPM that ``-t``
rejects is reported as not available.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Launch
from bench.servers import KEEPALIVE_S, PROCESSES, THREADS, App, Handle, Options
from bench.site import Site

REPO = Path(__file__).resolve().parents[1]

#: Flip to True once ``mpmd reload`` exists: the reload scenarios then include mpmd.
RELOAD_READY = True

CONF = """\
ServerRoot "{root}"
Listen 127.0.0.1:{port}
LoadModule mpm_{mpm}_module modules/mod_mpm_{mpm}.so
PidFile "{root}/mpmd.pid"
ErrorLog stderr
LogLevel warn
KeepAlive On
MaxKeepAliveRequests {keepalive_requests}
KeepAliveTimeout {keepalive}
<IfModule mpm_prefork_module>
    StartServers {procs}
    MinSpareServers {procs}
    MaxSpareServers {procs}
    MaxRequestWorkers {procs}
    ServerLimit {procs}
</IfModule>
<IfModule !mpm_prefork_module>
    StartServers {procs}
    ServerLimit {procs}
    ThreadsPerChild {threads}
    ThreadLimit {threads}
    MaxRequestWorkers {workers}
    MinSpareThreads 1
    MaxSpareThreads {workers}
</IfModule>
DocumentRoot "{htdocs}"
"""

APP = """\
WSGIApp {app}
WSGIPath "{path}"
WSGIPreload {preload}
"""


@dataclass(frozen=True)
class Mpmd:
    name: str
    mpm: str
    family: str = "mpmd"
    workers: int = PROCESSES
    respawns: bool = True
    reloads: bool = RELOAD_READY
    preloads: bool = True
    swap_to: str | None = None

    def unavailable(self, scratch: Path) -> str | None:
        root = scratch / f"check-{self.name}"
        (root / "htdocs").mkdir(parents=True, exist_ok=True)
        conf = self.write_conf(Site(root), root, 1, Options())
        argv = [*_command(), "-f", str(conf), "-t"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=_env())
        except subprocess.TimeoutExpired:
            return "`mpmd -t` timed out"
        if done.returncode == 0:
            return None
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        return f"not available: {lines[-1][:200]}"

    def serves(self, app: App) -> bool:
        return True

    def url(self, app: App, path: str) -> str:
        return path

    def launch(self, site: Site, root: Path, port: int, opts: Options) -> Launch:
        conf = self.write_conf(site, root, port, opts)
        return Launch((*_command(), "-f", str(conf)), root, _env())

    def write_conf(self, site: Site, root: Path, port: int, opts: Options, mpm: str = "") -> Path:
        text = CONF.format(
            root=root, port=port, mpm=mpm or self.mpm, keepalive=KEEPALIVE_S, procs=PROCESSES,
            threads=THREADS, workers=PROCESSES * THREADS, htdocs=site.htdocs,
            keepalive_requests=opts.keepalive_requests,
        )
        if not opts.app.static:  # mpmd serves DocumentRoot itself when no app is set
            preload = "On" if opts.preload else "Off"
            text += APP.format(app=opts.app.wsgi, path=site.root, preload=preload)
        conf = root / "mpmd.conf"
        conf.write_text(text)
        return conf

    def reload(self, handle: Handle) -> None:
        self._reload(handle)

    def reload_and_wait(self, handle: Handle, timeout: float) -> bool:
        """``mpmd reload`` is synchronous: True once the new generation serves."""
        try:
            return self._reload(handle).wait(timeout) == 0
        except subprocess.TimeoutExpired:
            return False

    def _reload(self, handle: Handle) -> subprocess.Popen[bytes]:
        conf = handle.root / "mpmd.conf"
        with open(handle.root / "reload.log", "ab") as log:  # `mpmd reload` says what it did
            return subprocess.Popen([*_command(), "-f", str(conf), "reload"], env=_env(),
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT)

    def swap(self, handle: Handle) -> None:
        self.write_conf(handle.site, handle.root, handle.port, handle.opts, self.swap_to or "")
        self.reload(handle)


def _command() -> list[str]:
    return [sys.executable, "-m", "mpmd"]


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), path) if p)}

