"""RequestReadTimeout deadlines (mod_reqtimeout semantics), with time moved by hand."""

from __future__ import annotations

import math

import pytest

from mpmd.config.model import ReadTimeoutStage
from mpmd.http.timeouts import ReadDeadline


def test_a_disabled_stage_never_expires() -> None:
    deadline = ReadDeadline(ReadTimeoutStage(0), start=100.0)
    deadline.extend(10_000)
    assert deadline.remaining(1e9) == math.inf


def test_the_base_timeout_counts_from_the_start() -> None:
    deadline = ReadDeadline(ReadTimeoutStage(20.0), start=100.0)
    assert deadline.remaining(100.0) == 20.0
    assert deadline.remaining(119.5) == pytest.approx(0.5)
    assert deadline.remaining(120.5) < 0
    deadline.extend(5000)  # no MinRate: data buys no time
    assert deadline.remaining(120.5) < 0


def test_min_rate_buys_one_second_per_min_rate_bytes() -> None:
    deadline = ReadDeadline(ReadTimeoutStage(20.0, 40.0, 500), start=0.0)
    deadline.extend(500)
    assert deadline.remaining(0.0) == pytest.approx(21.0)
    deadline.extend(250)
    assert deadline.remaining(0.0) == pytest.approx(21.5)


def test_min_rate_extension_stops_at_the_maximum() -> None:
    deadline = ReadDeadline(ReadTimeoutStage(20.0, 40.0, 500), start=10.0)
    deadline.extend(1_000_000)
    assert deadline.remaining(10.0) == pytest.approx(40.0)  # header=20-40: never past 40 s


def test_without_a_maximum_min_rate_extends_without_bound() -> None:
    deadline = ReadDeadline(ReadTimeoutStage(20.0, None, 500), start=0.0)  # body=20,MinRate=500
    deadline.extend(500 * 1000)
    assert deadline.remaining(0.0) == pytest.approx(1020.0)
