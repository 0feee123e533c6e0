"""What every scenario runner gets: the process groups, the site, the profile, a logger."""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import BenchError, Groups
from bench.profiles import Profile
from bench.servers import Handle, Options, Server, launch, running, wait_ready
from bench.site import Site


@dataclass
class Ctx:
    groups: Groups
    site: Site
    work: Path
    profile: Profile
    started: float = field(default_factory=time.monotonic)
    _serial: Iterator[int] = field(default_factory=itertools.count)

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def run(self, server: Server, opts: Options) -> AbstractContextManager[Handle]:
        """Start ``server`` in a fresh private directory; stopped when the block ends."""
        return running(self.groups, server, self.site, self._root(server, opts), opts)

    def launch(self, server: Server, opts: Options) -> Handle:
        """Start ``server`` without waiting; the caller stops it with ``groups.stop``."""
        return launch(self.groups, server, self.site, self._root(server, opts), opts)

    def start_all(self, stack: ExitStack, jobs: list[tuple[Server, Options]]) -> list[
        Handle | BenchError
    ]:
        """Launch every job at once (much faster than one by one), then wait for each;
        every group is stopped when ``stack`` closes.  One result per job, in order."""
        launched = []
        for server, opts in jobs:
            handle = self.launch(server, opts)
            stack.callback(self.groups.stop, handle.pgid)
            launched.append(handle)
        return [_ready_or_error(handle) for handle in launched]

    def _root(self, server: Server, opts: Options) -> Path:
        return self.work / f"{server.name}-{opts.app.name}-{next(self._serial)}"


def _ready_or_error(handle: Handle) -> Handle | BenchError:
    try:
        wait_ready(handle)
    except BenchError as exc:
        return exc
    return handle
