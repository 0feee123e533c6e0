"""The event MPM's parked connections: who waits in the poller, until when.

The poller unparks, expires and reclaims; a worker thread parks the
connection it has just served itself (re-arming its epoll registration),
which saves a hand-off through the poller per request.  One lock guards the
table, the timer heap and the count; epoll itself is thread-safe.  Each parked
connection is in the epoll with a one-shot registration, re-armed each time it
is parked (after it is in the table, so the poller never sees an event for a
connection it cannot find), and has a deadline in a heap: RequestReadTimeout's
header stage while a head is under way, KeepAliveTimeout while it idles,
LINGER_SECONDS while a lingering close discards its input.
Timers are invalidated lazily by a token that every move of the connection
bumps.
"""

from __future__ import annotations

import heapq
import select
import threading
from dataclasses import dataclass, field

import structlog

from mpmd.http.parkable import Parked, close_parked

log = structlog.get_logger("mpmd.event")

_IN_ONCE = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLONESHOT


@dataclass(order=True)
class _Timer:
    at: float
    fd: int = field(compare=False)
    token: int = field(compare=False)


class ParkingLot:
    def __init__(self, epoll: select.epoll) -> None:
        self._epoll = epoll
        self._parked: dict[int, Parked] = {}
        self._timers: list[_Timer] = []
        self._lock = threading.Lock()
        self._sleep_until = 0.0  # when the poller's current epoll wait ends at the latest
        self.idle_keepalive = 0  # parked connections waiting for a next request

    def __len__(self) -> int:
        return len(self._parked)

    def __contains__(self, fd: int) -> bool:
        return fd in self._parked

    def park(self, parked: Parked) -> bool:
        """Wait for ``parked``'s next bytes (any thread).  True if its deadline
        comes before the poller's current wait ends: the poller must be woken
        to shorten it, or the connection would be cut late."""
        fd = parked.sock.fileno()
        with self._lock:
            self._parked[fd] = parked
            self.idle_keepalive += parked.idle_keepalive
            parked.token += 1
            heapq.heappush(self._timers, _Timer(parked.deadline, fd, parked.token))
            early = parked.deadline < self._sleep_until
        if parked.registered:
            self._epoll.modify(fd, _IN_ONCE)  # re-arm: one-shot disarmed it
        else:
            parked.registered = True
            self._epoll.register(fd, _IN_ONCE)
        return early

    def unpark(self, fd: int) -> Parked | None:
        """Take ``fd`` out (the poller); None if it is not parked (a stale event)."""
        with self._lock:
            return self._take(fd)

    def _take(self, fd: int) -> Parked | None:
        parked = self._parked.pop(fd, None)
        if parked is None:
            return None
        self.idle_keepalive -= parked.idle_keepalive
        # No epoll_ctl: a one-shot registration that fired is disarmed already,
        # and one that did not is dropped by the kernel when the socket closes.
        parked.token += 1  # its timers are stale now
        return parked

    def timeout(self, now: float, longest: float) -> float:
        """How long the poller may sleep before the next deadline (the poller,
        just before it waits)."""
        with self._lock:
            wait = longest
            if self._timers:
                wait = min(longest, max(self._timers[0].at - now, 0.0))
            self._sleep_until = now + wait
            return wait

    def expire(self, now: float) -> list[Parked]:
        """Take out the connections whose deadline passed: those with part of a
        head in are returned (marked ``timed_out``: a worker answers them 408,
        as a blocking MPM's thread would); the others are closed quietly (no
        byte of a request came, or a lingering close is over)."""
        answer = []
        for parked in self._expired(now):
            if parked.partial:
                parked.timed_out = True
                answer.append(parked)
            else:
                close_parked(parked)
        return answer

    def _expired(self, now: float) -> list[Parked]:
        timers, expired = self._timers, []
        with self._lock:
            while timers and timers[0].at <= now:
                timer = heapq.heappop(timers)
                parked = self._parked.get(timer.fd)
                if parked is None or parked.token != timer.token:
                    continue  # stale: the connection moved on
                if parked.deadline > now:  # MinRate moved it: look again later
                    heapq.heappush(timers, _Timer(parked.deadline, timer.fd, parked.token))
                    continue
                expired.append(parked)
                self._take(timer.fd)
        return expired

    def reclaim_keepalive(self, now: float, idle_for: float) -> None:
        """Close keep-alive connections idle for ``idle_for`` seconds or more."""
        with self._lock:
            victims = [
                parked
                for parked in self._parked.values()
                if parked.idle_keepalive and now - parked.parked_at >= idle_for
            ]
            for parked in victims:
                self._take(parked.sock.fileno())
        for parked in victims:
            close_parked(parked)
        if victims:
            log.info("keepalive_reclaimed", closed=len(victims))
