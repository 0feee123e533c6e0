"""load_wsgi_app: spec forms, sys.path handling, and every failure as AppLoadError."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpmd.app.loader import AppLoadError, load_wsgi_app, parse_spec


@pytest.fixture
def app_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory and a fresh module name; sys.path and sys.modules restored after."""
    name = f"mpmd_test_app_{uuid.uuid4().hex}"
    saved = list(sys.path)
    yield tmp_path, name
    sys.path[:] = saved
    sys.modules.pop(name, None)


def write(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(source)


APP_SOURCE = """
def application(environ, start_response):
    return []

class Factory:
    class Inner:
        @staticmethod
        def app(environ, start_response):
            return []

not_callable = 42
"""


@pytest.mark.parametrize(
    ("suffix", "attr"),
    [("", "application"), (":application", "application"), (":Factory.Inner.app", "app")],
)
def test_spec_forms(app_dir: tuple[Path, str], suffix: str, attr: str) -> None:
    directory, name = app_dir
    write(directory, name, APP_SOURCE)
    app = load_wsgi_app(name + suffix, [str(directory)])
    assert app.__name__ == attr
    assert sys.path[0] == str(directory)


def test_paths_are_moved_to_front_in_order(app_dir: tuple[Path, str]) -> None:
    directory, name = app_dir
    write(directory, name, APP_SOURCE)
    sys.path.append(str(directory))
    load_wsgi_app(name, [str(directory), "/nonexistent-b"])
    assert sys.path[:2] == [str(directory), "/nonexistent-b"]
    assert sys.path.count(str(directory)) == 1


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("raise RuntimeError('database down')", "RuntimeError: database down"),
        ("import mpmd_no_such_module_xyz", "ModuleNotFoundError"),
        ("def broken(:\n", "SyntaxError"),
        ("import sys\nsys.exit(3)", "SystemExit: 3"),
    ],
)
def test_import_failures(app_dir: tuple[Path, str], source: str, expected: str) -> None:
    directory, name = app_dir
    write(directory, name, source)
    with pytest.raises(AppLoadError) as info:
        load_wsgi_app(name, [str(directory)])
    message = str(info.value)
    assert expected in message
    assert f"cannot import {name!r}" in message
    assert "Traceback" in message or "File " in message


def test_missing_module(app_dir: tuple[Path, str]) -> None:
    _, name = app_dir
    with pytest.raises(AppLoadError, match="No module named"):
        load_wsgi_app(name, [])


def test_missing_attribute_and_not_callable(app_dir: tuple[Path, str]) -> None:
    directory, name = app_dir
    write(directory, name, APP_SOURCE)
    with pytest.raises(AppLoadError, match="has no attribute 'nope'"):
        load_wsgi_app(f"{name}:Factory.nope", [str(directory)])
    with pytest.raises(AppLoadError, match="not callable"):
        load_wsgi_app(f"{name}:not_callable", [str(directory)])


@pytest.mark.parametrize("spec", ["", ":app", "mod:", "mod:1x", "mod:a..b"])
def test_invalid_specs(spec: str) -> None:
    with pytest.raises(AppLoadError, match="invalid WSGI application"):
        parse_spec(spec)
