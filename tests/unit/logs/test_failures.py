"""The failure channel and the bounds of a child's failure report."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from mpmd.logs.failures import (
    MAX_PENDING,
    MAX_REPORT,
    TRUNCATED,
    ChildFailure,
    FailureChannel,
    cut_lines,
    cut_words,
)


@pytest.fixture
def channel() -> Iterator[FailureChannel]:
    ch = FailureChannel()
    yield ch
    ch.close()


def test_a_report_arrives_whole_and_is_claimed_once(channel: FailureChannel) -> None:
    trace = "Traceback (most recent call last):\n" + "".join(
        f'  File "/srv/app/m{i}.py", line {i}, in <module>\n' for i in range(200))
    assert channel.send(ChildFailure("application failed to load: x", trace))
    got = channel.take(os.getpid())
    assert got == ChildFailure("application failed to load: x", trace)
    assert channel.take(os.getpid()) is None


def test_reports_of_many_children_do_not_mix(channel: FailureChannel) -> None:
    for pid in range(100, 110):
        payload = {"pid": pid, "headline": f"child {pid}", "details": "d" * 3000}
        channel._sender.send(json.dumps(payload).encode())
    channel.drain()
    assert [channel.take(pid) for pid in range(100, 110)] == [
        ChildFailure(f"child {pid}", "d" * 3000) for pid in range(100, 110)]


def test_garbled_datagrams_are_dropped(channel: FailureChannel) -> None:
    channel._sender.send(b"\xff not json")
    channel._sender.send(b'{"headline": "no pid"}')
    channel.drain()
    assert channel._pending == {}


def test_unclaimed_reports_are_bounded(channel: FailureChannel) -> None:
    for pid in range(MAX_PENDING + 5):
        channel._store(json.dumps({"pid": pid, "headline": "h"}).encode())
    assert len(channel._pending) == MAX_PENDING
    assert channel.take(MAX_PENDING + 4) is not None and channel.take(0) is None


def test_oversized_details_are_cut_at_a_line_and_say_so(channel: FailureChannel) -> None:
    details = "".join(f"line {i:06d} " + "z" * 80 + "\n" for i in range(2000))  # ~180 KB
    assert not channel.send(ChildFailure("headline", details))  # not in full
    got = channel.take(os.getpid())
    assert got is not None and got.details.endswith("\n" + TRUNCATED)
    body = got.details.removesuffix(TRUNCATED)
    assert details.startswith(body) and body.endswith("\n")  # whole lines only
    assert len(json.dumps({"pid": 1, "headline": "headline", "details": got.details})) \
        <= MAX_REPORT


def test_cut_lines() -> None:
    assert cut_lines("a\nb\n", 100) == ("a\nb\n", False)
    text, cut = cut_lines("aaaa\nbbbb\n" + "c" * 100 + "\n", 10 + len(TRUNCATED) + 1)
    assert (text, cut) == ("aaaa\nbbbb\n" + TRUNCATED, True)


def test_cut_words_never_cuts_inside_a_word() -> None:
    words = " ".join(f"word{i:02d}" for i in range(60))
    out = cut_words(words, 239)
    assert len(out.encode()) <= 239 and out.endswith(" " + TRUNCATED)
    kept = out.removesuffix(" " + TRUNCATED).split(" ")
    assert kept == words.split(" ")[: len(kept)]
    assert cut_words("one\nline  only", 239) == "one line only"
