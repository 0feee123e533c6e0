"""Process groups of the servers under test: start, wait, account CPU, stop.

Guarantees: every server runs in its own session (``start_new_session=True``), so its
process group id is its pid; it is stopped by signalling that group only (never by
name), TERM first and KILL after a deadline; :class:`Groups` remembers every group
started and kills what is left at exit, also on errors.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A server or tool misbehaved; the message says which and how."""


@dataclass(frozen=True)
class Launch:
    """How to start one server: argv, extra environment, working directory."""

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Groups:
    """The process groups this run started; ``kill_all`` is registered at exit."""

    live: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        atexit.register(self.kill_all)

    def start(self, launch: Launch, log: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, **launch.env}
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                launch.argv, cwd=launch.cwd, env=env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.live.add(proc.pid)
        return proc

    def stop(self, pgid: int, grace_s: float = 10.0) -> None:
        try:
            stop_group(pgid, grace_s)
        finally:
            self.live.discard(pgid)

    def kill_all(self) -> None:
        for pgid in list(self.live):
            self.stop(pgid, grace_s=2.0)


def stop_group(pgid: int, grace_s: float) -> None:
    """TERM the group, wait until it is empty, KILL what is left after ``grace_s``."""
    _signal_group(pgid, signal.SIGTERM)
    if not wait_until(lambda: not group_pids(pgid), grace_s):
        _signal_group(pgid, signal.SIGKILL)
        wait_until(lambda: not group_pids(pgid), 5.0)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pgid, os.WNOHANG)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def wait_until(cond: Callable[[], object], deadline_s: float, step_s: float = 0.01) -> bool:
    """Poll ``cond()`` until true or ``deadline_s`` passed; returns the last value."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step_s)
    return bool(cond())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Fields after the command name, which may hold spaces: state is index 0 (field 3).
    return raw[raw.rindex(")") + 2 :].split()


def group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields and fields[2] == str(pgid) and fields[0] != "Z":
                pids.append(int(entry))
    return pids


def group_cpu_seconds(pgid: int) -> float:
    """utime+stime of every process in the group, plus the times of the children they
    reaped (cutime+cstime), so a child that exited during the run still counts."""
    ticks = 0
    for pid in group_pids(pgid):
        fields = _stat_fields(pid)
        if fields:
            ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / CLK_TCK


def children(pid: int) -> list[int]:
    """Live direct children of ``pid``, from /proc/PID/task/*/children (fast), or a scan
    of /proc where the kernel lacks that file."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
        listed = " ".join(Path(f"/proc/{pid}/task/{t}/children").read_text() for t in tids)
    except FileNotFoundError:
        return _scan_children(pid)
    except (ProcessLookupError, PermissionError):
        return []
    return [int(c) for c in listed.split() if _alive(int(c))]


def _alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def _scan_children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields and fields[1] == str(pid) and fields[0] != "Z":
                found.append(int(entry))
    return found


def run_tool(argv: Sequence[str], timeout_s: float) -> str:
    """Run a short tool, return stdout; raise BenchError on failure or timeout."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{argv[0]} timed out after {timeout_s} s") from exc
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-500:]}")
    return done.stdout
