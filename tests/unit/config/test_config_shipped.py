"""The shipped configuration: both syntaxes describe the same server."""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from mpmd.config import load_config
from mpmd.config.model import PreforkSettings, ThreadedSettings

CONFIG = Path(__file__).resolve().parents[3] / "config"


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if line.startswith(text))


def test_conf_and_yaml_describe_the_same_server() -> None:
    conf = load_config(str(CONFIG / "mpmd.conf"), (), {})
    yaml = load_config(str(CONFIG / "mpmd.yaml"), (), {})
    # mpm_chosen_by names the LoadModule line, which each file has at its own line.
    same = dataclasses.replace(yaml, config_file=conf.config_file, mpm_chosen_by=conf.mpm_chosen_by)
    assert same == conf
    assert conf.mpm_chosen_by == (
        f"LoadModule at {CONFIG / 'mpmd.conf'}:{_line_of(CONFIG / 'mpmd.conf', 'LoadModule')}"
    )
    assert yaml.mpm_chosen_by == (
        f"LoadModule at {CONFIG / 'mpmd.yaml'}:{_line_of(CONFIG / 'mpmd.yaml', 'LoadModule')}"
    )
    assert [w.message for w in conf.warnings] == [w.message for w in yaml.warnings]


def test_shipped_server() -> None:
    config = load_config(str(CONFIG / "mpmd.conf"), (), {})
    assert [str(address) for address in config.listen] == ["127.0.0.1:8080"]
    assert config.mpm_module == "mpm_event_module"
    assert config.mpm_settings == DEBIAN_THREADED
    assert config.pid_file == str(CONFIG / "run" / "mpmd.pid")
    assert config.document_root == str(CONFIG / "htdocs")
    assert (config.error_log, config.log_level, config.keep_alive) == ("stderr", "info", True)
    assert config.custom_logs[0].target == str(CONFIG / "logs" / "access.log")
    assert [(loc.path, loc.handler, loc.require) for loc in config.locations] == [
        ("/server-status", "server-status", ("local",))
    ]
    assert [w.message for w in config.warnings if "DocumentRoot" not in w.message] == []


DEBIAN_THREADED = ThreadedSettings(
    start_servers=2,
    server_limit=16,
    max_request_workers=150,
    max_connections_per_child=0,
    thread_limit=64,
    threads_per_child=25,
    min_spare_threads=25,
    max_spare_threads=75,
    async_request_worker_factor=2.0,
)
DEBIAN_PREFORK = PreforkSettings(
    start_servers=5,
    server_limit=256,
    max_request_workers=150,
    max_connections_per_child=0,
    thread_limit=1,
    min_spare_servers=5,
    max_spare_servers=10,
)


@pytest.mark.parametrize(
    ("module", "expected"),
    [("mpm_worker_module", DEBIAN_THREADED), ("mpm_prefork_module", DEBIAN_PREFORK)],
)
@pytest.mark.parametrize("name", ["mpmd.conf", "mpmd.yaml"])
def test_switching_the_loadmodule_line_picks_up_debians_tuning(
    tmp_path: Path, all_mpms: None, module: str, expected: object, name: str
) -> None:
    root = tmp_path / "config"
    shutil.copytree(CONFIG, root, ignore=shutil.ignore_patterns("htdocs"))
    main = root / name
    lines = main.read_text(encoding="utf-8").splitlines(keepends=True)
    loads = [i for i, line in enumerate(lines) if line.startswith("LoadModule")]
    assert len(loads) == 1  # the one line an operator edits to switch MPMs
    lines[loads[0]] = lines[loads[0]].replace("mpm_event_module", module)
    main.write_text("".join(lines), encoding="utf-8")
    config = load_config(str(main), (), {})
    assert config.mpm_module == module
    assert config.mpm_settings == expected


def test_hello_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ in config/
    config = load_config(str(CONFIG / "examples" / "hello.conf"), (), {})
    assert (config.wsgi_app, config.wsgi_path) == ("hello:app", (str(CONFIG / "examples"),))
    assert config.server_root == str(CONFIG)
    spec = importlib.util.spec_from_file_location("hello", CONFIG / "examples" / "hello.py")
    assert spec is not None and spec.loader is not None
    hello = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hello)
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    body = b"".join(hello.app({}, lambda status, headers: seen.append((status, headers))))
    assert body == b"Hello, world!" and len(body) == 13
    assert seen == [
        ("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "13")])
    ]
