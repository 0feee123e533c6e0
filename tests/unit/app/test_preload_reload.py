"""A reload after ``WSGIPreload On`` imports the application afresh.

docs/configuration.md: "A reload imports it afresh in the new children (the
master's modules cannot be re-imported in place)".  The children of a reload
are forked from the master, whose ``sys.modules`` holds the preloaded
application: they must drop its modules first, or ``import`` hands them the
master's copy, the old code.  Libraries the application imported stay.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpmd.app.factory import forget_preloaded, handler_factory
from mpmd.app.loader import load_wsgi_app
from mpmd.config import load_config
from mpmd.config.model import ServerConfig

APP = """
import json  # a library: imported before, stays
import {helper}

def application(environ, start_response):
    return [{helper}.VERSION]
"""


@pytest.fixture
def preloaded(tmp_path: Path) -> Iterator[tuple[ServerConfig, str, str]]:
    """A preloaded application and its helper module; sys.path/modules restored after."""
    suffix = uuid.uuid4().hex
    app, helper = f"mpmd_preapp_{suffix}", f"mpmd_prehelper_{suffix}"
    (tmp_path / f"{app}.py").write_text(APP.format(helper=helper))
    (tmp_path / f"{helper}.py").write_text('VERSION = b"1"\n')
    conf = tmp_path / "mpmd.conf"
    conf.write_text("Listen 127.0.0.1:8080\nLoadModule mpm_prefork_module x.so\n"
                    f"WSGIApp {app}:application\nWSGIPath {tmp_path}\nWSGIPreload On\n")
    saved = list(sys.path)
    config = load_config(str(conf), (), {})
    yield config, app, helper
    sys.path[:] = saved
    for name in (app, helper):
        sys.modules.pop(name, None)


def test_preload_marks_the_applications_own_modules(
    preloaded: tuple[ServerConfig, str, str],
) -> None:
    config, app, helper = preloaded
    handler_factory(config)
    assert app in sys.modules and helper in sys.modules
    forget_preloaded()
    assert app not in sys.modules and helper not in sys.modules
    assert "json" in sys.modules  # libraries are not re-imported


def test_after_forgetting_the_import_reads_the_new_code(
    preloaded: tuple[ServerConfig, str, str], tmp_path: Path
) -> None:
    config, app, helper = preloaded
    handler_factory(config)
    (tmp_path / f"{helper}.py").write_text('VERSION = b"2, longer"\n')
    forget_preloaded()
    fresh = load_wsgi_app(f"{app}:application", config.wsgi_path)
    assert list(fresh({}, lambda *a: None)) == [b"2, longer"]  # type: ignore[arg-type]


def test_without_preload_nothing_is_forgotten(
    preloaded: tuple[ServerConfig, str, str],
) -> None:
    config, app, _ = preloaded
    handler_factory(config, preload=False)  # imports nothing in the master
    assert app not in sys.modules
    load_wsgi_app(config.wsgi_app, config.wsgi_path)  # as a child would
    forget_preloaded()
    assert app in sys.modules  # only a preload's modules are marked
