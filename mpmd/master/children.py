"""Forking children, and the master's record of them.

The master tracks each child by pid with the slot and generation it was
forked into, and turns what :meth:`mpmd.master.processes.Processes.reap`
collected into :class:`ExitInfo` for the children it knows.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mpmd.errors import ChildExit

if TYPE_CHECKING:
    from mpmd.master.processes import Exited


@dataclass(frozen=True)
class ChildRecord:
    pid: int
    slot: int
    generation: int
    started: float  # monotonic
    retiring: bool = False  # told to stop: its exit is expected


@dataclass(frozen=True)
class ExitInfo:
    """A reaped child: how it ended and how long it lived."""

    record: ChildRecord
    code: int | None  # exit status, or None when killed by a signal
    signal: int | None
    lifetime: float

    @property
    def description(self) -> str:
        if self.signal is not None:
            return f"signal {signal.Signals(self.signal).name}"
        return f"exit code {self.code}"


def fork_child(run_child: Callable[[], object]) -> int:
    """Fork; the child runs ``run_child`` and always ends with ``os._exit``.

    ``run_child`` starts with every signal blocked and must unblock them once
    its handlers are in place.  Whatever escapes it (it should never return) ends the child
    with CHILDFATAL after printing the traceback: nothing of the master's
    stack (its ``finally`` blocks, ``atexit`` hooks) ever runs in a child.
    """
    # Signals stay blocked across fork until the child has its own handlers
    # (mpm.child unblocks them): a signal meant for the new child, arriving
    # before then, must neither run the master's disposition nor be written
    # to the master's wake-up socket, which the child shares until it closes
    # it — the master would take the child's USR1 for a reload.
    saved = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    pid = os.fork()
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, saved)
        return pid
    signal.set_wakeup_fd(-1)
    code = int(ChildExit.CHILDFATAL)
    try:
        run_child()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(ChildExit.CHILDFATAL)
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


class ChildTable:
    """The master's view of its children (not shared with anyone)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._by_pid: dict[int, ChildRecord] = {}
        self._clock = clock

    def __len__(self) -> int:
        return len(self._by_pid)

    def __iter__(self) -> Iterator[ChildRecord]:
        return iter(list(self._by_pid.values()))

    def of(self, generation: int) -> list[ChildRecord]:
        """The children of generation number ``generation``."""
        return [r for r in self._by_pid.values() if r.generation == generation]

    def add(self, pid: int, slot: int, generation: int) -> ChildRecord:
        record = ChildRecord(pid, slot, generation, self._clock())
        self._by_pid[pid] = record
        return record

    def mark_retiring(self, pid: int) -> None:
        record = self._by_pid.get(pid)
        if record:
            self._by_pid[pid] = replace(record, retiring=True)

    def forget(self, pid: int) -> None:
        """Stop tracking a child that would not die (after KILL): it is abandoned."""
        self._by_pid.pop(pid, None)

    def by_slot(self, slot: int) -> ChildRecord | None:
        return next((r for r in self._by_pid.values() if r.slot == slot), None)

    def collect(self, exits: list[Exited]) -> list[ExitInfo]:
        """Our children among ``exits`` (a reap may return others' too), forgotten."""
        infos: list[ExitInfo] = []
        for exited in exits:
            record = self._by_pid.pop(exited.pid, None)
            if record is not None:
                lifetime = self._clock() - record.started
                infos.append(ExitInfo(record, exited.code, exited.signal, lifetime))
        return infos
