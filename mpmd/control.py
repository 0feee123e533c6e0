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
from mpmd.master.control import default_path, send_command
from mpmd.master.pidfile import process_alive, read_pid

VERB_SIGNALS: dict[str, signal.Signals] = {
    "stop": signal.SIGTERM,
    "graceful-stop": signal.SIGWINCH,
    "restart": signal.SIGHUP,
    "graceful": signal.SIGUSR1,
    "reload": signal.SIGUSR1,
}
WAIT_FOR_EXIT = {"stop": 15.0, "graceful-stop": None}
#: seconds ``mpmd reload`` waits for the new generation (staging takes at most 60)
RELOAD_WAIT = 90.0


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


def send_verb(config: ServerConfig, verb: str) -> tuple[bool, str]:
    """Run ``verb`` against the server ``config`` describes; (ok, message).

    Through the control socket when the server has one (``reload`` and
    ``restart`` then wait until the new generation serves, or say why it
    failed); otherwise by signalling the PidFile's process.
    """
    pid = running_pid(config)
    path = control_path(config)
    command = "reload" if verb == "graceful" else verb
    if path and os.path.exists(path):
        answer = _ask(path, command)
        ok, message = bool(answer.get("ok")), str(answer.get("message", ""))
    else:
        os.kill(pid, VERB_SIGNALS[verb])
        ok, message = True, f"sent {VERB_SIGNALS[verb].name} to mpmd (pid {pid})"
    if ok and verb in WAIT_FOR_EXIT:
        _wait_gone(pid, WAIT_FOR_EXIT[verb])
    return ok, message


def control_path(config: ServerConfig) -> str:
    if config.control_socket:
        return config.control_socket
    return default_path(config.pid_file) if config.pid_file else ""


def _ask(path: str, command: str) -> dict[str, object]:
    try:
        return send_command(path, command, RELOAD_WAIT)
    except (OSError, ValueError) as exc:
        raise ControlError(f"could not talk to mpmd through {path}: {exc}") from exc


def _wait_gone(pid: int, timeout: float | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while process_alive(pid):
        if deadline is not None and time.monotonic() >= deadline:
            raise ControlError(f"mpmd (pid {pid}) still running after {timeout:.0f} s")
        time.sleep(0.05)  # polling a foreign pid: there is nothing to wait on
