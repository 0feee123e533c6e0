"""The event MPM's parked connections: who waits in the poller, until when.

Owned by the poller thread alone (workers hand connections back through a
queue), so it needs no lock.  Each parked connection is in the epoll with a
one-shot registration, re-armed each time it is parked, and has a deadline
in a heap: RequestReadTimeout's header stage while a head is under way,
KeepAliveTimeout while it idles.  Timers are invalidated lazily by a token
that every move of the connection bumps.
"""

from __future__ import annotations

import heapq
import select
from dataclasses import dataclass, field

import structlog

from mpmd.http.parkable import Parked, answer_timeout, close_parked

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
        self.idle_keepalive = 0  # parked connections waiting for a next request

    def __len__(self) -> int:
        return len(self._parked)

    def __contains__(self, fd: int) -> bool:
        return fd in self._parked

    def park(self, parked: Parked) -> None:
        fd = parked.sock.fileno()
        self._parked[fd] = parked
        self.idle_keepalive += parked.idle_keepalive
        if parked.registered:
            self._epoll.modify(fd, _IN_ONCE)  # re-arm: one-shot disarmed it
        else:
            self._epoll.register(fd, _IN_ONCE)
            parked.registered = True
        parked.token += 1
        heapq.heappush(self._timers, _Timer(parked.deadline, fd, parked.token))

    def unpark(self, fd: int) -> Parked:
        parked = self._parked.pop(fd)
        self.idle_keepalive -= parked.idle_keepalive
        # No epoll_ctl: a one-shot registration that fired is disarmed already,
        # and one that did not is dropped by the kernel when the socket closes.
        parked.token += 1  # its timers are stale now
        return parked

    def timeout(self, now: float, longest: float) -> float:
        """How long the poller may sleep before the next deadline."""
        if not self._timers:
            return longest
        return min(longest, max(self._timers[0].at - now, 0.0))

    def expire(self, now: float) -> None:
        """End the connections whose deadline passed (408 if a head had begun)."""
        timers = self._timers
        while timers and timers[0].at <= now:
            timer = heapq.heappop(timers)
            parked = self._parked.get(timer.fd)
            if parked is None or parked.token != timer.token:
                continue  # stale: the connection moved on
            if parked.deadline > now:  # MinRate moved it: look again later
                heapq.heappush(timers, _Timer(parked.deadline, timer.fd, parked.token))
                continue
            answer_timeout(self.unpark(timer.fd))

    def reclaim_keepalive(self, now: float, idle_for: float) -> None:
        """Close keep-alive connections idle for ``idle_for`` seconds or more."""
        victims = [
            fd
            for fd, parked in self._parked.items()
            if parked.idle_keepalive and now - parked.parked_at >= idle_for
        ]
        for fd in victims:
            close_parked(self.unpark(fd))
        if victims:
            log.info("keepalive_reclaimed", closed=len(victims))
