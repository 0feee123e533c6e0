"""The status report: one frozen picture of the scoreboard, for every renderer.

:func:`mpmd.status.collect.collect` builds a :class:`StatusReport`; the
renderers (``?auto``, HTML, JSON, Prometheus, the terminal) only format it,
so they all agree on every number.  The counting rules are mod_status's
(``modules/generators/mod_status.c``), stated where each number is defined.
"""

from __future__ import annotations

from dataclasses import dataclass

#: mod_status's STATUS_MAXLINE: scoreboard letters per line in the HTML page.
LETTERS_PER_LINE = 64


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """Seconds of CPU, as ``times(2)`` splits them (Apache's CPUUser ... lines)."""

    user: float = 0.0
    system: float = 0.0
    children_user: float = 0.0
    children_system: float = 0.0

    @property
    def total(self) -> float:
        return self.user + self.system + self.children_user + self.children_system

    def __add__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(
            self.user + other.user,
            self.system + other.system,
            self.children_user + other.children_user,
            self.children_system + other.children_system,
        )


@dataclass(frozen=True, slots=True)
class Resources:
    """What the OS says about one process (psutil); None where it would not say."""

    rss: int
    uss: int | None
    pss: int | None
    cpu: CpuTimes
    connections: int | None  # established sockets (listeners excluded)


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    """One live child (a process slot with a pid)."""

    slot: int
    pid: int
    generation: int
    old_generation: bool  # not the generation this report was taken for
    stopping: bool  # quiescing: told to finish and exit
    accepting: bool
    threads: int
    busy: int  # worker slots serving (not ``_ S . I G``)
    graceful: int  # worker slots in ``G``
    idle: int  # worker slots in ``_``
    connections: int
    keep_alive: int  # idle keep-alive connections held without a thread (event)
    closing: int
    started: float  # wall clock
    resources: Resources | None = None


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    """One worker slot that has served or is serving (mod_status's extended rows)."""

    process: int  # process slot ("Srv" is process-generation)
    thread: int
    pid: int  # 0: no process in the slot any more
    generation: int
    state: str  # the scoreboard letter
    accesses: int  # by this slot, every process it ever held
    my_accesses: int  # by the current process
    conn_accesses: int  # on the current connection
    bytes: int
    my_bytes: int
    conn_bytes: int
    duration_ms: int  # all requests' durations summed
    last_used: float  # wall clock; 0 = never
    request_ms: int  # the current request so far (W), else the last one's duration
    client: str
    request: str


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """What does not change while a generation runs."""

    version: str  # "mpmd/0.1.0 (Python 3.11.2)": Apache's ServerVersion
    mpm: str  # "event"
    built: str  # Apache's "Server Built"
    asynchronous: bool  # the MPM holds idle connections without a thread
    extended: bool  # ExtendedStatus


@dataclass(frozen=True, slots=True)
class Totals:
    accesses: int = 0
    bytes: int = 0
    duration_ms: int = 0

    @property
    def kbytes(self) -> int:
        # mod_status sums bytes per slot and carries the remainder: floor(total / 1024)
        return self.bytes >> 10


@dataclass(frozen=True, slots=True)
class StatusReport:
    facts: ServerFacts
    now: float  # wall clock when taken
    restart_time: float  # wall clock: this generation's start
    start_time: float  # wall clock: the server's first start
    generation: int
    master_pid: int
    load: tuple[float, float, float]
    cpu: CpuTimes  # master (with reaped children) + live children
    totals: Totals
    busy: int  # Apache's BusyWorkers
    graceful: int  # GracefulWorkers
    idle: int  # IdleWorkers
    processes: tuple[ProcessStatus, ...]
    workers: tuple[WorkerStatus, ...]
    scoreboard: str  # Apache's Scoreboard string
    master_resources: Resources | None = None

    @property
    def uptime(self) -> int:
        """Whole seconds since the server first started.

        mod_status counts ``up_time`` from the last restart; mpmd's reloads keep
        the server's totals (Total Accesses ...), so the uptime they are divided
        by (ReqPerSec, BytesPerSec, CPULoad) survives reloads with them.  The
        restart itself is still shown as RestartTime.
        """
        return max(int(self.now - self.start_time), 0)

    @property
    def stopping(self) -> int:
        return sum(1 for p in self.processes if p.stopping)

    @property
    def connections(self) -> int:
        return sum(p.connections for p in self.processes)

    @property
    def keep_alive(self) -> int:
        return sum(p.keep_alive for p in self.processes)

    @property
    def closing(self) -> int:
        return sum(p.closing for p in self.processes)
