"""The event MPM's admission rule as a pure policy: counts and state in, a decision out.

Once per poller turn an event child asks :func:`admit` whether to keep its
listeners in the poller, how many connections to take from what the poller
reports, what to write into its scoreboard slot's ``not_accepting``, and
whether to close idle keep-alive connections.  The function reads only its
arguments: the turn's :class:`Counts`, the fixed :class:`Limits`, the
:class:`AdmissionState` carried from the previous turn, the time, and
:class:`Probes` for the facts that cost a system call or a scoreboard copy
(clients in the listen queue, room in another child, serving children).  It
asks a probe only when a rule needs that fact, as Apache's listener looks
only when it must; a test hands it canned answers and sees which it asked.

The rules, in order:

1. **Apache's limit** (event.c, ``connections_above_limit``): a child is within
   its limit while ``connections - closing < ThreadsPerChild + idle_workers *
   AsyncRequestWorkerFactor`` (fractions honoured, as Apache's
   ``WORKER_FACTOR_SCALE`` allows).  ``connections - closing`` are the
   connections in a worker (being served, or queued for one) plus the idle
   keep-alive ones (:attr:`Counts.connections`).  Nothing else the poller
   holds is counted: a connection being closed counts only while a worker
   holds it, as Apache's ``closing`` (its lingering-close count) is subtracted.
2. **A free worker.**  The child accepts only while ``idle_workers - queued >
   0``: like Apache's listener (``ap_queue_info_wait_for_idler``) it takes a
   connection only when a worker is free for it, so requests never queue here
   while another child has idle threads.  ``idle_workers`` in the formula are
   the threads waiting on the job queue, those a queued connection is about to
   take included.
3. **Stopping**: never accept, never over the limit (a stopping child still
   takes what its last wait reported: see :mod:`mpmd.mpm.acceptor`, which is
   why :attr:`Admission.batch` is at least 1).
4. **Starvation** (not in Apache): a child over its limit looks, at most once
   per :data:`STARVATION_GUARD`, whether clients wait in the listen queue and
   no other current-generation child accepts with an idle worker.  If so, and
   it has a free worker, or every worker is busy but the generation already
   runs all the children it may (ServerLimit, MaxRequestWorkers /
   ThreadsPerChild), it takes the queue in batches of :data:`STARVING_BATCH`
   per turn.  With every worker busy and a child still to be added, the
   connection is better left queued for the child that maintenance is about
   to spawn (it sees no idle threads).  Apache's event MPM stops accepting and
   lets the queue overflow (connects time out); mpmd parks the newcomers,
   which cost a dict entry each until they send a request.  While over the
   limit the listeners are out of the poller, so nothing wakes it when a
   client queues: it looks again every :data:`STARVATION_GUARD`
   (:meth:`Admission.poll_wait`).
5. **Reclaiming under saturation** (differs from Apache): Apache closes every
   idle keep-alive connection the moment all its workers are busy, which
   loses requests clients were sending on them.  mpmd does so only when the
   child is *saturated* — no idle worker for :data:`SATURATED_AFTER` seconds
   — while new clients wait in the listen queue and another child has room,
   and then only connections idle for :data:`KEEPALIVE_RECLAIM_AFTER`: their
   clients reconnect to the child that can serve them.  It looks again
   :data:`SATURATED_AFTER` later at the earliest; an idle worker resets the
   clock.  The clock runs in a stopping child too.

Beyond Apache, too: ``connections`` leave out connections still sending
their request head (``Counts.heads``).  The poller reads heads without a
thread, so a crowd of slow clients costs it a little memory and must not
close the door on everyone else (Apache counts them, and its event MPM stalls
under a slowloris crowd).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Protocol

#: how often a child over its admission limit checks whether to accept anyway
STARVATION_GUARD = 0.005
#: connections a starving child accepts per poller turn
STARVING_BATCH = 64
#: keep-alive connections idle at least this long may be closed when saturated
KEEPALIVE_RECLAIM_AFTER = 1.0
#: seconds with no idle worker before the child counts as saturated
SATURATED_AFTER = 1.0


@dataclass(frozen=True, slots=True)
class Limits:
    """What a child's configuration fixes for its whole life."""

    threads: int  # ThreadsPerChild
    factor: float  # AsyncRequestWorkerFactor
    process_limit: int  # children the generation may run (the master's rule)


@dataclass(frozen=True, slots=True)
class Counts:
    """One poller turn's counts, read together under the child's lock."""

    idle_workers: int  # threads waiting on the job queue
    queued: int  # connections in the job queue, not yet taken by a worker
    in_workers: int  # connections a worker serves, or queued for one
    idle_keepalive: int  # parked connections waiting for a next request
    heads: int = 0  # parked connections whose request head is under way (not counted)
    stopping: bool = False

    @property
    def connections(self) -> int:
        """``connections - closing`` of Apache's formula (see rule 1)."""
        return self.in_workers + self.idle_keepalive


class Probes(Protocol):
    """The facts that cost something to learn; asked only when a rule needs them."""

    def clients_waiting(self) -> bool:
        """New connections wait in a listen queue (seen without accepting)."""
        ...

    def others_have_room(self) -> bool:
        """Another current-generation child accepts and has an idle worker."""
        ...

    def serving_children(self) -> int:
        """Live, non-quiescing children of the current generation (this one included)."""
        ...


@dataclass(frozen=True, slots=True)
class AdmissionState:
    """What the rule carries from one turn to the next."""

    busy_since: float | None = None  # since when no worker has been idle
    last_starving_check: float = float("-inf")  # when the probes were last asked (rule 4)


@dataclass(frozen=True, slots=True)
class Admission:
    """One turn's decision."""

    accept: bool  # keep the listeners in the poller
    batch: int  # connections to take from what the poller reports ready
    not_accepting: bool  # the scoreboard flag: the admission rule says no
    reclaim: bool  # close keep-alive connections idle for KEEPALIVE_RECLAIM_AFTER
    over_limit: bool  # Apache's formula says no (and the child is not stopping)
    starving: bool  # over the limit, but taking the queue anyway (rule 4)

    def poll_wait(self, longest: float) -> float:
        """How long the poller may sleep: over the limit, nothing wakes it
        when a client queues (its listeners are out), so it looks again soon."""
        return STARVATION_GUARD if self.over_limit else longest


def within_limit(limits: Limits, counts: Counts) -> bool:
    """Apache's event.c ``connections_above_limit``, negated:
    ``connections - closing < ThreadsPerChild + idle_workers * AsyncRequestWorkerFactor``."""
    return counts.connections < limits.threads + counts.idle_workers * limits.factor


def admit(
    limits: Limits, counts: Counts, state: AdmissionState, probes: Probes, now: float
) -> tuple[Admission, AdmissionState]:
    """One poller turn of the admission rule (rules 1-5 of the module docstring)."""
    free = counts.idle_workers - counts.queued
    within = within_limit(limits, counts)
    accept = not counts.stopping and free > 0 and within
    over_limit = not counts.stopping and not within
    starving, state = _starving(limits, state, probes, now, free) if over_limit else (False, state)
    reclaim, state = _saturation(counts, state, probes, now)
    return _decision(accept, over_limit, starving, reclaim), state


@cache
def _decision(accept: bool, over_limit: bool, starving: bool, reclaim: bool) -> Admission:
    # Sixteen possible decisions, each built once: the poller asks every turn.
    return Admission(
        accept=accept or starving,
        batch=STARVING_BATCH if starving else 1,
        not_accepting=not accept,
        reclaim=reclaim,
        over_limit=over_limit,
        starving=starving,
    )


def _starving(
    limits: Limits, state: AdmissionState, probes: Probes, now: float, free: int
) -> tuple[bool, AdmissionState]:
    """Rule 4: over the limit, take the queue anyway when pausing would only
    leave its clients waiting for a child that will not come."""
    if now - state.last_starving_check < STARVATION_GUARD:
        return False, state
    state = AdmissionState(state.busy_since, now)
    if not probes.clients_waiting() or probes.others_have_room():
        return False, state
    return free > 0 or probes.serving_children() >= limits.process_limit, state


def _saturation(
    counts: Counts, state: AdmissionState, probes: Probes, now: float
) -> tuple[bool, AdmissionState]:
    """Rule 5: the saturation clock, and whether to reclaim keep-alive connections."""
    if counts.idle_workers:
        if state.busy_since is None:
            return False, state
        return False, AdmissionState(None, state.last_starving_check)
    if state.busy_since is None:
        return False, AdmissionState(now, state.last_starving_check)
    if now - state.busy_since < SATURATED_AFTER:
        return False, state
    # Look again SATURATED_AFTER from now at the earliest.
    state = AdmissionState(now, state.last_starving_check)
    return probes.clients_waiting() and probes.others_have_room(), state
