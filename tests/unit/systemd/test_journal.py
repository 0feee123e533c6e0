"""Syslog priority prefixes for journald, and when they apply."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
import structlog

from mpmd.systemd.journal import JournalPriority, connected_to_journal, priority


def journal_env(path: Path) -> dict[str, str]:
    info = os.stat(path)
    return {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}


def test_the_stream_systemd_connected_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    other = tmp_path / "other"
    with open(path, "w") as stream, open(other, "w") as redirected:
        assert connected_to_journal(stream, journal_env(path))
        assert not connected_to_journal(redirected, journal_env(path))
        assert not connected_to_journal(stream, {})


@pytest.mark.parametrize("value", ["", "12", "x:y", "1:2:3"])
def test_malformed_or_foreign_journal_stream(tmp_path: Path, value: str) -> None:
    with open(tmp_path / "f", "w") as stream:
        assert not connected_to_journal(stream, {"JOURNAL_STREAM": value})


def test_a_stream_without_descriptor_is_not_the_journal() -> None:
    assert not connected_to_journal(io.StringIO(), {"JOURNAL_STREAM": "1:2"})


@pytest.mark.parametrize(("method", "expected"), [
    ("critical", 2), ("exception", 3), ("error", 3), ("warning", 4), ("warn", 4),
    ("info", 6), ("msg", 6), ("debug", 7), ("something-else", 6),
])
def test_priority_of_each_method(method: str, expected: int) -> None:
    assert priority(method, {}) == expected


def test_the_level_key_wins_over_the_method() -> None:
    # add_log_level turns logger.exception() into level "error", warn into "warning".
    assert priority("exception", {"level": "error"}) == 3
    assert priority("info", {"level": "CRITICAL"}) == 2


def logger(out: io.StringIO) -> Any:
    chain = [structlog.processors.add_log_level,
             JournalPriority(structlog.processors.JSONRenderer())]
    return structlog.wrap_logger(structlog.PrintLogger(out), processors=chain,
                                 wrapper_class=structlog.make_filtering_bound_logger(0))


def test_each_line_carries_its_priority() -> None:
    out = io.StringIO()
    log = logger(out)
    log.error("reload_failed", reason="x")
    log.warning("child_exited")
    log.info("server_started")
    log.debug("child_ready")
    log.critical("child_fatal")
    prefixes = [line[:3] for line in out.getvalue().splitlines()]
    assert prefixes == ["<3>", "<4>", "<6>", "<7>", "<2>"]
    assert out.getvalue().splitlines()[0] == '<3>{"reason": "x", "event": "reload_failed", ' \
                                             '"level": "error"}'


def test_every_line_of_a_multi_line_event_is_prefixed() -> None:
    render = JournalPriority(lambda logger, name, event: "first\nsecond")
    assert render(None, "error", {}) == "<3>first\n<3>second"
    as_bytes = JournalPriority(lambda logger, name, event: b"a\nb")
    assert as_bytes(None, "warning", {}) == b"<4>a\n<4>b"
