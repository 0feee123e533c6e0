"""Helpers for the sans-I/O core tests: run a connection over given byte pieces."""

from __future__ import annotations

import random
from collections.abc import Iterable

from mpmd.config.model import RequestLimits
from mpmd.http.connection import HTTPConnection
from mpmd.http.errors import RemoteProtocolError
from mpmd.http.events import NEED_DATA, PAUSED, ConnectionClosed, Data, Event

#: What a run produced: events, plus ("error", status) when the core raised.
Outcome = list[Event | tuple[str, int]]


def pieces(data: bytes, how: str, seed: int = 7) -> list[bytes]:
    """``data`` cut whole, per byte, or at random sizes (fixed seed)."""
    if how == "whole":
        return [data]
    if how == "bytes":
        return [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 17)
        out.append(data[i : i + n])
        i += n
    return out


def run(
    chunks: Iterable[bytes], limits: RequestLimits | None = None, eof: bool = True
) -> tuple[Outcome, HTTPConnection]:
    """Drive a connection like a server would: feed on NEED_DATA, answer every
    request with an empty 200, start the next cycle while keep-alive holds."""
    conn = HTTPConnection(limits or RequestLimits())
    feed = iter(chunks)
    out: Outcome = []
    for _ in range(100_000):
        try:
            event = conn.next_event()
        except RemoteProtocolError as error:
            out.append(("error", error.error_status_hint))
            break
        if event is NEED_DATA:
            piece = next(feed, None)
            if piece is None and not eof:
                break
            conn.receive_data(piece or b"")
        elif event is PAUSED:
            conn.send_response(200, "OK", [("Content-Length", "0")])
            conn.send_eom()
            if not conn.keep_alive:
                break
            conn.start_next_cycle()
        else:
            out.append(event)  # type: ignore[arg-type]
            if isinstance(event, ConnectionClosed):
                break
    return merge_data(out), conn


def merge_data(outcome: Outcome) -> Outcome:
    """Adjacent Data events joined: chunking decides how the body is split."""
    merged: Outcome = []
    for item in outcome:
        last = merged[-1] if merged else None
        if isinstance(item, Data) and isinstance(last, Data):
            merged[-1] = Data(last.data + item.data)
        else:
            merged.append(item)
    return merged


def status_of(data: bytes, limits: RequestLimits | None = None) -> int | None:
    """The error status the core raises for ``data``, or None if it raises none."""
    outcome, _ = run([data], limits)
    errors = [item for item in outcome if isinstance(item, tuple)]
    return errors[0][1] if errors else None
