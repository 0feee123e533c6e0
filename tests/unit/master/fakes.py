"""A fake :class:`~mpmd.master.processes.Processes` and a master driven by it.

Nothing forks.  A "child" is a pid the fake handed out; the test decides what
it does: become ready (its scoreboard slot leaves STARTING, as a real child's
does once its application imported), exit with a code, or ignore TERM or the
graceful signal.  The clock only moves when the test moves it, so a drain
timeout or Apache's 9-second KILL takes microseconds.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpmd.config import load_config
from mpmd.master.assemble import blueprint
from mpmd.master.control import ControlRequest
from mpmd.master.generation import Generation, Stage
from mpmd.master.processes import Exited
from mpmd.master.signals import SignalInbox
from mpmd.master.supervisor import Supervisor
from mpmd.scoreboard.states import State

#: the graceful signal as Apache's (``apachectl graceful`` sends USR1)
GRACEFUL = signal.SIGUSR1
#: Apache's APEXIT_CHILDFATAL (httpd.h: 0xf): the child cannot ever work in this generation
APEXIT_CHILDFATAL = 15

PREFORK = "LoadModule mpm_prefork_module\nStartServers 2\nMinSpareServers 1\nMaxSpareServers 5\n"
WORKER = "LoadModule mpm_worker_module\nStartServers 1\nThreadsPerChild 4\nMinSpareThreads 1\n" \
         "MaxSpareThreads 8\nMaxRequestWorkers 16\nServerLimit 4\n"


@dataclass
class FakeChild:
    pid: int
    forked_at: float
    ignores: set[int] = field(default_factory=set)  # signals it survives (never KILL)
    exited: bool = False


class FakeProcesses:
    """Records forks and signals; exits happen when the test (or a signal) says."""

    def __init__(self, now: float = 1000.0) -> None:
        self.clock = now
        self.children: dict[int, FakeChild] = {}
        self.signals: list[tuple[float, int, int]] = []  # (when, pid, signal)
        self._next_pid = 4000
        self._exits: list[Exited] = []

    # -- the Processes protocol -------------------------------------------------

    def fork(self, run_child: Callable[[], object]) -> int:
        self._next_pid += 1  # run_child is never called: nothing runs in a fake child
        self.children[self._next_pid] = FakeChild(self._next_pid, self.clock)
        return self._next_pid

    def send(self, pid: int, sig: int) -> None:
        self.signals.append((self.clock, pid, sig))
        child = self.children.get(pid)
        if child is None or child.exited:
            return
        if sig == signal.SIGKILL:
            self._exit(child, None, sig)
        elif sig not in child.ignores:
            self._exit(child, 0, None)  # a real child finishes and exits 0 on TERM/USR1

    def reap(self) -> list[Exited]:
        exits, self._exits = self._exits, []
        return exits

    def wait_readable(self, watched: Sequence[Any], timeout: float) -> list[Any]:
        if not self._exits:  # a pending exit is SIGCHLD on the wake-up socket: no sleep
            self.clock += timeout  # nothing else ever becomes readable: time passes
        return []

    def now(self) -> float:
        return self.clock

    # -- what a test makes children do -----------------------------------------------

    def exit(self, pid: int, code: int) -> None:
        self._exit(self.children[pid], code, None)

    def _exit(self, child: FakeChild, code: int | None, sig: int | None) -> None:
        child.exited = True
        self._exits.append(Exited(child.pid, code, sig))

    def alive(self) -> list[int]:
        return [pid for pid, c in self.children.items() if not c.exited]

    def signalled(self, pid: int) -> list[tuple[float, int]]:
        return [(when, sig) for when, p, sig in self.signals if p == pid]


@dataclass
class Client:
    """The ``mpmd reload`` end of a control connection."""

    sock: socket.socket

    def answer(self) -> dict[str, Any] | None:
        """The master's reply, or None while it has not answered."""
        self.sock.setblocking(False)
        try:
            line = self.sock.recv(65536)
        except BlockingIOError:
            return None
        answer: dict[str, Any] = json.loads(line)
        return answer


class FakeMaster:
    """A real Supervisor over a configuration file, driven turn by turn."""

    def __init__(self, tmp_path: Path, conf: str) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.conf = tmp_path / "mpmd.conf"
        self._socket_dir = tempfile.mkdtemp(prefix="mpmd-", dir="/tmp")
        self.rewrite(conf)
        self.os = FakeProcesses()
        self.reopened: list[str] = []
        self._clients: list[socket.socket] = []
        config = load_config(str(self.conf))
        self.sup = Supervisor(
            blueprint(config, preload=False),
            processes=self.os,
            inbox=SignalInbox(signals=()),  # no dispositions changed in the test runner
            inherited=[],
            reopen_logs=lambda c: self.reopened.append(c.config_file),
        )

    def __enter__(self) -> FakeMaster:
        self.sup.start()
        self.sup.turn()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sup.close()
        for client in self._clients:
            client.close()
        shutil.rmtree(self._socket_dir, ignore_errors=True)

    def turn(self, advance: float = 0.0) -> None:
        self.os.clock += advance
        self.sup.turn()

    def loop(self, until: Callable[[], bool], within: float) -> float:
        """Run the real loop (wait, turn) until ``until()``, at most ``within``
        fake seconds; returns the fake time it became true."""
        deadline, turns = self.os.clock + within, 0
        while not until():
            assert self.os.clock < deadline, f"not within {within} s (fake time)"
            turns += 1  # the master's shortest sleep is STAGING_POLL, 20 ms
            assert turns <= within / 0.02 + 10, "the master spins: its waits take no time"
            self.sup.wait()
            self.sup.turn()
        return self.os.clock

    def rewrite(self, conf: str) -> None:
        """``conf`` without Listen or PidFile: the master listens on a Unix socket
        of its own (no port to race other tests for) and keeps its PidFile and
        control socket beside it (a short path, under AF_UNIX's 108 bytes)."""
        where = self._socket_dir
        self.conf.write_text(f"Listen unix:{where}/s\nPidFile {where}/mpmd.pid\n{conf}")

    def waiter(self, command: str = "reload") -> tuple[ControlRequest, Client]:
        """A control request as ``mpmd reload`` makes one, and its client end."""
        ours, theirs = socket.socketpair()
        self._clients.append(theirs)
        return ControlRequest(command, ours), Client(theirs)

    def generation(self, number: int) -> Generation:
        found = self.sup.fleet.by_number(number)
        assert found is not None, f"generation {number} is gone"
        return found

    def stages(self) -> dict[int, Stage]:
        return {g.number: g.stage for g in self.sup.fleet}

    def pids(self, number: int) -> list[int]:
        return [r.pid for r in self.sup.fleet.children.of(number)]

    def ready(self, number: int) -> None:
        """Every child of generation ``number`` leaves STARTING: it serves."""
        generation = self.generation(number)
        for record in self.sup.fleet.children:
            if record.generation == number:
                for t in range(generation.threads):
                    worker = generation.scoreboard.worker(record.slot, t)
                    if worker.status == State.STARTING.value:
                        worker.status = State.READY.value


#: the ``start`` fixture (conftest.py): a FakeMaster on a configuration, started
Start = Callable[..., FakeMaster]
