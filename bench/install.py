"""Install what the harness needs when it is missing: wrk, Apache httpd, and the peers.

wrk and apache2 come from Debian (``apt-get install -y``, after ``apt-get update`` if the
first try fails); the Python peers go into a virtualenv of their own (``MPMD_BENCH_VENV``,
default /tmp/mpmd-bench-venv), never into the project's environment.  Idempotent: a
present tool is not reinstalled.  Raises BenchError when an install fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.procs import BenchError

Log = Callable[[str], None]
VENV = Path(os.environ.get("MPMD_BENCH_VENV", "/tmp/mpmd-bench-venv"))
PEER_PACKAGES = ("gunicorn", "uvicorn[standard]", "waitress", "matplotlib")
PEER_MODULES = ("gunicorn", "uvicorn", "httptools", "uvloop", "waitress", "matplotlib")
APT = {"wrk": (Path("/usr/bin/wrk"), "wrk"), "apache2": (Path("/usr/sbin/apache2"), "apache2")}


def venv_bin() -> Path:
    return VENV / "bin"


def ensure_all(log: Log = print) -> None:
    for name in APT:
        ensure_apt(name, log)
    ensure_venv(log)


def ensure_apt(name: str, log: Log = print) -> None:
    path, package = APT[name]
    if path.exists():
        return
    log(f"installing {package} (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if _run(["apt-get", "install", "-y", package], env) != 0:
        _run(["apt-get", "update"], env)
        if _run(["apt-get", "install", "-y", package], env) != 0 or not path.exists():
            raise BenchError(f"apt-get install {package} failed")


def ensure_venv(log: Log = print) -> None:
    python = venv_bin() / "python"
    if python.exists() and _run([str(python), "-c", "import " + ", ".join(PEER_MODULES)]) == 0:
        return
    log(f"installing the peers into {VENV}")
    if not python.exists() and _run([sys.executable, "-m", "venv", str(VENV)]) != 0:
        raise BenchError(f"cannot create the virtualenv {VENV}")
    if _run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES]) != 0:
        raise BenchError(f"pip install {' '.join(PEER_PACKAGES)} into {VENV} failed")


def _run(argv: list[str], env: dict[str, str] | None = None) -> int:
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        return 127
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=900, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode(errors="replace")[-2000:])
    return done.returncode
