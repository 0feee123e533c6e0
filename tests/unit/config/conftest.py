"""Fixtures for the configuration tests: files in a temporary ServerRoot, and
a registry whose set of available MPMs each test chooses."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mpmd.config import ServerConfig, load_config
from mpmd.errors import ConfigError
from mpmd.mpm import registry

#: The two lines every server needs; tests append what they are about.
BASE = "Listen 127.0.0.1:8080\nLoadModule mpm_prefork_module modules/mod_mpm_prefork.so\n"

Write = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """write(name, text) -> absolute path of a dedented file below tmp_path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def conf(write: Write) -> Callable[..., ServerConfig]:
    """conf(body, defines=(), environ={}) -> the ServerConfig of BASE + body."""

    def _conf(
        body: str, defines: tuple[str, ...] = (), environ: dict[str, str] | None = None
    ) -> ServerConfig:
        path = write("mpmd.conf", BASE + textwrap.dedent(body))
        return load_config(str(path), defines, environ or {})

    return _conf


@pytest.fixture
def fails(write: Write) -> Callable[..., ConfigError]:
    """fails(text, name="mpmd.conf") -> the ConfigError loading that file raises."""

    def _fails(text: str, name: str = "mpmd.conf", defines: tuple[str, ...] = ()) -> ConfigError:
        path = write(name, text)
        with pytest.raises(ConfigError) as info:
            load_config(str(path), defines, {})
        return info.value

    return _fails


@pytest.fixture(autouse=True)
def mpms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """mpms(*modules): make exactly these MPMs available in the registry.

    Autouse, with all three by default, so these tests mean the same
    whichever MPMs the build (or an installed plug-in) adds.
    """

    def _mpms(*modules: str) -> None:
        table = {name: f"mpmd.mpm.{name.split('_')[1]}:MPM" for name in modules}
        monkeypatch.setattr(registry, "implementations", lambda: dict(table))

    _mpms("mpm_prefork_module", "mpm_worker_module", "mpm_event_module")
    yield _mpms


@pytest.fixture
def all_mpms(mpms: Callable[..., None]) -> None:
    mpms("mpm_prefork_module", "mpm_worker_module", "mpm_event_module")
