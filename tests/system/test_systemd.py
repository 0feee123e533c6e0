"""mpmd under systemd's protocols, with real processes: the unit files, socket
activation through ``systemd-socket-activate``, sd_notify to a real datagram
socket, journald priorities on a stream named by ``JOURNAL_STREAM``, and a
root master whose children serve as ``nobody``."""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from harness import REPO, Server, ServerSpec, mpmd_cli, wait_for

pytestmark = pytest.mark.slow

UNITS = REPO / "systemd"
INSTALLED_BINARY = "/usr/local/bin/mpmd"


def fetch(port: int, path: str = "/", timeout: float = 15) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return bytes(r.read())


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A world-traversable directory with a short path (sun_path holds 108 bytes;
    ``nobody`` must reach the application and the logs)."""
    path = Path(tempfile.mkdtemp(prefix="mpmd-sd-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- the unit files -------------------------------------------------------------


def unit_settings(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_units_verify_cleanly(tmp_path: Path) -> None:
    """``systemd-analyze verify`` checks that the commands exist: the units name
    the installed binary, so they are verified with it pointing at this
    interpreter running ``-m mpmd`` instead, the only change."""
    service = (UNITS / "mpmd.service").read_text()
    assert service.count(INSTALLED_BINARY) == 2  # ExecStart and ExecReload, nothing else
    local = service.replace(INSTALLED_BINARY, f"{sys.executable} -m mpmd")
    (tmp_path / "mpmd.service").write_text(local)
    shutil.copy(UNITS / "mpmd.socket", tmp_path / "mpmd.socket")
    units = [str(tmp_path / "mpmd.service"), str(tmp_path / "mpmd.socket")]
    done = subprocess.run(["systemd-analyze", "verify", *units],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_the_service_is_what_the_issue_asks_for() -> None:
    service = unit_settings("mpmd.service")
    assert service["Type"] == ["notify"]
    assert service["ExecStart"] == [f"{INSTALLED_BINARY} -f /etc/mpmd/mpmd.conf"]
    assert service["ExecReload"] == [f"{INSTALLED_BINARY} -f /etc/mpmd/mpmd.conf reload"]
    assert service["KillSignal"] == ["SIGWINCH"]  # mpmd's (Apache's) graceful stop
    assert service["KillMode"] == ["mixed"]
    assert service["RuntimeDirectory"] == ["mpmd"]
    assert "User" not in service  # the master must start as root to bind 80 and drop
    caps = set(service["CapabilityBoundingSet"][0].split())
    assert {"CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_KILL"} <= caps
    assert service["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    socket_unit = unit_settings("mpmd.socket")
    assert socket_unit["ListenStream"] == ["80"]
    assert socket_unit["FileDescriptorName"] == ["http"]


# -- socket activation ------------------------------------------------------------

ENV_APP = '''
import os

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [os.environ.get("LISTEN_FDS", "unset").encode()]
'''


def with_app(server: Server, text: str) -> None:
    (server.root / "app" / "hello.py").write_text(text)


@pytest.mark.skipif(shutil.which("systemd-socket-activate") is None,
                    reason="needs systemd-socket-activate")
def test_socket_activation(tmp_path: Path) -> None:
    """systemd-socket-activate binds the port and execs mpmd on the first
    connection: mpmd must serve on that socket (binding it itself would fail:
    the passed socket is still open) and keep it across a reload."""
    server = Server(tmp_path, ServerSpec(mpm="prefork", start_servers=1, min_spare=1))
    with_app(server, ENV_APP)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    server.stderr_path = tmp_path / "stderr.txt"
    with open(server.stderr_path, "wb") as err:
        server.proc = subprocess.Popen(
            # It passes on only the environment it is told to (-E).
            ["systemd-socket-activate", "-l", f"127.0.0.1:{server.port}", "--fdname=http",
             "-E", "PYTHONPATH", sys.executable, "-m", "mpmd", "-f", str(server.conf)],
            stdout=err, stderr=err, start_new_session=True, env=env, cwd=tmp_path)
    try:
        wait_for(server.try_connect, 10, "systemd-socket-activate to listen")
        # The first connection starts mpmd, which answers it from the queue.
        assert fetch(server.port) == b"unset"  # children never see LISTEN_FDS
        assert server.proc.poll() is None, server.stderr_text()
        done = mpmd_cli(server, "reload")
        assert done.returncode == 0, done.stderr
        assert fetch(server.port) == b"unset"
        server.signal(signal.SIGTERM)
        assert server.wait_exit() == 0
    finally:
        server.kill_group()


# -- sd_notify ------------------------------------------------------------------


class NotifyReceiver:
    """The service manager's end of NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.received: list[str] = []

    def wait(self, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        """The first message (not seen before) for which ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            for index, message in enumerate(self.received):
                if predicate(message):
                    del self.received[: index + 1]
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout} s; got {self.received}")
            self.sock.settimeout(remaining)
            try:
                self.received.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def close(self) -> None:
        self.sock.close()


def starts_with(prefix: str) -> Callable[[str], bool]:
    return lambda message: message.startswith(prefix)


def test_sd_notify_ready_reloading_watchdog_stopping(
    short_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = NotifyReceiver(short_dir / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", str(receiver.path))
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # a ping every 0.5 s
    server = Server(tmp_path, ServerSpec(mpm="prefork", start_servers=1, min_spare=1))
    try:
        server.start(wait=False)
        ready = receiver.wait(starts_with("READY=1"), 15, "READY=1")
        # READY only once children serve: freeze the whole server the moment
        # READY arrives; a child must already be accepting (an idle worker on
        # the scoreboard, not one still starting), and a request sent while
        # the master cannot fork is answered once the group runs again.
        os.killpg(server.pid, signal.SIGSTOP)
        try:
            status = mpmd_cli(server, "status", "--json", timeout=30)
            for child in server.children():  # the master stays stopped: it cannot fork
                os.kill(child.pid, signal.SIGCONT)
            answer = fetch(server.port, timeout=10)
        finally:
            os.killpg(server.pid, signal.SIGCONT)
        assert status.returncode == 0, status.stderr
        processes = json.loads(status.stdout)["processes"]
        assert any(p["idle"] >= 1 and not p["stopping"] for p in processes), processes
        assert answer == b"Hello, World!"
        assert "STATUS=" in ready
        receiver.wait(lambda m: m == "WATCHDOG=1", 5, "a watchdog ping")
        receiver.wait(lambda m: m == "WATCHDOG=1", 5, "a second watchdog ping")

        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        done = mpmd_cli(server, "reload")
        assert done.returncode == 0, done.stderr
        reloading = receiver.wait(starts_with("RELOADING=1"), 5, "RELOADING=1")
        stamp = re.search(r"^MONOTONIC_USEC=(\d+)$", reloading, re.M)
        assert stamp is not None, reloading  # in the same datagram
        assert before <= int(stamp[1]) <= time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        receiver.wait(starts_with("READY=1"), 5, "READY=1 after the reload")

        with socket.socket() as taken:  # a reload that fails in the server: cannot bind
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            server.spec.listen = [f"127.0.0.1:{server.port}",
                                  f"127.0.0.1:{taken.getsockname()[1]}"]
            server.conf.write_text(server.config_text())
            assert mpmd_cli(server, "reload").returncode != 0
        receiver.wait(starts_with("RELOADING=1"), 5, "RELOADING=1 (failing reload)")
        again = receiver.wait(starts_with("READY=1"), 5, "READY=1: the old generation serves")
        assert "reload failed" in again

        server.signal(signal.SIGWINCH)
        receiver.wait(starts_with("STOPPING=1"), 5, "STOPPING=1")
        assert server.wait_exit() == 0
    finally:
        server.kill_group()
        receiver.close()


# -- journald priorities ----------------------------------------------------------


def test_journal_priorities_on_the_journal_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Server(tmp_path, ServerSpec(mpm="prefork", start_servers=1, min_spare=1))
    text = server.conf.read_text().replace(f"ErrorLog {server.error_log}", "ErrorLog stderr")
    server.conf.write_text(text)
    stream = tmp_path / "stderr.txt"
    stream.touch()  # start() reopens it with O_TRUNC: same inode
    info = stream.stat()
    monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
    try:
        server.start()
        child = min(wait_for(server.child_pids, 10, "a child"))
        os.kill(child, signal.SIGKILL)  # an unexpected exit: a warning
        warning = re.compile(r'^<4>\{.*"event": "child_exited"', re.M)
        wait_for(lambda: warning.search(server.stderr_text()), 10,
                 "child_exited at warning priority")
        lines = [line for line in server.stderr_text().splitlines() if line]
        assert all(re.match(r"<[2-7]>\{", line) for line in lines), lines
        assert any(line.startswith("<6>") and '"server_started"' in line for line in lines)
    finally:
        server.kill_group()


# -- privileges ---------------------------------------------------------------------


def proc_ids(pid: int) -> dict[str, list[int]] | None:
    """Uid, Gid and Groups lines of /proc/PID/status (None once the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid", "Groups"):
            out[key] = [int(v) for v in value.split()]
    return out


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def unprivileged(pid: int, uid: int, gid: int) -> bool:
    """The process runs as uid/gid with no root group (or is gone)."""
    ids = proc_ids(pid)
    return ids is None or (ids["Uid"] == [uid] * 4 and ids["Gid"] == [gid] * 4
                           and 0 not in ids["Groups"])


def nobody_group() -> str:
    try:
        return grp.getgrnam("nogroup").gr_name
    except KeyError:
        return grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name


def port_80_free() -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", 80))
        except OSError:
            return False
    return True


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the master starts as root")
def test_children_serve_as_nobody_while_the_master_stays_root(
    short_dir: Path, mpm: str
) -> None:
    nobody = pwd.getpwnam("nobody")
    group = grp.getgrnam(nobody_group())
    server = Server(short_dir, ServerSpec(mpm=mpm, start_servers=2, min_spare=1,
                                          extra=f"User nobody\nGroup {group.gr_name}\n"))
    ports = [server.port] + ([80] if port_80_free() else [])
    server.spec.listen = [f"127.0.0.1:{port}" for port in ports]
    server.conf.write_text(server.config_text())
    try:
        server.start()
        for port in ports:
            assert fetch(port) == b"Hello, World!"
        served_by = int(fetch(server.port, "/pid"))
        assert unprivileged(served_by, nobody.pw_uid, group.gr_gid)
        assert proc_ids(served_by) is not None
        assert (proc_ids(server.pid) or {}).get("Uid") == [0, 0, 0, 0]
        # A child forked a moment ago may not have dropped yet: it must soon.
        wait_for(lambda: all(unprivileged(p, nobody.pw_uid, group.gr_gid)
                             for p in server.child_pids()),
                 5, "every child to run as nobody")
        wait_for(lambda: server.access_log.exists()
                 and server.access_log.read_text().count('"GET ') >= len(ports) + 1,
                 10, "the children's access log lines")
        assert server.access_log.stat().st_uid == nobody.pw_uid
        done = mpmd_cli(server, "reload")  # new children drop too
        assert done.returncode == 0, done.stderr
        assert fetch(server.port) == b"Hello, World!"
    finally:
        server.kill_group()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the master starts as root")
def test_a_busy_unprivileged_child_dies_with_its_master(short_dir: Path) -> None:
    """Changing ids clears PR_SET_PDEATHSIG (prctl(2)): the child must set it
    after the drop, or a child busy in a request outlives a killed master."""
    nobody = pwd.getpwnam("nobody")
    server = Server(short_dir, ServerSpec(mpm="prefork", start_servers=1, min_spare=1,
                                          extra="User nobody\n"))
    os.chown(server.root / "app", nobody.pw_uid, nobody.pw_gid)  # the /slow marker
    marker = server.root / "app" / "slow.started"
    try:
        server.start()
        client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        client.sendall(b"GET /slow?30 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(marker.exists, 10, "the request to reach the application")
        children = wait_for(server.child_pids, 5, "children")
        os.kill(server.pid, signal.SIGKILL)
        server.wait_exit()
        wait_for(lambda: all(map(gone, children)), 3, "the busy child to die with its master")
        client.close()
    finally:
        server.kill_group()
