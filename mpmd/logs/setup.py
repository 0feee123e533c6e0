"""structlog configuration, done once per process (the master, then each child after fork).

Every event has a stable snake_case name and its data in keys, so tests and
operators match events, not prose.  Off a terminal the error log is JSON
lines; on a terminal, coloured console output.  ``LogLevel`` takes Apache's
level names and maps them onto structlog's filtering levels.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

import structlog

from mpmd.systemd.journal import JournalPriority, connected_to_journal

if TYPE_CHECKING:
    from mpmd.config.model import ServerConfig

#: Apache LogLevel -> stdlib numeric level used by structlog's filtering logger.
APACHE_LEVELS: dict[str, int] = {
    "emerg": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "crit": logging.CRITICAL,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "notice": logging.INFO,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    **{f"trace{i}": logging.DEBUG for i in range(1, 9)},
}

_open_streams: dict[str, TextIO] = {}
#: this process's "stderr" for its own events, when fd 2 was redirected (a child's
#: fd 2 is a pipe to the master, see mpmd.logs.capture)
_stderr: list[TextIO] = []


def use_stderr(stream: TextIO) -> None:
    """From now on ``ErrorLog stderr`` (and ``CustomLog stderr``) mean ``stream``."""
    _stderr[:] = [stream]


def stderr_stream() -> TextIO:
    """Where this process's own output for "stderr" goes."""
    return _stderr[0] if _stderr else sys.stderr


def error_stream(target: str) -> TextIO:
    """The stream for an ``ErrorLog`` target ("stderr" or an absolute path).

    A file is opened once per process in append mode and line-buffered, so each
    event is one ``write`` on an ``O_APPEND`` descriptor and lines from many
    processes never interleave.
    """
    if target in ("", "stderr"):
        return stderr_stream()
    stream = _open_streams.get(target)
    if stream is None or stream.closed:
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        stream = open(target, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        _open_streams[target] = stream
    return stream


def reopen_error_logs() -> None:
    """Close every ErrorLog file this process opened; the next
    :func:`configure_logging` opens them anew (after logrotate renamed them)."""
    for stream in _open_streams.values():
        if not stream.closed:
            stream.close()
    _open_streams.clear()


def configure_logging(
    config: ServerConfig | None = None,
    *,
    role: str = "master",
    level: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """(Re)configure structlog for this process."""
    target = config.error_log if config else "stderr"
    out = stream or error_stream(target)
    numeric = APACHE_LEVELS.get((level or (config.log_level if config else "warn")).lower())
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(role=role, pid=os.getpid())
    structlog.configure(
        processors=_processors(out),
        wrapper_class=structlog.make_filtering_bound_logger(numeric or logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def _processors(out: TextIO) -> list[Any]:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=False),
    ]
    if _is_tty(out):
        return [*shared, structlog.dev.ConsoleRenderer(colors=True)]
    renderer: Any = structlog.processors.JSONRenderer(sort_keys=False)
    if connected_to_journal(out):  # under systemd: "<3>" etc. so journalctl -p works
        renderer = JournalPriority(renderer)
    return [*shared, structlog.processors.format_exc_info, renderer]


def _is_tty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False
