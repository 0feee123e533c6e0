"""The serving loop of an event child (imported only inside the child).

Theory of operation.  The main thread is the **poller**: one epoll holds the
child's wake-up socket, the listeners (while the child admits connections)
and every *parked* connection — new ones, idle keep-alive ones, and those
whose request head has not fully arrived.  Bytes a parked connection sends are
fed to its sans-I/O core by the poller; only when the core holds a complete
request head (or an error to answer) does the connection go to one of the
ThreadsPerChild **worker threads**.  So a slow client that trickles its head
holds no thread, and RequestReadTimeout is enforced here (408 on expiry).

A worker serves the request and, while the next request is already there
(pipelined, or arrived meanwhile), the next one too; when the connection goes
idle it parks it again itself (``serve_parkable`` returns ``True``; the
parking lot is shared, under a lock) instead of blocking in a keep-alive
wait, and wakes the poller only when the poller has something to decide: a
parked deadline sooner than its wait ends, paused listeners (a free worker may
let it accept) or a stopping child.  Idle keep-alive connections cost a dict entry and an epoll
registration, no thread.

Admission: once per poller turn the child hands its counts to the pure
policy in :mod:`mpmd.mpm.event.admission` (Apache's ``connections - closing <
ThreadsPerChild + idle_workers * AsyncRequestWorkerFactor``, a free worker,
taking the listen queue in batches when every child is full, reclaiming idle
keep-alive connections under saturation) and applies its decision: listeners
in or out of the epoll, how many to accept, the scoreboard's
``not_accepting``, which keep-alive connections to close.  The costly facts
the policy may ask for (a select on the listeners, a scoreboard snapshot) are
taken only when it asks, at most once per turn (:class:`ChildProbes`).

Graceful stop: stop accepting; connections in workers get ``Connection:
close`` on their next response; parked idle ones are kept until their next
request (answered with ``Connection: close``) or KeepAliveTimeout — closing
them under a client that is sending would lose its request.  The child exits
when it holds no connection.
"""

from __future__ import annotations

import contextlib
import queue
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import NoReturn

import structlog

from mpmd.config.model import ThreadedSettings
from mpmd.errors import ChildExit
from mpmd.http.exchange import Handler
from mpmd.http.parkable import (
    Fed,
    Parked,
    answer_timeout,
    close_parked,
    feed,
    linger,
    new_parked,
    serve_parkable,
)
from mpmd.http.settings import ConnectionSettings, HttpDate
from mpmd.mpm.acceptor import PROBE_INTERVAL, Accepted, Acceptor
from mpmd.mpm.base import ChildContext
from mpmd.mpm.child import ChildControl, enter_child, exit_child, load_handler, master_alive
from mpmd.mpm.event.admission import (
    KEEPALIVE_RECLAIM_AFTER,
    Admission,
    AdmissionState,
    Counts,
    Limits,
    admit,
)
from mpmd.mpm.parking import ParkingLot
from mpmd.mpm.recorder import SlotRecorder
from mpmd.mpm.recycle import RecycleMonitor
from mpmd.mpm.threadpool import start_workers, stop_workers
from mpmd.scoreboard.board import ProcessView, Snapshot
from mpmd.scoreboard.states import State

log = structlog.get_logger("mpmd.event")

PARENT_CHECK_INTERVAL = 1.0
#: seconds a worker waits for the next request on its connection before parking it
KEEPALIVE_LINGER = 0.002


class EventChild:
    def __init__(self, ctx: ChildContext, control: ChildControl, handler: Handler) -> None:
        settings = ctx.config.mpm_settings
        assert isinstance(settings, ThreadedSettings)
        self.ctx, self.control, self.handler = ctx, control, handler
        self.settings = ConnectionSettings.from_config(ctx.config)
        self.date = HttpDate()  # shared by the workers: formatted once a second
        self.threads_n = settings.threads_per_child
        self.limits = Limits(
            threads=self.threads_n,
            factor=settings.async_request_worker_factor,
            # how many children this generation may have (the master's rule)
            process_limit=min(
                settings.server_limit, max(settings.max_request_workers // self.threads_n, 1)
            ),
        )
        self.proc = ctx.scoreboard.process(ctx.slot)
        self.epoll = select.epoll()
        self.epoll.register(control.wake_r.fileno(), select.EPOLLIN)
        self.acceptor = Acceptor(ctx.listeners, self.epoll)
        self.lot = ParkingLot(self.epoll)  # the poller unparks; workers re-park
        self.jobs: queue.SimpleQueue[Parked | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle_workers = 0
        self.in_workers = 0  # connections a worker is serving (or queued for one)
        self.recycle = RecycleMonitor(ctx)
        self.released = False  # stopping, and the listeners are left for good
        self.admission_state = AdmissionState()
        self.probes = ChildProbes(ctx.listeners, ctx.slot, ctx.scoreboard.snapshot)
        self.admission = Admission(  # until the first turn decides
            accept=False, batch=1, not_accepting=True, reclaim=False,
            over_limit=False, starving=False,
        )

    # -- main loop --------------------------------------------------------------

    def run(self) -> int:
        # Logged before the threads mark their slots READY (see mpmd.mpm.prefork.child).
        log.debug("child_ready", threads=self.threads_n)
        threads = start_workers(self.ctx, self.threads_n, self._worker)
        while not (self._stopping() and self._connections() == 0):
            self._poll_once()
        stop_workers(self.ctx, threads, self.jobs)
        return ChildExit.OK

    def _stopping(self) -> bool:
        return self.control.stopping or self.recycle.exit_now

    def _connections(self) -> int:
        with self.lock:
            return len(self.lot) + self.in_workers

    def _poll_once(self) -> None:
        self._admit()
        wait = self.admission.poll_wait(min(PROBE_INTERVAL, PARENT_CHECK_INTERVAL))
        events = self.epoll.poll(self.lot.timeout(time.monotonic(), wait))
        if not master_alive(self.ctx.master_pid):
            exit_child(ChildExit.OK)
        ready: set[int] = set()
        for fd, _mask in events:
            if fd == self.control.wake_r.fileno():
                self.control.drain_wakeups()
            elif self.acceptor.owns(fd):
                ready.add(fd)
            else:
                self._readable(fd)
        # Accept even when stopping: an exclusive wake-up came here, and no
        # other child is woken for this connection (see mpm.acceptor).
        ready = self.acceptor.probe(ready, time.monotonic())
        if ready:
            self._accept(ready)
        if self._stopping() and not self.released:
            self._release_listeners()
        for parked in self.lot.expire(time.monotonic()):
            self._to_worker(parked)  # a 408 to answer
        self._publish()
        self.recycle.check_memory()

    # -- admission and accepting --------------------------------------------------

    def _admit(self) -> None:
        """One turn of the admission policy (mpmd.mpm.event.admission), applied."""
        with self.lock:
            idle, in_workers = self.idle_workers, self.in_workers
            keepalive, parked = self.lot.idle_keepalive, len(self.lot)
        counts = Counts(
            idle_workers=idle,
            queued=self.jobs.qsize(),
            in_workers=in_workers,
            idle_keepalive=keepalive,
            heads=parked - keepalive,
            stopping=self._stopping(),
        )
        now = time.monotonic()
        self.admission, self.admission_state = admit(
            self.limits, counts, self.admission_state, self.probes.next_turn(), now
        )
        if self.admission.accept:
            self.acceptor.resume()
        else:
            self.acceptor.pause()
        self.proc.not_accepting = int(self.admission.not_accepting)
        if self.admission.reclaim:
            self.lot.reclaim_keepalive(now, KEEPALIVE_RECLAIM_AFTER)

    def _release_listeners(self) -> None:
        """Stopping: leave the listeners for good, taking over the connections
        already waiting whose wake-up may have come here."""
        self.released = True
        self.acceptor.pause()
        for accepted in self.acceptor.leftovers(self.threads_n):
            self._park_new(accepted)

    def _accept(self, ready: set[int]) -> None:
        # Within the limit, one at a time: admission is decided again before
        # the next.  Starving (every child full, clients queued), take what
        # waits, up to a batch: one per STARVATION_GUARD would let the listen
        # queue overflow while connections that cost a dict entry when idle
        # could have been parked.
        for _ in range(self.admission.batch):
            accepted = self.acceptor.accept(ready)
            if accepted is None:
                return
            self._park_new(accepted)

    def _park_new(self, accepted: Accepted) -> None:
        parked = new_parked(accepted.sock, accepted.client, accepted.server, self.settings)
        self.recycle.connection()
        self.lot.park(parked)

    # -- parked connections ---------------------------------------------------------

    def _readable(self, fd: int) -> None:
        """Bytes came: a worker reads them (the poller does no socket I/O of its
        own, so it needs the GIL only briefly per turn; see _serve)."""
        parked = self.lot.unpark(fd)
        if parked is not None:
            self._to_worker(parked)

    def _to_worker(self, parked: Parked) -> None:
        with self.lock:
            self.in_workers += 1
        self.jobs.put(parked)

    def _publish(self) -> None:
        """Per-process counts for server-status (Apache's async columns)."""
        proc = self.proc
        with self.lock:
            proc.connections = len(self.lot) + self.in_workers
        proc.keep_alive = self.lot.idle_keepalive

    # -- worker threads ---------------------------------------------------------------

    def _serve(self, parked: Parked, recorder: SlotRecorder) -> bool:
        """Read what came; serve if a whole head is there.  True: back to the
        poller (served and idle, a head still incomplete, or lingering)."""
        if parked.linger_left:  # answered and shut down: discard what came
            return linger(parked)
        if parked.timed_out:  # its header stage expired in the poller
            recorder.connection_started(parked.client)
            return answer_timeout(parked, self.handler, self.settings, recorder,
                                  self._stopping, self.date)
        if not parked.conn.ready:
            fed = feed(parked, self.settings, time.monotonic())
            if fed is Fed.CLOSED:  # the client went away between requests
                close_parked(parked)
                return False
            if fed is Fed.WAIT:
                return True
        recorder.connection_started(parked.client)
        return serve_parkable(parked, self.handler, self.settings, recorder,
                              self._stopping, self._linger, self.date)

    def _linger(self) -> float:
        """How long a worker may wait for a connection's next request before
        parking it: briefly, and only while no other connection waits."""
        return KEEPALIVE_LINGER if self.jobs.empty() else 0.0

    def _worker(self, recorder: SlotRecorder) -> None:
        wake = self.control.wake_w
        while True:
            recorder.idle()
            with self.lock:
                self.idle_workers += 1
            parked = self.jobs.get()
            with self.lock:
                self.idle_workers -= 1
            if parked is None:
                return
            # Idle now (serve_parkable never returns with a whole request
            # buffered): wait in the poller, counted there before it stops
            # counting here, so a stopping child never sees zero in between.
            early = self._serve(parked, recorder) and self.lot.park(parked)
            with self.lock:
                self.in_workers -= 1
            if early or not self.acceptor.listening or self._stopping():
                # The poller has something to decide: a deadline sooner than its
                # wait ends, a free worker that may let it accept again, or a
                # stopping child that may now be empty.  A full buffer means
                # wake-ups are pending already.
                with contextlib.suppress(OSError):
                    wake.send(b"r")


class ChildProbes:
    """The admission policy's probes: each fact is looked up when the policy
    first asks for it in a poller turn, then reused within that turn."""

    def __init__(
        self, listeners: tuple[socket.socket, ...], slot: int, snapshot: Callable[[], Snapshot]
    ) -> None:
        self._listeners, self._slot, self._take_snapshot = listeners, slot, snapshot
        self._waiting: bool | None = None
        self._snapshot: Snapshot | None = None

    def next_turn(self) -> ChildProbes:
        """Forget the previous turn's facts."""
        self._waiting = self._snapshot = None
        return self

    def clients_waiting(self) -> bool:
        """New connections wait in a listen queue (seen without accepting)."""
        if self._waiting is None:
            readable, _, _ = select.select(self._listeners, [], [], 0)
            self._waiting = bool(readable)
        return self._waiting

    def others_have_room(self) -> bool:
        """Another current-generation child accepts and has an idle worker."""
        ready = State.READY.value[0]
        return any(
            p.slot != self._slot and not p.quiescing and not p.not_accepting
            and ready in p.states
            for p in self._current()
        )

    def serving_children(self) -> int:
        """Live, non-quiescing children of the current generation (this one included)."""
        return sum(1 for p in self._current() if not p.quiescing)

    def _current(self) -> tuple[ProcessView, ...]:
        if self._snapshot is None:
            self._snapshot = self._take_snapshot()
        return self._snapshot.live(self._snapshot.generation)


def main(ctx: ChildContext) -> NoReturn:
    """The child's whole life after fork: bootstrap, load the application, serve."""
    control = enter_child(ctx, "event")
    handler = load_handler(ctx, "event", multithread=True)
    exit_child(EventChild(ctx, control, handler).run())
