"""What a connection driver is given: settings, an observer, the Date value.

Shared by both drivers (:mod:`mpmd.http.blocking`, :mod:`mpmd.http.parkable`)
and the MPM children that build them: :class:`ConnectionSettings` is built once
per generation from the configuration, :class:`ConnectionObserver` is what a
child learns of a connection (scoreboard, access log), :class:`HttpDate` the
``Date`` field value, formatted once a second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import Protocol

from mpmd import SERVER_SOFTWARE
from mpmd.config.model import RequestLimits, RequestReadTimeout, ServerConfig
from mpmd.http.events import Request
from mpmd.http.exchange import Transaction


@dataclass(frozen=True)
class ConnectionSettings:
    """What a connection driver needs of the configuration (built once per generation)."""

    keep_alive: bool
    keep_alive_timeout: float
    max_keep_alive_requests: int  # 0 = unlimited
    timeout: float
    limits: RequestLimits
    read_timeout: RequestReadTimeout
    server_header: str

    @classmethod
    def from_config(cls, config: ServerConfig) -> ConnectionSettings:
        return cls(
            keep_alive=config.keep_alive,
            keep_alive_timeout=config.keep_alive_timeout,
            max_keep_alive_requests=config.max_keep_alive_requests,
            timeout=config.timeout,
            limits=config.limits,
            read_timeout=config.request_read_timeout,
            server_header=SERVER_SOFTWARE,
        )


class ConnectionObserver(Protocol):
    """What the child learns of a connection (scoreboard letters, access log)."""

    def reading(self) -> None:
        """A request is being read (Apache's 'R')."""

    def handling(self, request: Request) -> None:
        """The handler runs ('W')."""

    def keepalive(self) -> None:
        """Idle between requests ('K')."""

    def closing(self) -> None:
        """Lingering close ('C')."""

    def finished(self, txn: Transaction) -> None:
        """A response is complete (or was cut short)."""


class HttpDate:
    """The ``Date`` value (RFC 9110 §6.6.1), formatted once per second.

    Safe to share between threads: the second and its text are one tuple, so a
    reader never pairs a new second with an old text.  The event MPM shares one
    per child, as its sessions last only while a connection's requests come
    back to back."""

    __slots__ = ("_cached",)

    def __init__(self) -> None:
        self._cached = (-1, "")

    def __call__(self) -> str:
        second = int(time.time())
        cached = self._cached
        if second != cached[0]:
            cached = self._cached = (second, formatdate(second, usegmt=True))
        return cached[1]
