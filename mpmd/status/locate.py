"""Finding and reading a running server's ScoreBoardFile (for ``mpmd status``).

``mpmd status`` does not ask the server over HTTP: it reads the scoreboard
the master keeps in the ScoreBoardFile (Apache's directive), so it works
with no ``<Location>`` and with every worker busy.  The file holds client
addresses and request lines with their query strings, so the master creates
it mode 0600 (:data:`~mpmd.scoreboard.board.FILE_MODE`): only the user that
started the server (root under systemd) may read it, the same user the
control socket obeys.  With no ScoreBoardFile configured the file is
expected next to the PidFile (``run/mpmd.pid`` -> ``run/mpmd.scoreboard``),
where the master creates it.

Every failure is a :class:`~mpmd.errors.ControlError` whose message says
what to do.
"""

from __future__ import annotations

import os

from mpmd.config.model import ServerConfig
from mpmd.errors import ControlError
from mpmd.scoreboard.board import Scoreboard

SUFFIX = ".scoreboard"


def default_scoreboard_file(pid_file: str) -> str:
    """Next to the PidFile: ``run/mpmd.pid`` -> ``run/mpmd.scoreboard``."""
    base, _ = os.path.splitext(pid_file)
    return base + SUFFIX


def scoreboard_path(config: ServerConfig) -> str:
    """The ScoreBoardFile, else the default next to the PidFile, else ""."""
    if config.scoreboard_file:
        return config.scoreboard_file
    return default_scoreboard_file(config.pid_file) if config.pid_file else ""


def read_scoreboard(config: ServerConfig) -> Scoreboard:
    """A private copy of the running server's scoreboard, as it is now."""
    path = scoreboard_path(config)
    if not path:
        raise ControlError("mpmd status needs a ScoreBoardFile (or a PidFile to find it by)")
    try:
        board = Scoreboard.load(path)
    except FileNotFoundError:
        raise ControlError(
            f"no scoreboard at {path}: is mpmd running with this configuration?"
        ) from None
    except PermissionError:
        raise ControlError(
            f"cannot read the scoreboard {path}: it is readable only by the user that "
            f"started mpmd (mode 0600, it holds client addresses and request lines); "
            f"run mpmd status as that user"
        ) from None
    except (OSError, ValueError) as exc:
        raise ControlError(f"cannot read the scoreboard {path}: {exc}") from exc
    pid = board.header.master_pid
    if not _alive(pid):
        board.close()
        raise ControlError(f"mpmd (pid {pid}?) not running; {path} is left from it")
    return board


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but it exists
    return True
