"""Apache's scoreboard state letters (``include/scoreboard.h``, mod_status key).

A worker slot holds one of these as a single byte; the letters are what
``server-status`` prints, so monitoring tools written for Apache read them.
"""

from __future__ import annotations

import enum


class State(bytes, enum.Enum):
    OPEN = b"."  # SERVER_DEAD: open slot with no current process
    STARTING = b"S"  # SERVER_STARTING
    READY = b"_"  # SERVER_READY: waiting for a connection
    READ = b"R"  # SERVER_BUSY_READ: reading a request
    WRITE = b"W"  # SERVER_BUSY_WRITE: sending a reply (the handler runs)
    KEEPALIVE = b"K"  # SERVER_BUSY_KEEPALIVE: keep-alive, waiting for the next request
    LOG = b"L"  # SERVER_BUSY_LOG: logging
    DNS = b"D"  # SERVER_BUSY_DNS: DNS lookup (never used by mpmd)
    CLOSING = b"C"  # SERVER_CLOSING: closing the connection
    GRACEFUL = b"G"  # SERVER_GRACEFUL: gracefully finishing
    IDLE_KILL = b"I"  # SERVER_IDLE_KILL: idle cleanup of a worker


# The sets hold the letters as ints, as iterating over ``bytes`` yields them.
#: States Apache's maintenance counts as idle capacity (status <= SERVER_READY,
#: excluding dead): a starting child is counted so slow starts do not cause
#: more forking (prefork.c, perform_idle_server_maintenance).
IDLE_STATES: frozenset[int] = frozenset(State.STARTING.value + State.READY.value)
#: States in which a slot serves a connection.
BUSY_STATES: frozenset[int] = frozenset(
    b"".join(
        s.value
        for s in (State.READ, State.WRITE, State.KEEPALIVE, State.LOG, State.DNS, State.CLOSING)
    )
)

#: mod_status's key, in its order.
LEGEND: tuple[tuple[str, str], ...] = (
    ("_", "Waiting for Connection"),
    ("S", "Starting up"),
    ("R", "Reading Request"),
    ("W", "Sending Reply"),
    ("K", "Keepalive (read)"),
    ("D", "DNS Lookup"),
    ("C", "Closing connection"),
    ("L", "Logging"),
    ("G", "Gracefully finishing"),
    ("I", "Idle cleanup of worker"),
    (".", "Open slot with no current process"),
)
