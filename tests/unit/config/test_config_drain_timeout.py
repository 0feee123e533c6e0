"""``DrainTimeout``: parsing, its default, errors, and both front ends.

docs/configuration.md: ``DrainTimeout seconds``, default 60, "how long an old
generation may drain after a graceful reload before it is stopped (0 = no
limit)".  It is a duration like Apache's ``Timeout``, so it takes the same
forms and the same error text.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mpmd.config import ServerConfig, load_config
from mpmd.errors import ConfigError, Location

Conf = Callable[..., ServerConfig]
Fails = Callable[..., ConfigError]
Write = Callable[[str, str], Path]
BASE = "Listen 127.0.0.1:8080\nLoadModule mpm_prefork_module modules/mod_mpm_prefork.so\n"
#: the directive's description in docs/configuration.md, which Apache's arity
#: errors quote ("X takes one argument, <description>")
DESCRIPTION = (
    "Maximum time in seconds an old generation may drain after a graceful restart before "
    "it is stopped (0 = no limit)"
)


def test_default_is_sixty_seconds(conf: Conf) -> None:
    assert conf("").drain_timeout == 60.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5", 5.0), ("0", 0.0), ("2.5", 2.5), ("500ms", 0.5), ("2mi", 120.0), ("1h", 3600.0)],
)
def test_durations(conf: Conf, text: str, seconds: float) -> None:
    assert conf(f"DrainTimeout {text}\n").drain_timeout == seconds


def test_independent_of_graceful_shutdown_timeout(conf: Conf) -> None:
    config = conf("DrainTimeout 7\nGracefulShutdownTimeout 3\n")
    assert (config.drain_timeout, config.graceful_shutdown_timeout) == (7.0, 3.0)


def test_last_one_wins(conf: Conf) -> None:
    assert conf("DrainTimeout 7\nDrainTimeout 9\n").drain_timeout == 9.0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("DrainTimeout soon", "DrainTimeout has wrong format"),
        ("DrainTimeout -1", "DrainTimeout has wrong format"),
        ("DrainTimeout 5parsecs", "DrainTimeout has wrong format"),
        ("DrainTimeout 5 10", f"DrainTimeout takes one argument, {DESCRIPTION}"),
        ("DrainTimeout", f"DrainTimeout takes one argument, {DESCRIPTION}"),
    ],
)
def test_bad_values_name_file_and_line(
    fails: Fails, tmp_path: Path, line: str, message: str
) -> None:
    error = fails(BASE + "KeepAlive On\n" + line + "\n")
    assert (error.message, error.where) == (message, Location(str(tmp_path / "mpmd.conf"), 4))


def test_yaml_takes_the_same_values(write: Write) -> None:
    path = write("mpmd.yaml", """
        Listen: 127.0.0.1:8080
        LoadModule: mpm_event_module modules/mod_mpm_event.so
        DrainTimeout: 15
    """)
    assert load_config(str(path), (), {}).drain_timeout == 15.0


def test_yaml_bad_value_names_its_line(write: Write) -> None:
    path = write("mpmd.yaml", """
        Listen: 127.0.0.1:8080
        DrainTimeout: later
    """)
    with pytest.raises(ConfigError) as info:
        load_config(str(path), (), {})
    assert (info.value.message, info.value.where) == (
        "DrainTimeout has wrong format", Location(str(path), 2))
