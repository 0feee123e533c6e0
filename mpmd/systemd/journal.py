"""Syslog priorities for journald: ``journalctl -p err`` finds mpmd's errors.

journald reads a service's stderr line by line and, with the default
``SyslogLevelPrefix=yes``, takes a leading ``<N>`` as the line's priority
(sd-daemon(3): ``<3>`` SD_ERR … ``<7>`` SD_DEBUG) and strips it.  Without the
prefix every line is stored at the unit's ``SyslogLevel=`` (info).

systemd sets ``$JOURNAL_STREAM`` to ``device:inode`` of the stream it
connected; :func:`connected_to_journal` compares that with the stream mpmd
logs to, so a redirected stderr (``mpmd … 2>file`` from a unit's shell, a
terminal, an ``ErrorLog`` file) never gets prefixes (systemd.exec(5)).

:class:`JournalPriority` wraps the final renderer of a structlog chain and
prefixes the rendered line; it needs the level, which the renderer drops.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

#: structlog method / level name -> syslog priority (sd-daemon.h SD_*)
PRIORITIES: dict[str, int] = {
    "critical": 2,  # SD_CRIT
    "fatal": 2,
    "error": 3,  # SD_ERR
    "exception": 3,
    "err": 3,
    "warning": 4,  # SD_WARNING
    "warn": 4,
    "notice": 5,  # SD_NOTICE
    "info": 6,  # SD_INFO
    "msg": 6,
    "debug": 7,  # SD_DEBUG
}
DEFAULT_PRIORITY = 6  # what journald would assume anyway

Renderer = Callable[[Any, str, Any], Any]


def connected_to_journal(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``stream`` is the journal stream systemd connected this service to."""
    expected = environ.get("JOURNAL_STREAM", "")
    device, sep, inode = expected.partition(":")
    if not sep:
        return False
    try:
        info = os.fstat(stream.fileno())
        return (info.st_dev, info.st_ino) == (int(device), int(inode))
    except (OSError, ValueError, AttributeError):
        return False  # no descriptor (a StringIO), closed, or a malformed variable


def priority(method_name: str, event_dict: Any) -> int:
    """The syslog priority of one event: its ``level`` key, else the method called."""
    level = event_dict.get("level") if isinstance(event_dict, Mapping) else None
    return PRIORITIES.get(str(level or method_name).lower(), DEFAULT_PRIORITY)


@dataclass(frozen=True)
class JournalPriority:
    """A structlog processor: ``renderer``'s line with ``<N>`` in front."""

    renderer: Renderer

    def __call__(self, logger: Any, method_name: str, event_dict: Any) -> Any:
        level = priority(method_name, event_dict)
        rendered = self.renderer(logger, method_name, event_dict)
        # journald splits at newlines: every line of a traceback gets the prefix too.
        if isinstance(rendered, bytes):
            prefix = b"<%d>" % level
            return prefix + rendered.replace(b"\n", b"\n" + prefix)
        prefix_text = f"<{level}>"
        return prefix_text + str(rendered).replace("\n", "\n" + prefix_text)
