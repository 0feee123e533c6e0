"""A traceback in an event (``exception``) is readable in both error-log formats:
on its own lines on a terminal, a JSON string with real newlines off one."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest
import structlog

from mpmd.logs.setup import configure_logging

TRACE = ('Traceback (most recent call last):\n  File "/srv/app/hello.py", line 1, in <module>\n'
         "    import helper\nZeroDivisionError: division by zero")


@pytest.fixture(autouse=True)
def _unconfigured() -> Iterator[None]:
    """configure_logging() sets a WARN-level filter for the whole process; later
    tests' capture_logs() would miss their info events (test_handler's)."""
    yield
    structlog.reset_defaults()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_traceback_is_shown_on_lines_of_its_own() -> None:
    out = Terminal()
    configure_logging(level="warn", stream=out)
    structlog.get_logger().critical("child_fatal", reason="application failed to load: x",
                                    exception=TRACE)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    first, *rest = text.rstrip("\n").splitlines()
    assert "child_fatal" in first and "application failed to load: x" in first
    assert "\\n" not in text
    assert rest == TRACE.splitlines()


def test_off_a_terminal_it_is_one_json_line_with_an_exception_string() -> None:
    out = io.StringIO()
    configure_logging(level="warn", stream=out)
    structlog.get_logger().critical("child_fatal", reason="r", exception=TRACE)
    (line,) = out.getvalue().splitlines()
    assert json.loads(line)["exception"] == TRACE
