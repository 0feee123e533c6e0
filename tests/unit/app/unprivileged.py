"""Permission checks that hold even when the tests run as root.

root ignores file modes (CAP_DAC_OVERRIDE), so a check that needs EACCES runs
in a forked child that has become ``nobody``, in a tree that ``nobody`` may
traverse (pytest's own temporary directories are private to their owner).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

NOBODY = 65534


@contextlib.contextmanager
def shared_tree() -> Iterator[Path]:
    """A fresh directory everyone may traverse, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="mpmd-perm-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for sub in path.rglob("*"):  # give back what the test took away
            if not sub.is_symlink():
                sub.chmod(0o755)
        shutil.rmtree(path)


def run_unprivileged(check: Callable[[], None]) -> None:
    """Run ``check`` as this user, or as ``nobody`` in a forked child when root."""
    if os.geteuid() != 0:
        check()
        return
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            check()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unprivileged check failed (see stderr)"
