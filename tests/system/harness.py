"""Running the real ``mpmd`` in its own process group, for system tests.

Every server is started with ``start_new_session=True`` and always ends with
a SIGKILL to its whole process group, whatever the test did; waits are on
conditions with deadlines.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[2]
# The MPMs under test, listed here rather than taken from mpmd's registry:
# dropping an MPM from the code under test must fail its tests, not remove them.
MPMS = ("prefork", "worker", "event")
HELLO_APP = '''
import time

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/slow":
        import os
        # a marker tests can wait on: the request is in the application now
        open(os.path.join(os.path.dirname(__file__), "slow.started"), "w").close()
        time.sleep(float(environ.get("QUERY_STRING") or 1.5))
    if path == "/pid":
        import os
        body = str(os.getpid()).encode()
    elif path == "/echo":
        body = environ["wsgi.input"].read()
    elif path == "/boom":
        raise RuntimeError("boom")
    elif path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"part%d\\n" % i for i in range(5))
    else:
        body = b"Hello, World!"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
'''

MPM_TUNING = """
<IfModule mpm_prefork_module>
    StartServers {start}
    MinSpareServers {min_spare}
    MaxSpareServers {max_spare}
    ServerLimit {server_limit}
    MaxRequestWorkers {server_limit}
    MaxConnectionsPerChild {max_conn}
</IfModule>
<IfModule mpm_worker_module>
    StartServers {start}
    ServerLimit {server_limit}
    ThreadsPerChild 4
    ThreadLimit 4
    MinSpareThreads {min_spare_threads}
    MaxSpareThreads {max_spare_threads}
    MaxRequestWorkers {max_workers}
    MaxConnectionsPerChild {max_conn}
</IfModule>
<IfModule mpm_event_module>
    StartServers {start}
    ServerLimit {server_limit}
    ThreadsPerChild 4
    ThreadLimit 4
    MinSpareThreads {min_spare_threads}
    MaxSpareThreads {max_spare_threads}
    MaxRequestWorkers {max_workers}
    MaxConnectionsPerChild {max_conn}
</IfModule>
"""


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


@dataclass
class ServerSpec:
    mpm: str = "prefork"
    start_servers: int = 2
    min_spare: int = 1
    max_spare: int = 3
    server_limit: int = 8
    max_conn: int = 0
    min_spare_threads: int = 1
    max_spare_threads: int = 8
    wsgi: bool = True
    extra: str = ""
    listen: list[str] = field(default_factory=list)
    # the module written as app/hello.py and served as ``hello:app``
    app_source: str = HELLO_APP


class Server:
    """One ``mpmd`` under test."""

    def __init__(self, root: Path, spec: ServerSpec) -> None:
        self.root = root
        self.spec = spec
        self.port = free_port()
        self.conf = root / "mpmd.conf"
        self.error_log = root / "logs" / "error.log"
        self.access_log = root / "logs" / "access.log"
        self.pid_file = root / "run" / "mpmd.pid"
        self.proc: subprocess.Popen[bytes] | None = None
        self._write_files()

    def _write_files(self) -> None:
        (self.root / "htdocs").mkdir(parents=True, exist_ok=True)
        (self.root / "htdocs" / "index.html").write_text("<h1>It works!</h1>\n")
        (self.root / "app").mkdir(exist_ok=True)
        (self.root / "app" / "hello.py").write_text(self.spec.app_source)
        self.conf.write_text(self.config_text())

    def config_text(self, mpm: str | None = None) -> str:
        spec = self.spec
        listens = spec.listen or [f"127.0.0.1:{self.port}"]
        wsgi = f"WSGIApp hello:app\nWSGIPath {self.root / 'app'}\n" if spec.wsgi else ""
        tuning = MPM_TUNING.format(
            start=spec.start_servers, min_spare=spec.min_spare, max_spare=spec.max_spare,
            server_limit=spec.server_limit, max_conn=spec.max_conn,
            min_spare_threads=spec.min_spare_threads, max_spare_threads=spec.max_spare_threads,
            max_workers=spec.server_limit * 4,
        )
        return (
            f'ServerRoot "{self.root}"\n'
            + "".join(f"Listen {addr}\n" for addr in listens)
            + f"LoadModule mpm_{mpm or spec.mpm}_module modules/mod_mpm_{mpm or spec.mpm}.so\n"
            f"PidFile {self.pid_file}\n"
            f"ErrorLog {self.error_log}\n"
            "LogLevel debug\n"
            f"CustomLog {self.access_log} combined\n"
            f"DocumentRoot {self.root / 'htdocs'}\n"
            "KeepAliveTimeout 2\n"
            f"{wsgi}{tuning}{spec.extra}\n"
        )

    # -- process control ------------------------------------------------------

    def start(self, *args: str, wait: bool = True) -> Server:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.stdout = open(self.root / "stdout.txt", "wb")  # noqa: SIM115
        self.stderr_path = self.root / "stderr.txt"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mpmd", "-f", str(self.conf), *args],
            stdout=self.stdout,
            stderr=open(self.stderr_path, "wb"),  # noqa: SIM115
            start_new_session=True,
            env=env,
            cwd=self.root,
        )
        if wait:
            self.wait_serving()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def wait_serving(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"mpmd exited {self.proc.returncode}: {self.stderr_text()}")
            return self.try_connect()

        wait_for(ready, timeout, "mpmd to accept connections")

    def try_connect(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return []

    def child_titles(self) -> list[str]:
        """Process titles of the live children (one that exits meanwhile, a
        zombie, has none and is left out)."""
        titles = []
        for child in self.children():
            with contextlib.suppress(psutil.Error):
                titles.append(" ".join(child.cmdline()))
        return titles

    def generations(self) -> set[int]:
        """Generations of the live children, from their process titles."""
        return {int(t.split("[generation ")[1].split(",")[0])
                for t in self.child_titles() if "[generation " in t}

    def child_pids(self) -> set[int]:
        out = set()
        for child in self.children():
            with contextlib.suppress(psutil.Error):
                if child.status() != psutil.STATUS_ZOMBIE:
                    out.add(child.pid)
        return out

    def group_pids(self) -> set[int]:
        """Every live process in the server's process group."""
        out = set()
        for p in psutil.process_iter(["pid", "status"]):
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                if os.getpgid(p.pid) == self.pid and p.info["status"] != psutil.STATUS_ZOMBIE:
                    out.add(p.pid)
        return out

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait_exit(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)

    # -- logs -----------------------------------------------------------------

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The error log's events (all, or those named ``name``).

        Every complete line must be one JSON object: a line that is not (a
        Python warning, a traceback, a changed log format) fails the test
        instead of being skipped, so "no such event" can never pass because
        the events stopped being readable.  Only a last line still being
        written (no newline yet) is left for the next read.
        """
        if not self.error_log.exists():
            return []
        text = self.error_log.read_text(errors="replace")
        out = []
        for number, line in enumerate(text.split("\n")[:-1], start=1):
            event = parse_event(line, f"{self.error_log}:{number}")
            if name is None or event.get("event") == name:
                out.append(event)
        return out

    def wait_event(self, name: str, timeout: float = 10.0, count: int = 1) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = wait_for(
            lambda: (ev if len(ev := self.events(name)) >= count else None),
            timeout, f"{count} x event {name}",
        )
        return events


def parse_event(line: str, where: str) -> dict[str, Any]:
    """One error-log line as an event; AssertionError if it is not one."""
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise AssertionError(f"{where} is not a JSON log event: {line[:300]!r}")
    return event


@contextlib.contextmanager
def running(root: Path, spec: ServerSpec, *args: str) -> Iterator[Server]:
    server = Server(root, spec)
    try:
        server.start(*args)
        yield server
    finally:
        server.kill_group()
    server.events()  # the error log must be JSON lines, read or not


class LoadGen:
    """Clients that keep requesting (keep-alive, reconnecting when the server
    closes) until stopped, counting every failure.  Bounded in time."""

    def __init__(self, server: Server, clients: int = 4, path: str = "/",
                 max_seconds: float = 120.0) -> None:
        import threading

        self.server, self.path = server, path
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._deadline = time.monotonic() + max_seconds
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, daemon=True)
                         for _ in range(clients)]

    def __enter__(self) -> LoadGen:
        for t in self._threads:
            t.start()
        wait_for(lambda: self.ok >= 10, 10, "the load to get going")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)

    def _client(self) -> None:
        import http.client

        conn = None
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
                conn.request("GET", self.path)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"status {resp.status}: {body[:100]!r}")
                with self._lock:
                    self.ok += 1
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as exc:  # every failure counts
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                if conn is not None:
                    conn.close()
                conn = None

    def snapshot(self) -> int:
        with self._lock:
            return self.ok


def mpmd_cli(server: Server, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "mpmd", "-f", str(server.conf), *args],
                          capture_output=True, text=True, env=env, timeout=timeout)
