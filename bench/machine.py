"""The machine and the versions under test, for the report (what, not how fast)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.install import venv_bin
from bench.mpmd_server import REPO

PEERS = ("gunicorn", "uvicorn", "httptools", "uvloop", "waitress", "matplotlib")


def describe() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "versions": {**_peer_versions(), "apache": _apache(), "wrk": _wrk(), "mpmd": _mpmd()},
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _output(argv: list[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout + done.stderr).strip() if done.returncode in (0, 1) else ""


def _peer_versions() -> dict[str, str]:
    code = ("import json, importlib.metadata as m; "
            f"print(json.dumps({{p: m.version(p) for p in {PEERS!r}}}))")
    text = _output([str(venv_bin() / "python"), "-c", code])
    try:
        versions: dict[str, str] = json.loads(text)
    except json.JSONDecodeError:
        return {p: "?" for p in PEERS}
    return versions


def _apache() -> str:
    text = _output(["/usr/sbin/apache2", "-v"])
    return text.splitlines()[0].split(":", 1)[-1].strip() if text else "not installed"


def _wrk() -> str:
    text = _output(["wrk", "-v"])
    return text.split()[1] if len(text.split()) > 1 else "?"


def _mpmd() -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    text = _output([sys.executable, "-m", "mpmd", "-V"], env)
    return text.splitlines()[0].split(":", 1)[-1].strip() if text else "not available"
