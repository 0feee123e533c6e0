"""Exception hierarchy and the child exit-code protocol.

Library code raises these; only :mod:`mpmd.cli` turns them into process exit
statuses.  The child exit codes are Apache's (``include/ap_mpm.h``/``httpd.h``
APEXIT_*), so the master can tell "try again later" from "give up".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class MpmdError(Exception):
    """Base class of every error mpmd raises on purpose."""


@dataclass(frozen=True)
class Location:
    """Where something was written in a configuration file (1-based line; 0
    means the file as a whole, e.g. one that cannot be opened)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class ConfigError(MpmdError):
    """A configuration that cannot be used.  Always names the file and line."""

    def __init__(self, message: str, where: Location | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class StartupError(MpmdError):
    """The master could not start (bind, pidfile, application import …)."""


class ControlError(MpmdError):
    """A CLI verb could not reach or command the running server."""


class Terminated(BaseException):  # like KeyboardInterrupt: not an Exception
    """A signal (TERM, HUP) asked an interactive command to end; raised from its
    handler so that ``finally`` blocks (a terminal's saved mode) still run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class ChildExit(enum.IntEnum):
    """Exit codes a child uses to tell the master why it ended (Apache's APEXIT_*)."""

    OK = 0
    #: could not initialise (APEXIT_INIT); treated like CHILDFATAL at start-up
    INIT = 0x2
    #: a per-child resource could not be set up (APEXIT_CHILDINIT): throttle spawning
    CHILDINIT = 0x3
    #: temporary resource shortage (APEXIT_CHILDSICK): throttle spawning
    CHILDSICK = 0x7
    #: unrecoverable in this generation (APEXIT_CHILDFATAL): stop the server
    CHILDFATAL = 0xF
