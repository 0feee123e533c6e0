"""Generations: one configuration, one MPM and one scoreboard each.

Every restart makes a new generation.  Unlike Apache, a generation owns its
*own* scoreboard, sized by its own ServerLimit and ThreadLimit, so a reload
may change both, and may switch the MPM (prefork's one slot per child and
event's ThreadsPerChild slots live side by side while the old one drains).

Listeners are shared between generations through :class:`ListenerPool`: an
address present in the old and the new configuration keeps its socket (and
the connections queued on it); a new address is bound before anything else
changes; a removed one is closed only when no generation uses it any more.
"""

from __future__ import annotations

import enum
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mpmd.config.model import ListenAddress, ServerConfig
from mpmd.master import listeners as listeners_mod
from mpmd.master.shutdown import Escalation
from mpmd.mpm.base import MPM
from mpmd.scoreboard.board import Scoreboard

if TYPE_CHECKING:
    from mpmd.app.runtime import Runtime
    from mpmd.http.exchange import Handler


class Stage(enum.Enum):
    STAGING = "staging"  # children starting; the previous generation still serves
    ACTIVE = "active"  # the generation that serves new connections
    DRAINING = "draining"  # told to finish what it serves and exit
    STOPPING = "stopping"  # being stopped with the escalation table


@dataclass(eq=False)
class Generation:
    number: int
    config: ServerConfig
    mpm: MPM
    make_handler: Callable[[Runtime], Handler]
    scoreboard: Scoreboard
    listeners: tuple[socket.socket, ...]
    mpm_state: Any
    stage: Stage = Stage.STAGING
    started: float = 0.0  # monotonic: when staging began
    deadline: float | None = None  # staging or draining deadline
    escalation: Escalation | None = None
    wake_at: float | None = None  # when its maintenance wants to run
    spawned: set[int] = field(default_factory=set)  # slots forked at least once
    replacing: tuple[int, int] | None = None  # (old slot, its replacement's slot)

    @property
    def threads(self) -> int:
        return self.mpm.threads_per_child(self.config.mpm_settings)

    @property
    def process_limit(self) -> int:
        """How many children may run: MaxRequestWorkers / threads, at most ServerLimit."""
        settings = self.config.mpm_settings
        return min(settings.server_limit, max(settings.max_request_workers // self.threads, 1))

    def serving(self) -> bool:
        """Some child of this generation got past starting (it can serve)."""
        snapshot = self.scoreboard.snapshot()
        return any(
            p.states and any(s != b"S"[0] for s in p.states)
            for p in snapshot.live(self.number)
        )

    def ready(self) -> bool:
        """Every child forked while staging has left the STARTING state."""
        snapshot = self.scoreboard.snapshot()
        live = snapshot.live(self.number)
        return bool(live) and len(live) >= len(self.spawned) and all(
            b"S"[0] not in p.states for p in live
        )


def address_key(address: ListenAddress) -> tuple[str, str, int, str]:
    return (address.kind, address.host, address.port, address.path)


class ListenerPool:
    """Bound sockets by address, shared by every generation that listens there."""

    def __init__(self, backlog: int) -> None:
        self.backlog = backlog
        self._sockets: dict[tuple[str, str, int, str], socket.socket] = {}
        #: sockets systemd passed in: never closed or unlinked while we run
        self._inherited: set[int] = set()
        #: inherited sockets no Listen names: every generation serves them too
        self.extras: tuple[socket.socket, ...] = ()

    def adopt(
        self, matched: dict[ListenAddress, socket.socket], extras: list[socket.socket]
    ) -> None:
        """Take the sockets of socket activation in place of binding."""
        for address, sock in matched.items():
            self._sockets[address_key(address)] = sock
            self._inherited.add(id(sock))
        self._inherited.update(id(s) for s in extras)
        self.extras = tuple(extras)

    def acquire(self, addresses: tuple[ListenAddress, ...]) -> tuple[socket.socket, ...]:
        """Sockets for ``addresses``: existing ones reused, missing ones bound.

        On failure nothing bound by this call stays open and the pool is unchanged.
        """
        fresh: dict[tuple[str, str, int, str], socket.socket] = {}
        try:
            for address in addresses:
                key = address_key(address)
                if key not in self._sockets and key not in fresh:
                    fresh[key] = listeners_mod.bind_one(address, self.backlog)
        except BaseException:
            for sock in fresh.values():
                sock.close()
            raise
        self._sockets.update(fresh)
        return tuple(self._sockets[address_key(a)] for a in addresses) + self.extras

    def release_unused(self, in_use: list[tuple[socket.socket, ...]]) -> list[str]:
        """Close every socket no generation listens on; returns their names."""
        keep = {id(s) for group in in_use for s in group} | self._inherited
        closed = []
        for key, sock in list(self._sockets.items()):
            if id(sock) not in keep:
                closed.append(_describe(key))
                sock.close()
                del self._sockets[key]
                if key[0] == "unix":
                    listeners_mod.unlink_path(key[3])
        return closed

    def close_all(self) -> None:
        for key, sock in self._sockets.items():
            inherited = id(sock) in self._inherited
            sock.close()
            if key[0] == "unix" and not inherited:  # systemd owns its socket files
                listeners_mod.unlink_path(key[3])
        for sock in self.extras:
            sock.close()
        self._sockets.clear()


def _describe(key: tuple[str, str, int, str]) -> str:
    kind, host, port, path = key
    return f"unix:{path}" if kind == "unix" else f"{host or '*'}:{port}"
