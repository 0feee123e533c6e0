"""Why a child could not start, told to the master in full.

A child that cannot start (its application does not import, privileges
cannot be dropped) exits with APEXIT_CHILDFATAL.  The master then says why —
in ``child_fatal``, ``child_failed_to_start`` or ``reload_failed``, in the
answer to ``mpmd reload``, and in systemd's ``STATUS=`` — so the reason must
reach it whole: a traceback cut mid-frame helps nobody.

The reason travels two ways:

- **A datagram on the failure channel**, an ``AF_UNIX``/``SOCK_DGRAM``
  socketpair the master creates once and every child inherits.  A datagram
  is atomic, so the reports of many children failing at once (``StartServers
  5`` of an application that does not import) never interleave, and one
  socket for all children costs the master one descriptor, not one per child.
  A report is JSON (``pid``, ``headline``, ``details``) of at most
  :data:`MAX_REPORT` bytes; longer details are cut at a line boundary and say
  ``(truncated, see the error log)`` — the child then logs them in full.
- **The scoreboard slot's failure field** (240 bytes), as before: the headline
  only, cut at a word boundary with the same note.  The master uses it when
  no datagram came (the send timed out, or the child died in between).

Guarantees: :meth:`FailureChannel.send` never raises and never blocks longer
than :data:`SEND_TIMEOUT`; the master's side never blocks and keeps at most
:data:`MAX_PENDING` unclaimed reports (a misbehaving child cannot grow it).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import dataclass

#: bytes of one report datagram (well under AF_UNIX's default send buffer)
MAX_REPORT = 64 * 1024
#: seconds a child waits for room in the master's receive queue
SEND_TIMEOUT = 2.0
#: reports kept for children not reaped yet
MAX_PENDING = 1024
TRUNCATED = "(truncated, see the error log)"


@dataclass(frozen=True)
class ChildFailure:
    """Why a child could not start: one line, and what explains it."""

    headline: str
    details: str = ""  # multi-line: the sys.path searched, the traceback …

    def text(self) -> str:
        return f"{self.headline}\n{self.details}" if self.details else self.headline


def cut_lines(text: str, limit: int) -> tuple[str, bool]:
    """``text`` within ``limit`` UTF-8 bytes, cut after a whole line; (text, cut?)."""
    if len(text.encode("utf-8", "replace")) <= limit:
        return text, False
    budget = limit - len(TRUNCATED.encode()) - 1
    kept: list[str] = []
    used = 0
    for line in text.splitlines(keepends=True):
        size = len(line.encode("utf-8", "replace"))
        if used + size > budget:
            break
        kept.append(line)
        used += size
    return "".join(kept) + TRUNCATED, True


def cut_words(text: str, limit: int) -> str:
    """One line within ``limit`` UTF-8 bytes, cut between words (for the scoreboard)."""
    line = " ".join(text.split())
    if len(line.encode("utf-8", "replace")) <= limit:
        return line
    budget = limit - len(TRUNCATED.encode()) - 1
    words: list[str] = []
    used = 0
    for word in line.split(" "):
        size = len(word.encode("utf-8", "replace")) + (1 if words else 0)
        if used + size > budget:
            break
        words.append(word)
        used += size
    return " ".join([*words, TRUNCATED])


class FailureChannel:
    """The master's socketpair: children send on one end, the master reads the other."""

    def __init__(self) -> None:
        self._receiver, self._sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._receiver.setblocking(False)
        self._sender.settimeout(SEND_TIMEOUT)
        self._pending: dict[int, ChildFailure] = {}

    # -- the master's side ------------------------------------------------------

    def fileno(self) -> int:
        """The receiving end, for the master's ``select``."""
        return self._receiver.fileno()

    def private_fds(self) -> tuple[int, ...]:
        """What children close: only the master reads."""
        return (self._receiver.fileno(),)

    def drain(self) -> None:
        """Read every report that has arrived (never blocks)."""
        while True:
            try:
                data = self._receiver.recv(MAX_REPORT + 1024)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._store(data)

    def take(self, pid: int) -> ChildFailure | None:
        """The report of ``pid`` (reaped just now), if it sent one."""
        self.drain()  # it was sent before the child exited: it is queued by now
        return self._pending.pop(pid, None)

    def close(self) -> None:
        self._receiver.close()
        self._sender.close()

    def _store(self, data: bytes) -> None:
        try:
            message = json.loads(data)
            pid = int(message["pid"])
            failure = ChildFailure(str(message["headline"]), str(message.get("details", "")))
        except (ValueError, KeyError, TypeError):
            return  # not ours to explain: a garbled report is dropped
        if len(self._pending) >= MAX_PENDING:
            self._pending.pop(next(iter(self._pending)))
        self._pending[pid] = failure

    # -- the child's side -------------------------------------------------------

    def send(self, failure: ChildFailure) -> bool:
        """Report ``failure`` for this process; True when the master has it in full."""
        payload, cut = _encode(failure)
        with contextlib.suppress(OSError):
            self._sender.send(payload)
            return not cut
        return False


def _encode(failure: ChildFailure) -> tuple[bytes, bool]:
    """The datagram for ``failure`` within MAX_REPORT bytes; (datagram, details cut?)."""
    headline = failure.headline[:1024]  # a headline is one line: this never cuts a real one

    def dump(details: str) -> bytes:
        return json.dumps({"pid": os.getpid(), "headline": headline,
                           "details": details}).encode()

    details, cut = failure.details, headline != failure.headline
    budget = len(failure.details.encode("utf-8", "replace"))
    while len(payload := dump(details)) > MAX_REPORT:
        # JSON escapes newlines and quotes: shrink by what the escaping added
        budget -= len(payload) - MAX_REPORT + 64
        if budget <= len(TRUNCATED) + 1:
            return dump(""), True
        details, cut = cut_lines(failure.details, budget)[0], True
    return payload, cut
