"""``mpmd [-f FILE] status [--json] [--watch [--interval S] [--count N]]``.

Reads the running server's ScoreBoardFile (see :mod:`mpmd.status.locate`),
never HTTP; the CLI only parses arguments and calls :func:`run_status`.
"""

from __future__ import annotations

import shutil
import socket
import sys
from typing import TextIO

from mpmd.config.model import ServerConfig
from mpmd.mpm import registry
from mpmd.status import jsonview, terminal
from mpmd.status.collect import collect, max_servers
from mpmd.status.handler import server_facts
from mpmd.status.locate import read_scoreboard
from mpmd.status.model import StatusReport
from mpmd.status.probe import PsutilProbe


class ScoreboardReader:
    """Reports on the server ``config`` describes, from a fresh copy each time."""

    def __init__(self, config: ServerConfig) -> None:
        mpm = registry.load(config.mpm_module)
        self.config = config
        self.facts = server_facts(config, mpm.name, mpm.capabilities.async_connections)
        self.probe = PsutilProbe()

    def report(self) -> StatusReport:
        board = read_scoreboard(self.config)
        try:
            servers = max_servers(self.config.mpm_settings.max_request_workers,
                                  board.thread_limit)
            return collect((board,), self.facts, servers=servers, probe=self.probe,
                           detail=True)
        finally:
            board.close()


def run_status(
    config: ServerConfig,
    out: TextIO,
    *,
    as_json: bool = False,
    watch: bool = False,
    interval: float = 1.0,
    count: int | None = None,
    keys_from: TextIO | None = None,
) -> int:
    """Print the status once, or keep redrawing it (``watch``, until ``q`` is
    typed on ``keys_from``, default stdin, when ``out`` is a terminal); the
    exit status.

    Raises ControlError if the server is not running, or went away while
    watched (:class:`~mpmd.status.terminal.ServerGone`).
    """
    reader = ScoreboardReader(config)
    name = config.server_name or socket.gethostname()
    if as_json and not watch:
        out.write(jsonview.render_json(reader.report(), name))
        return 0
    if not watch:
        out.write("\n".join(terminal.render_text(reader.report(), _width())) + "\n")
        return 0
    is_tty = out.isatty()

    def frame() -> list[str]:
        # A ControlError (the server is gone) goes to watch(), which waits a
        # moment for it to come back and otherwise ends the view with it.
        width = _width()
        title = f"Every {interval:g}s: mpmd status ({config.config_file})"[:width]
        report = reader.report()
        if as_json:
            return [jsonview.render_json(report, name).rstrip("\n")]
        return [title, "", *terminal.render_text(report, width)]

    # Keys only when the view is on a terminal too: piped into a pager, the
    # terminal's keys are the pager's.
    source = (sys.stdin if keys_from is None else keys_from) if is_tty else None
    with terminal.keyboard(source) as keys:
        return terminal.watch(frame, out, interval=interval, count=count, terminal=is_tty,
                              keys=keys)


def _width() -> int:
    return shutil.get_terminal_size((80, 24)).columns
