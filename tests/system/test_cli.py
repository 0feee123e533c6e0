"""httpd's command line, on a real server: ``-v -V -l -M -D``, ``-k
start|restart|graceful|graceful-stop`` and the verbs ``restart``, ``stop``,
``graceful-stop``, ``configtest`` — under every MPM where the MPM matters.

Expected behaviour is httpd's (``httpd -h``, the ``-k`` section of the httpd
manual, "Stopping and Restarting Apache HTTP Server"): ``restart`` (HUP)
stops the children at once and starts a new generation, ``graceful`` (USR1)
lets them finish what they serve, ``graceful-stop`` (WINCH) lets them finish
and then exits, ``stop`` (TERM) exits now; ``-t``/``configtest`` print
"Syntax OK".  README and DESIGN.md add mpmd's: ``stop``/``graceful-stop``
return once the master is gone, ``restart`` once the new generation serves.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import psutil
import pytest
from harness import REPO, Server, ServerSpec, mpmd_cli, wait_for

pytestmark = pytest.mark.slow

MPMS = ("prefork", "worker", "event")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "mpmd", *args], capture_output=True,
                          text=True, env=env, timeout=60, cwd=cwd)


def get(server: Server, path: str, timeout: float = 20) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().read()
    finally:
        conn.close()


class InFlight:
    """``GET /slow?seconds`` held in the application while a command runs."""

    def __init__(self, server: Server, seconds: float) -> None:
        self.result: list[bytes | str] = []
        marker = server.root / "app" / "slow.started"
        marker.unlink(missing_ok=True)

        def run() -> None:
            try:
                self.result.append(get(server, f"/slow?{seconds}"))
            except (OSError, http.client.HTTPException) as exc:
                self.result.append(type(exc).__name__)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        wait_for(marker.exists, 10, "the request to reach the application")

    def outcome(self, timeout: float = 20) -> bytes | str:
        self.thread.join(timeout)
        assert self.result, "the request never ended"
        return self.result[0]


# -- information switches -------------------------------------------------------


def test_v_prints_the_server_version() -> None:
    done = cli("-v")
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == f"Server version: mpmd/{version('mpmd')}"


def test_l_lists_the_compiled_in_modules_and_every_mpm() -> None:
    done = cli("-l")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == "Compiled in modules:"
    for mpm in MPMS:
        assert any(line.split()[0] == f"mpm_{mpm}_module" for line in lines[1:]), lines


@pytest.mark.parametrize("mpm", MPMS)
def test_v_upper_and_m_name_the_loaded_mpm(tmp_path: Path, mpm: str) -> None:
    server = Server(tmp_path, ServerSpec(mpm=mpm))  # configured, never started
    settings = mpmd_cli(server, "-V")
    assert settings.returncode == 0, settings.stderr
    # httpd -V: "Server MPM:     event", then its threaded/forked lines
    rows = {k.strip(): v.strip() for k, _, v in
            (line.partition(":") for line in settings.stdout.splitlines()) if v}
    assert rows["Server MPM"] == mpm
    assert rows["threaded"] == ("no" if mpm == "prefork" else "yes (fixed thread count)")
    assert rows["forked"] == "yes (variable process count)"
    assert rows["chosen by"].startswith("LoadModule")
    modules = mpmd_cli(server, "-M")
    assert modules.returncode == 0, modules.stderr
    lines = modules.stdout.splitlines()
    assert lines[0] == "Loaded Modules:"
    mpm_lines = [line.strip() for line in lines[1:] if line.strip().startswith("mpm_")]
    assert mpm_lines == [f"mpm_{mpm}_module (shared)"]  # exactly the one loaded


def test_v_upper_without_loadmodule_says_platform_default(tmp_path: Path) -> None:
    conf = tmp_path / "mpmd.conf"
    conf.write_text(f'ServerRoot "{tmp_path}"\nListen 127.0.0.1:8080\n')
    done = cli("-f", str(conf), "-V")
    assert done.returncode == 0, done.stderr
    # docs/configuration.md: none selects the platform default (event on Linux)
    assert "Server MPM:     event" in done.stdout
    assert "platform default" in done.stdout


DEFINE_CONF = """
<IfDefine USE_{upper}>
    LoadModule mpm_{mpm}_module modules/mod_mpm_{mpm}.so
</IfDefine>
<IfDefine !USE_{upper}>
    LoadModule mpm_{other}_module modules/mod_mpm_{other}.so
</IfDefine>
"""


def with_define_sections(server: Server, mpm: str) -> None:
    """Rewrite the config so that only ``-D USE_<MPM>`` loads ``mpm``."""
    other = "worker" if mpm == "prefork" else "prefork"
    text = server.config_text()
    load = f"LoadModule mpm_{mpm}_module modules/mod_mpm_{mpm}.so\n"
    sections = DEFINE_CONF.format(upper=mpm.upper(), mpm=mpm, other=other)
    server.conf.write_text(text.replace(load, sections))


@pytest.mark.parametrize("mpm", MPMS)
def test_d_defines_a_name_for_ifdefine(make_server: Callable[..., Server], mpm: str) -> None:
    server = make_server(mpm=mpm, start=False)
    with_define_sections(server, mpm)
    define = ("-D", f"USE_{mpm.upper()}")
    assert f"Server MPM:     {mpm}\n" in mpmd_cli(server, *define, "-V").stdout
    assert f"Server MPM:     {mpm}\n" not in mpmd_cli(server, "-V").stdout
    server.start(*define)
    wait_for(lambda: all(f"mpmd: {mpm} child" in t for t in server.child_titles())
                         and server.children(),
             10, f"{mpm} children")


# -- -k and the verbs -----------------------------------------------------------


def test_k_start_runs_the_server_and_refuses_a_second(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm, args=("-k", "start"))
    assert get(server, "/") == b"Hello, World!"
    again = mpmd_cli(server, "-k", "start")
    assert again.returncode == 1
    assert f"mpmd (pid {server.pid}) already running" in again.stderr


def test_k_graceful_lets_in_flight_requests_finish(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm)
    slow = InFlight(server, 1)
    done = mpmd_cli(server, "-k", "graceful")
    assert done.returncode == 0, done.stderr
    assert slow.outcome() == b"Hello, World!"
    wait_for(lambda: server.generations() == {2}, 15, "generation 2 only")


@pytest.mark.parametrize("how", [("restart",), ("-k", "restart")])
def test_restart_stops_the_children_now_and_serves_a_new_generation(
    make_server: Callable[..., Server], mpm: str, how: tuple[str, ...]
) -> None:
    server = make_server(mpm=mpm)
    old = server.child_pids()
    slow = InFlight(server, 30)
    done = mpmd_cli(server, *how)
    assert done.returncode == 0, done.stderr
    # returns once the new generation serves, the in-flight request cut short
    assert server.try_connect()
    assert isinstance(slow.outcome(10), str)
    wait_for(lambda: server.generations() == {2}, 15, "generation 2 only")
    assert not old & server.child_pids()
    assert get(server, "/") == b"Hello, World!"
    [event] = server.events("reload_requested")
    assert event["graceful"] is False


@pytest.mark.parametrize("how", [("graceful-stop",), ("-k", "graceful-stop")])
def test_graceful_stop_finishes_requests_and_returns_when_the_master_is_gone(
    make_server: Callable[..., Server], mpm: str, how: tuple[str, ...]
) -> None:
    server = make_server(mpm=mpm)
    slow = InFlight(server, 1)
    done = mpmd_cli(server, *how)
    assert done.returncode == 0, done.stderr
    assert slow.outcome() == b"Hello, World!"
    assert not psutil.pid_exists(server.pid) or \
        psutil.Process(server.pid).status() == psutil.STATUS_ZOMBIE
    assert server.wait_exit(5) == 0
    assert not server.try_connect()


def test_stop_verb_returns_when_the_master_is_gone(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm)
    slow = InFlight(server, 30)
    done = mpmd_cli(server, "stop")
    assert done.returncode == 0, done.stderr
    assert not psutil.pid_exists(server.pid) or \
        psutil.Process(server.pid).status() == psutil.STATUS_ZOMBIE
    assert server.wait_exit(5) == 0
    assert isinstance(slow.outcome(10), str)  # stopped, not finished
    assert not server.pid_file.exists()
    again = mpmd_cli(server, "stop")
    assert again.returncode == 1 and "mpmd (no pid file) not running" in again.stderr


def test_configtest_says_syntax_ok_or_names_the_line(tmp_path: Path) -> None:
    conf = tmp_path / "mpmd.conf"
    conf.write_text(f'ServerRoot "{tmp_path}"\nListen 127.0.0.1:8080\n'
                    "LoadModule mpm_event_module modules/mod_mpm_event.so\n")
    for args in (("configtest",), ("-t",)):
        done = cli("-f", str(conf), *args)
        assert (done.returncode, done.stderr.splitlines()[-1]) == (0, "Syntax OK"), done.stderr
    conf.write_text(conf.read_text() + "KeepAlive maybe\n")
    done = cli("-f", str(conf), "configtest")
    assert done.returncode == 1
    assert f"AH00526: Syntax error on line 4 of {conf}:" in done.stderr
    assert "Syntax OK" not in done.stderr
