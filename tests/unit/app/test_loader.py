"""load_wsgi_app: spec forms, sys.path handling, and every failure as AppLoadError."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpmd.app.loader import AppLoadError, load_wsgi_app, parse_spec
from mpmd.errors import Location


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


# -- what an import failure tells the operator (issue 12, item 11) -------------------


def test_a_deep_failure_keeps_every_app_frame_and_drops_the_machinery(
    app_dir: tuple[Path, str]
) -> None:
    directory, name = app_dir
    write(directory, name, f"import {name}_mid\n")
    write(directory, f"{name}_mid", f"x = 1\nimport {name}_deep\n")
    write(directory, f"{name}_deep", "def f():\n    raise KeyError('settings')\n\nf()\n")
    try:
        with pytest.raises(AppLoadError) as info:
            load_wsgi_app(name, [str(directory)], where=Location("/etc/mpmd.conf", 12))
    finally:
        for suffix in ("_mid", "_deep"):
            sys.modules.pop(name + suffix, None)
    error = info.value
    assert error.headline == (
        f"cannot import {name!r}: KeyError: 'settings' (WSGIApp at /etc/mpmd.conf:12)"
    )
    frames = [line for line in error.traceback.splitlines() if line.startswith("  File ")]
    assert frames == [
        f'  File "{directory / name}.py", line 1, in <module>',
        f'  File "{directory / name}_mid.py", line 2, in <module>',
        f'  File "{directory / name}_deep.py", line 4, in <module>',
        f'  File "{directory / name}_deep.py", line 2, in f',
    ]
    assert error.traceback.startswith("Traceback (most recent call last):\n")
    assert error.search_path == ()  # not an ImportError: the path is beside the point
    assert str(error) == f"{error.headline}\n{error.traceback.rstrip()}"


def test_a_missing_module_lists_the_sys_path_searched(app_dir: tuple[Path, str]) -> None:
    directory, name = app_dir
    write(directory, name, "import mpmd_no_such_module_xyz\n")
    sys.path.insert(1, "")
    with pytest.raises(AppLoadError) as info:
        load_wsgi_app(name, [str(directory)])
    error = info.value
    assert error.summary == (
        f"cannot import {name!r}: ModuleNotFoundError: No module named 'mpmd_no_such_module_xyz'"
    )
    assert error.search_path[0] == str(directory)
    listed = error.details().split("\nTraceback", 1)[0].splitlines()
    assert listed[:2] == ["sys.path searched:", f"  {directory}"]
    assert "  '' (the current directory)" in listed


def test_a_syntax_error_headline_names_file_and_line(app_dir: tuple[Path, str]) -> None:
    directory, name = app_dir
    write(directory, name, "x = 1\ndef broken(:\n")
    with pytest.raises(AppLoadError) as info:
        load_wsgi_app(name, [str(directory)])
    assert "\n" not in info.value.headline
    assert info.value.headline.endswith(f"({directory / name}.py, line 2)")
    assert "SyntaxError" in info.value.headline


def test_configuration_errors_name_the_directive(app_dir: tuple[Path, str]) -> None:
    directory, name = app_dir
    write(directory, name, APP_SOURCE)
    where = Location("/srv/mpmd.conf", 3)
    with pytest.raises(AppLoadError) as info:
        load_wsgi_app(f"{name}:nope", [str(directory)], where=where)
    assert info.value.headline.endswith("(WSGIApp at /srv/mpmd.conf:3)")
    with pytest.raises(AppLoadError) as bad:
        load_wsgi_app("mod:1x", [], where=where)
    assert str(bad.value).startswith("invalid WSGI application 'mod:1x'")
    assert str(bad.value).endswith("(WSGIApp at /srv/mpmd.conf:3)")
