"""CLI verbs that act on a running server, found through its PidFile.

Messages follow httpd's ``-k`` ones ("httpd (no pid file) not running",
"httpd (pid N?) not running", "httpd (pid N) already running") with mpmd's
name.  ``stop`` and ``graceful-stop`` wait (bounded) until the master is gone,
so a script can rely on the port being free afterwards.
"""

from __future__ import annotations

import os
import signal
import time

from mpmd.config.model import ServerConfig
from mpmd.errors import ControlError
from mpmd.master.pidfile import process_alive, read_pid

VERB_SIGNALS: dict[str, signal.Signals] = {
    "stop": signal.SIGTERM,
    "graceful-stop": signal.SIGWINCH,
    "restart": signal.SIGHUP,
    "graceful": signal.SIGUSR1,
    "reload": signal.SIGUSR1,
}
WAIT_FOR_EXIT = {"stop": 15.0, "graceful-stop": None}


def running_pid(config: ServerConfig) -> int:
    """The master's pid, or ControlError with httpd's wording."""
    if not config.pid_file:
        raise ControlError("no PidFile configured; cannot find the running server")
    pid = read_pid(config.pid_file)
    if pid is None:
        raise ControlError("mpmd (no pid file) not running")
    if not process_alive(pid):
        raise ControlError(f"mpmd (pid {pid}?) not running")
    return pid


def refuse_if_running(config: ServerConfig) -> None:
    pid = read_pid(config.pid_file) if config.pid_file else None
    if pid is not None and process_alive(pid):
        raise ControlError(f"mpmd (pid {pid}) already running")


def send_verb(config: ServerConfig, verb: str) -> int:
    pid = running_pid(config)
    os.kill(pid, VERB_SIGNALS[verb])
    if verb in WAIT_FOR_EXIT:
        _wait_gone(pid, WAIT_FOR_EXIT[verb])
    return 0


def _wait_gone(pid: int, timeout: float | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while process_alive(pid):
        if deadline is not None and time.monotonic() >= deadline:
            raise ControlError(f"mpmd (pid {pid}) still running after {timeout:.0f} s")
        time.sleep(0.05)  # polling a foreign pid: there is nothing to wait on
