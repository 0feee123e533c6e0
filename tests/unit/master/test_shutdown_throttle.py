"""Stop escalation and spawn throttling, driven by a fake clock."""

from __future__ import annotations

import signal

from mpmd.errors import ChildExit
from mpmd.master.children import ChildRecord, ExitInfo
from mpmd.master.shutdown import Escalation
from mpmd.master.throttle import SpawnThrottle


def test_escalation_follows_apache_table() -> None:
    esc = Escalation(started=100.0)
    taken = []
    for now in (100.0, 102.9, 103.0, 105.0, 107.5, 109.0, 110.0):
        steps, esc = esc.due(now)
        taken.append([(s.after, s.signal) for s in steps])
    assert taken == [
        [(0.0, signal.SIGTERM)], [], [(3.0, signal.SIGTERM)], [(5.0, signal.SIGTERM)],
        [(7.0, signal.SIGTERM)], [(9.0, signal.SIGKILL)], [(10.0, None)],
    ]
    assert esc.next_deadline() is None


def test_late_turn_takes_every_overdue_step() -> None:
    steps, esc = Escalation(0.0).due(5.5)
    assert [s.after for s in steps] == [0.0, 3.0, 5.0]
    assert esc.next_deadline() == 7.0


def _exit(code: int | None, sig: int | None, lifetime: float) -> ExitInfo:
    return ExitInfo(ChildRecord(1, 0, 1, 0.0), code, sig, lifetime)


def test_crash_loop_backs_off_exponentially() -> None:
    t = SpawnThrottle()
    delays = []
    for i in range(10):
        t.record(_exit(1, None, 0.1), now=float(i))
        assert t.not_before is not None
        delays.append(round(t.not_before - i, 3))
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    # the documented back-off (mpmd/master/throttle.py): 0.1 s doubling up to 10 s
    assert delays[4:] == [1.6, 3.2, 6.4, 10.0, 10.0, 10.0]
    assert not t.allows(9.0 + 9.99) and t.allows(9.0 + 10.0)


def test_killed_young_child_is_not_a_start_failure() -> None:
    t = SpawnThrottle()
    t.record(_exit(None, signal.SIGKILL, 0.01), now=0.0)
    assert t.allows(0.0)


def test_segfault_and_resource_shortage_throttle() -> None:
    t = SpawnThrottle()
    t.record(_exit(None, signal.SIGSEGV, 0.5), now=0.0)
    assert not t.allows(0.05)
    t2 = SpawnThrottle()
    t2.record(_exit(int(ChildExit.CHILDSICK), None, 60.0), now=0.0)
    assert not t2.allows(0.05)


def test_long_lived_child_resets_backoff() -> None:
    t = SpawnThrottle()
    t.record(_exit(1, None, 0.1), now=0.0)
    t.record(_exit(1, None, 0.1), now=1.0)
    t.record(_exit(0, None, 30.0), now=2.0)
    assert t.failures == 0
