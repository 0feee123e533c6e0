"""LoadModule, the platform-default MPM, and MPM directives through load_config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mpmd.config import BUILTIN_MODULES, ServerConfig, load_config
from mpmd.config.model import ConfigWarning, ThreadedSettings
from mpmd.errors import ConfigError, Location

Write = Callable[[str, str], Path]
Conf = Callable[..., ServerConfig]
Fails = Callable[..., ConfigError]

TUNING = """
Listen 8080
<IfModule mpm_event_module>
    ThreadsPerChild 10
    MaxRequestWorkers 100
</IfModule>
<IfModule mpm_prefork_module>
    StartServers 2
</IfModule>
"""


def test_default_mpm_with_all_three_is_event(write: Write, all_mpms: None) -> None:
    config = load_config(str(write("mpmd.conf", TUNING)), (), {})
    assert config.mpm_module == "mpm_event_module"
    assert config.mpm_chosen_by == "platform default (threads and epoll are available)"
    assert isinstance(config.mpm_settings, ThreadedSettings)
    # The event block applies: the default MPM counts as loaded from the start.
    assert (config.mpm_settings.threads_per_child, config.mpm_settings.max_request_workers) == (
        10,
        100,
    )
    assert config.modules == (*BUILTIN_MODULES, "mpm_event_module")


def test_default_mpm_with_prefork_only_is_prefork(
    write: Write, mpms: Callable[..., None]
) -> None:
    mpms("mpm_prefork_module")
    config = load_config(str(write("mpmd.conf", TUNING)), (), {})
    assert config.mpm_module == "mpm_prefork_module"
    assert config.mpm_chosen_by == "platform default (no threaded MPM is available)"
    assert config.mpm_settings.start_servers == 2


def test_default_mpm_with_worker_and_prefork_is_worker(
    write: Write, mpms: Callable[..., None]
) -> None:
    mpms("mpm_prefork_module", "mpm_worker_module")
    assert load_config(str(write("mpmd.conf", TUNING)), (), {}).mpm_module == "mpm_worker_module"


def test_loadmodule_records_where(conf: Conf, tmp_path: Path) -> None:
    config = conf("")
    assert config.mpm_module == "mpm_prefork_module"
    assert config.mpm_chosen_by == f"LoadModule at {tmp_path / 'mpmd.conf'}:2"
    assert config.modules[-1] == "mpm_prefork_module"
    assert config.modules[:3] == ("core_module", "so_module", "http_module")


def test_loading_a_builtin_module_warns_like_apache(conf: Conf, tmp_path: Path) -> None:
    config = conf("LoadModule status_module modules/mod_status.so\n")
    assert (
        ConfigWarning(
            "module status_module is built-in and can't be loaded",
            Location(str(tmp_path / "mpmd.conf"), 3),
        )
        in config.warnings
    )


def test_loading_the_same_mpm_twice_warns(conf: Conf) -> None:
    config = conf("LoadModule mpm_prefork_module modules/mod_mpm_prefork.so\n")
    (warning, *_) = config.warnings
    assert warning.message == "module mpm_prefork_module is already loaded, skipping"


def test_two_mpms_even_through_an_ifmodule(fails: Fails, tmp_path: Path, all_mpms: None) -> None:
    text = "Listen 80\n<IfModule mpm_event_module>\n  LoadModule mpm_worker_module\n</IfModule>\n"
    error = fails(
        text
    )  # the default (event) is pre-loaded in the second pass, as in a static httpd
    assert (error.message, error.where) == (
        "More than one MPM loaded.",
        Location(str(tmp_path / "mpmd.conf"), 3),
    )


def test_worker_and_event_work_once_available(conf: Conf, write: Write, all_mpms: None) -> None:
    for module in ("mpm_worker_module", "mpm_event_module"):
        path = write(f"{module}.conf", f"Listen 80\nLoadModule {module}\nThreadsPerChild 30\n")
        config = load_config(str(path), (), {})
        assert config.mpm_module == module
        assert isinstance(config.mpm_settings, ThreadedSettings)
        assert config.mpm_settings.threads_per_child == 30


@pytest.mark.parametrize(
    ("directive", "note", "expected"),
    [
        ("MaxClients 20", "MaxClients is deprecated, use MaxRequestWorkers instead.", (20, 0)),
        (
            "MaxRequestsPerChild 500",
            "MaxRequestsPerChild is deprecated, use MaxConnectionsPerChild instead.",
            (256, 500),
        ),
    ],
)
def test_deprecated_aliases_work_with_a_note(
    conf: Conf, tmp_path: Path, directive: str, note: str, expected: tuple[int, int]
) -> None:
    config = conf(directive + "\n")
    assert ConfigWarning(note, Location(str(tmp_path / "mpmd.conf"), 3)) in config.warnings
    settings = config.mpm_settings
    assert (settings.max_request_workers, settings.max_connections_per_child) == expected


def test_alias_and_name_share_one_setting_last_wins(conf: Conf) -> None:
    assert conf("MaxRequestWorkers 30\nMaxClients 40\n").mpm_settings.max_request_workers == 40
    assert conf("MaxClients 40\nMaxRequestWorkers 30\n").mpm_settings.max_request_workers == 30


def test_clamp_warnings_carry_the_directive_location(conf: Conf, tmp_path: Path) -> None:
    config = conf("<IfModule mpm_prefork_module>\n  MaxRequestWorkers 300\n</IfModule>\n")
    (warning,) = [w for w in config.warnings if w.message.startswith("WARNING")]
    assert warning.where == Location(str(tmp_path / "mpmd.conf"), 4)
    assert str(warning).startswith(f"{tmp_path / 'mpmd.conf'}:4: WARNING: MaxRequestWorkers of 300")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "AsyncRequestWorkerFactor argument must be a positive number"),
        ("-1.5", "AsyncRequestWorkerFactor argument must be a positive number"),
        ("lots", "error parsing value"),
        ("inf", "error parsing value"),
    ],
)
def test_async_request_worker_factor_errors(
    fails: Fails, all_mpms: None, value: str, message: str
) -> None:
    error = fails(f"Listen 80\nLoadModule mpm_event_module\nAsyncRequestWorkerFactor {value}\n")
    assert error.message == message


def test_async_request_worker_factor_fraction(write: Write, all_mpms: None) -> None:
    path = write("e.conf", "Listen 80\nLoadModule mpm_event_module\nAsyncRequestWorkerFactor 1.5\n")
    settings = load_config(str(path), (), {}).mpm_settings
    assert isinstance(settings, ThreadedSettings) and settings.async_request_worker_factor == 1.5
