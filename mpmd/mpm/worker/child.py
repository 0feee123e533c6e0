"""The serving loop of a worker child (imported only inside the child).

ThreadsPerChild worker threads each serve one connection from accept to
close, keep-alive included, with the blocking driver.  The main thread is the
listener (Apache's listener thread): it accepts only while a worker thread is
idle (Apache's ``ap_queue_info_wait_for_idler``), and pauses its listeners
otherwise, so connections go to a child that can serve them now instead of
queueing behind busy threads — which is also what keeps keep-alive
connections from piling up on one child.

Graceful stop (USR1 from the master, which also sends it to recycle the child
after MaxConnectionsPerChild or MaxMemoryPerChild, see mpmd.mpm.recycle): the
listener stops accepting, each thread finishes its connection (the next
response says ``Connection: close``), and the child exits when all are done.
"""

from __future__ import annotations

import queue
import select
import threading
import time
from typing import NoReturn

import structlog

from mpmd.errors import ChildExit
from mpmd.http.blocking import ConnectionSettings, serve_connection
from mpmd.http.exchange import Handler
from mpmd.mpm.acceptor import PROBE_INTERVAL, Accepted, Acceptor
from mpmd.mpm.base import ChildContext
from mpmd.mpm.child import ChildControl, enter_child, exit_child, load_handler, master_alive
from mpmd.mpm.recorder import SlotRecorder
from mpmd.mpm.recycle import RecycleMonitor
from mpmd.mpm.threadpool import start_workers, stop_workers

log = structlog.get_logger("mpmd.worker")

PARENT_CHECK_INTERVAL = 1.0
IDLER_WAIT = 0.2  # seconds between stop checks while every thread is busy


class WorkerChild:
    def __init__(self, ctx: ChildContext, control: ChildControl, handler: Handler) -> None:
        self.ctx = ctx
        self.control = control
        self.handler = handler
        self.settings = ConnectionSettings.from_config(ctx.config)
        self.threads_n = ctx.scoreboard.process(ctx.slot).threads
        self.queue: queue.SimpleQueue[Accepted | None] = queue.SimpleQueue()
        self.idlers = threading.Semaphore(0)
        self.epoll = select.epoll()
        self.epoll.register(control.wake_r.fileno(), select.EPOLLIN)
        self.acceptor = Acceptor(ctx.listeners, self.epoll)
        self.recycle = RecycleMonitor(ctx)

    def run(self) -> int:
        # Logged before the threads mark their slots READY (see mpmd.mpm.prefork.child).
        log.debug("child_ready", threads=self.threads_n)
        threads = start_workers(self.ctx, self.threads_n, self._worker)
        self._listen()
        self.acceptor.pause()
        for accepted in self.acceptor.leftovers(self.threads_n):
            self.queue.put(accepted)  # served before the threads take their stop
        stop_workers(self.ctx, threads, self.queue)
        return ChildExit.OK

    def _stopping(self) -> bool:
        return self.control.stopping or self.recycle.exit_now

    def _listen(self) -> None:
        while not self._stopping():
            if not self.idlers.acquire(timeout=IDLER_WAIT):
                self.acceptor.pause()  # no idle thread: let other children take it
                self._check_wakeups(0)
                continue
            accepted = self._wait_for_connection()
            if accepted is None:
                self.idlers.release()  # the idler stays reserved for the next try
                continue
            self.recycle.connection()
            self.queue.put(accepted)

    def _wait_for_connection(self) -> Accepted | None:
        self.acceptor.resume()
        ready = self._check_wakeups(min(PARENT_CHECK_INTERVAL, PROBE_INTERVAL))
        # Accept even when stopping: an exclusive wake-up came here, and no
        # other child is woken for this connection.
        return self.acceptor.accept(ready)

    def _check_wakeups(self, timeout: float) -> set[int]:
        events = self.epoll.poll(timeout)
        ready = self.acceptor.probe({fd for fd, _ in events}, time.monotonic())
        self.recycle.check_memory()
        if not master_alive(self.ctx.master_pid):
            exit_child(ChildExit.OK)
        if self.control.wake_r.fileno() in ready:
            self.control.drain_wakeups()
        return ready

    def _worker(self, recorder: SlotRecorder) -> None:
        recorder.idle()
        self.idlers.release()
        while (accepted := self.queue.get()) is not None:
            recorder.connection_started(accepted.client)
            try:
                serve_connection(
                    accepted.sock, accepted.client, accepted.server, self.handler,
                    self.settings, recorder, self._stopping,
                )
            except Exception:
                log.exception("connection_failed")
            finally:
                accepted.sock.close()
                recorder.idle()
                self.idlers.release()


def main(ctx: ChildContext) -> NoReturn:
    """The child's whole life after fork: bootstrap, load the application, serve."""
    control = enter_child(ctx, "worker")
    handler = load_handler(ctx, "worker", multithread=True)
    exit_child(WorkerChild(ctx, control, handler).run())
