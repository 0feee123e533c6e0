"""Apache httpd 2.4 (Debian's package) with prefork, worker or event, serving static files.

Runs with its own generated configuration in the server's private directory
(ServerRoot, PidFile, ErrorLog, runtime dir there), ``-DFOREGROUND``, never the system
service.  2 processes; worker and event get 4 threads each.  mod_reqtimeout is loaded
because Debian enables it by default (and mpmd has RequestReadTimeout built in).
Graceful reload is SIGUSR1 (``apachectl -k graceful``).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Launch
from bench.servers import KEEPALIVE_S, PROCESSES, THREADS, App, Handle, Options
from bench.site import Site

BINARY = Path("/usr/sbin/apache2")
MODULES = Path("/usr/lib/apache2/modules")

CONF = """\
ServerRoot "{root}"
DefaultRuntimeDir "{root}/run"
PidFile "{root}/httpd.pid"
ErrorLog "{root}/error.log"
LogLevel warn
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
LoadModule mpm_{mpm}_module {modules}/mod_mpm_{mpm}.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule mime_module {modules}/mod_mime.so
LoadModule reqtimeout_module {modules}/mod_reqtimeout.so
User www-data
Group www-data
DocumentRoot "{htdocs}"
<Directory />
    AllowOverride None
    Require all granted
</Directory>
TypesConfig /etc/mime.types
AddType text/plain .txt
AddType application/octet-stream .bin
KeepAlive On
MaxKeepAliveRequests {keepalive_requests}
KeepAliveTimeout {keepalive}
<IfModule mpm_prefork_module>
    StartServers {procs}
    MinSpareServers {procs}
    MaxSpareServers {procs}
    ServerLimit {procs}
    MaxRequestWorkers {procs}
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
"""


@dataclass(frozen=True)
class Apache:
    """One Apache MPM; only static files (hello.txt stands for the hello app)."""

    name: str
    mpm: str
    family: str = "apache"
    workers: int = PROCESSES
    respawns: bool = True
    reloads: bool = True
    preloads: bool = False
    swap_to: str | None = None

    def unavailable(self, scratch: Path) -> str | None:
        if not BINARY.exists():
            return f"{BINARY} not installed"
        so = MODULES / f"mod_mpm_{self.mpm}.so"
        return None if so.exists() else f"{so} missing"

    def serves(self, app: App) -> bool:
        return app.static or app.name == "hello"

    def url(self, app: App, path: str) -> str:
        return "/hello.txt" if app.name == "hello" else path

    def launch(self, site: Site, root: Path, port: int, opts: Options) -> Launch:
        (root / "run").mkdir(exist_ok=True)
        self.write_conf(site, root, port, self.mpm, opts.keepalive_requests)
        conf = root / "httpd.conf"
        return Launch((str(BINARY), "-f", str(conf), "-DFOREGROUND"), root, {"LANG": "C"})

    def write_conf(
        self, site: Site, root: Path, port: int, mpm: str, keepalive_requests: int = 0
    ) -> None:
        text = CONF.format(
            root=root, port=port, mpm=mpm, modules=MODULES, htdocs=site.htdocs,
            keepalive=KEEPALIVE_S, procs=PROCESSES, threads=THREADS,
            workers=PROCESSES * THREADS, keepalive_requests=keepalive_requests,
        )
        (root / "httpd.conf").write_text(text)

    def reload(self, handle: Handle) -> None:
        handle.signal(signal.SIGUSR1)

    def swap(self, handle: Handle) -> None:
        # Apache refuses this ("The MPM cannot be changed during restart"); measured anyway.
        self.write_conf(handle.site, handle.root, handle.port, self.swap_to or "event",
                        handle.opts.keepalive_requests)
        handle.signal(signal.SIGUSR1)

