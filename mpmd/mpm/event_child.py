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

Admission (Apache's event MPM): the child accepts only while
``connections - closing < ThreadsPerChild + idle_workers * AsyncRequestWorkerFactor``,
and flags itself ``not_accepting`` in the scoreboard otherwise.  Unlike
Apache, ``connections`` counts those that are in (or queued for) a worker
and idle keep-alive ones, not those still sending a request head: a crowd of
slow clients costs the poller a little memory and must not close the door
on everyone else (Apache's event MPM stalls under it).  And a child over its
limit still accepts when clients wait and no other child has room (read from
the scoreboard, every :data:`STARVATION_GUARD` while over the limit), in
batches: the rule is there to send connections where they are served
soonest, and when every child is busy, a newcomer parked here is served in
turn instead of waiting in the listen queue for some child's idle moment
(Apache's event MPM lets the queue overflow: connects time out).  Apache also
closes every keep-alive connection the moment all workers are busy, which
loses requests clients were sending on them; mpmd closes idle keep-alive
connections only when the child is *saturated* — no worker idle for
:data:`SATURATED_AFTER` seconds while new connections wait in the listen
queue — and another child has idle workers (read from the scoreboard), and
then only those idle for :data:`KEEPALIVE_RECLAIM_AFTER`: their clients
reconnect to the child that can serve them.

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
import threading
import time

import structlog

from mpmd.config.model import ThreadedSettings
from mpmd.errors import ChildExit
from mpmd.http.blocking import ConnectionSettings, HttpDate
from mpmd.http.exchange import Handler
from mpmd.http.parkable import (
    Parked,
    close_parked,
    feed,
    new_parked,
    serve_parkable,
)
from mpmd.mpm.acceptor import PROBE_INTERVAL, Accepted, Acceptor
from mpmd.mpm.base import ChildContext
from mpmd.mpm.child import ChildControl, exit_child, master_alive
from mpmd.mpm.parking import ParkingLot
from mpmd.mpm.recorder import SlotRecorder
from mpmd.mpm.recycle import RecycleMonitor
from mpmd.mpm.threadpool import start_workers, stop_workers
from mpmd.scoreboard.board import Snapshot
from mpmd.scoreboard.states import State

log = structlog.get_logger("mpmd.event")

PARENT_CHECK_INTERVAL = 1.0
#: seconds a worker waits for the next request on its connection before parking it
KEEPALIVE_LINGER = 0.002
#: how often a child over its admission limit checks whether to accept anyway
STARVATION_GUARD = 0.005
#: connections a starving child accepts per poller turn
STARVING_BATCH = 64
#: keep-alive connections idle at least this long may be closed when saturated
KEEPALIVE_RECLAIM_AFTER = 1.0
#: seconds with no idle worker (and connections waiting) before the child counts as saturated
SATURATED_AFTER = 1.0


class EventChild:
    def __init__(self, ctx: ChildContext, control: ChildControl, handler: Handler) -> None:
        settings = ctx.config.mpm_settings
        assert isinstance(settings, ThreadedSettings)
        self.ctx, self.control, self.handler = ctx, control, handler
        self.settings = ConnectionSettings.from_config(ctx.config)
        self.date = HttpDate()  # shared by the workers: formatted once a second
        self.threads_n = settings.threads_per_child
        self.factor = settings.async_request_worker_factor
        # how many children this generation may have (the master's rule)
        self.process_limit = min(
            settings.server_limit, max(settings.max_request_workers // self.threads_n, 1)
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
        self.busy_since: float | None = None  # when the last worker became busy
        self.released = False  # stopping, and the listeners are left for good
        self.last_starving_check = 0.0
        self.starving = False  # over the limit, but no other child has room either
        self.over_limit = False  # the admission rule says no

    # -- main loop --------------------------------------------------------------

    def run(self) -> int:
        threads = start_workers(self.ctx, self.threads_n, self._worker)
        log.debug("child_ready", threads=self.threads_n)
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
        wait = min(PROBE_INTERVAL, PARENT_CHECK_INTERVAL)
        if self.over_limit:
            # Paused by the admission rule: nothing wakes the poller when a
            # client queues, so look again soon (see _starving).
            wait = STARVATION_GUARD
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
        self.lot.expire(time.monotonic())
        self._publish()
        self.recycle.check_memory()

    # -- admission and accepting --------------------------------------------------

    def _admit(self) -> None:
        """Apache's rule: connections - closing < TPC + idle_workers * factor."""
        with self.lock:
            idle = self.idle_workers
            busy_conns = self.lot.idle_keepalive + self.in_workers
        limit = self.threads_n + idle * self.factor
        # Like Apache's listener (ap_queue_info_wait_for_idler), take a new
        # connection only while a worker is free for it, so requests do not
        # queue here while another child has idle threads.
        free = idle - self.jobs.qsize()
        admit = not self._stopping() and free > 0 and busy_conns < limit
        now = time.monotonic()
        self.over_limit = not admit and busy_conns >= limit and not self._stopping()
        self.starving = self.over_limit and self._starving(now, free)
        if admit or self.starving:
            self.acceptor.resume()
        else:
            self.acceptor.pause()
        self.proc.not_accepting = 0 if admit else 1
        if idle:
            self.busy_since = None
        elif self.busy_since is None:
            self.busy_since = now
        elif now - self.busy_since >= SATURATED_AFTER:
            self.busy_since = now  # look again in SATURATED_AFTER at the earliest
            if clients_waiting(self.ctx) and others_have_room(
                self.ctx, self.ctx.scoreboard.snapshot()
            ):
                self.lot.reclaim_keepalive(now, KEEPALIVE_RECLAIM_AFTER)

    def _starving(self, now: float, free: int) -> bool:
        """Over the limit, but clients wait and no other child has room for
        them: pausing would only leave them in the listen queue (idle
        keep-alive crowds cost a dict entry each here).  With every worker
        busy, only if no child can be added either: otherwise the connection
        is better left queued for the child maintenance is about to spawn
        (it sees no idle threads)."""
        if self._stopping() or now - self.last_starving_check < STARVATION_GUARD:
            return False
        self.last_starving_check = now
        if not clients_waiting(self.ctx):
            return False
        snapshot = self.ctx.scoreboard.snapshot()
        if others_have_room(self.ctx, snapshot):
            return False
        serving = [p for p in snapshot.live(snapshot.generation) if not p.quiescing]
        return free > 0 or len(serving) >= self.process_limit

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
        for _ in range(STARVING_BATCH if self.starving else 1):
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
        poller (served and idle, or a head still incomplete)."""
        if not parked.conn.ready:
            outcome = feed(parked, self.settings, time.monotonic())
            if outcome == "closed":  # the client went away between requests
                close_parked(parked)
                return False
            if outcome == "wait":
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


def clients_waiting(ctx: ChildContext) -> bool:
    """New connections wait in a listen queue (seen without accepting)."""
    readable, _, _ = select.select(ctx.listeners, [], [], 0)
    return bool(readable)


def others_have_room(ctx: ChildContext, snapshot: Snapshot) -> bool:
    """Another current-generation child accepts and has an idle worker."""
    ready = State.READY.value[0]
    return any(
        p.slot != ctx.slot and not p.quiescing and not p.not_accepting and ready in p.states
        for p in snapshot.live(snapshot.generation)
    )
