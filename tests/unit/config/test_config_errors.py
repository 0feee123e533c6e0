"""Every configuration error names the absolute file and the line at fault."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mpmd.config import load_config
from mpmd.errors import ConfigError, Location

Fails = Callable[..., ConfigError]
BASE = "Listen 127.0.0.1:8080\nLoadModule mpm_prefork_module modules/mod_mpm_prefork.so\n"

INVALID = (
    "Invalid command '{}', perhaps misspelled or defined by a module not included in the "
    "server configuration"
)


def where(tmp_path: Path, line: int, name: str = "mpmd.conf") -> Location:
    return Location(str(tmp_path / name), line)


def test_unknown_directive(fails: Fails, tmp_path: Path) -> None:
    error = fails(BASE + "KeepAlive On\nListne 80\n")
    assert (error.message, error.where) == (INVALID.format("Listne"), where(tmp_path, 4))
    assert str(error) == f"{tmp_path / 'mpmd.conf'}:4: {INVALID.format('Listne')}"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("KeepAlive maybe", "KeepAlive must be On or Off"),
        ("ListenBacklog 0", "ListenBacklog must be > 0"),
        ("StartServers many", "Invalid value for directive StartServers, expected integer"),
        ("Timeout soon", "Timeout has wrong format"),
        ("MaxConnectionsPerChild -1", 'MaxConnectionsPerChild "-1" must be a non-negative integer'),
        ("LimitRequestLine -5", 'LimitRequestLine "-5" must be a non-negative integer'),
        ("LimitRequestBody 1e9", "LimitRequestBody argument is not parsable."),
        (
            "LogLevel loud",
            "LogLevel requires level keyword: one of emerg/alert/crit/error/warn/"
            "notice/info/debug/trace1/trace2/trace3/trace4/trace5/trace6/trace7/trace8",
        ),
        (
            "StartServers",
            "StartServers takes one argument, Number of child processes launched at server startup",
        ),
        (
            "Listen",
            "Listen takes 1-2 arguments, A port number or a numeric IP address and a "
            "port number, and an optional protocol",
        ),
        ("DirectoryIndex", "DirectoryIndex requires at least one argument, a list of file names"),
        ("KeepAlive", "KeepAlive must be On or Off"),
    ],
)
def test_bad_arguments(fails: Fails, tmp_path: Path, line: str, message: str) -> None:
    error = fails(BASE + "\n" + line + "\n")
    assert (error.message, error.where) == (message, where(tmp_path, 4))


def test_two_mpms(fails: Fails, tmp_path: Path, all_mpms: None) -> None:
    error = fails(BASE + "LoadModule mpm_event_module modules/mod_mpm_event.so\n")
    assert (error.message, error.where) == ("More than one MPM loaded.", where(tmp_path, 3))


def test_unknown_module(fails: Fails, tmp_path: Path) -> None:
    error = fails(BASE + "LoadModule rewrite_module modules/mod_rewrite.so\n")
    assert error.message.startswith("Cannot load rewrite_module: mpmd has no such module")
    assert error.where == where(tmp_path, 3)


def test_known_mpm_missing_from_this_build(
    fails: Fails, tmp_path: Path, mpms: Callable[..., None]
) -> None:
    mpms("mpm_prefork_module")
    error = fails("Listen 80\nLoadModule mpm_worker_module modules/mod_mpm_worker.so\n")
    assert (error.message, error.where) == (
        "MPM module mpm_worker_module is not available in this build",
        where(tmp_path, 2),
    )


@pytest.mark.parametrize("directive", ["ThreadsPerChild 10", "AsyncRequestWorkerFactor 2"])
def test_mpm_directive_without_its_mpm(fails: Fails, tmp_path: Path, directive: str) -> None:
    error = fails(BASE + directive + "\n")
    assert (error.message, error.where) == (
        INVALID.format(directive.split()[0]),
        where(tmp_path, 3),
    )


def test_event_only_directive_under_worker(fails: Fails, tmp_path: Path, all_mpms: None) -> None:
    error = fails("Listen 80\nLoadModule mpm_worker_module\nAsyncRequestWorkerFactor 2\n")
    assert (error.message, error.where) == (
        INVALID.format("AsyncRequestWorkerFactor"),
        where(tmp_path, 3),
    )


def test_unclosed_section(fails: Fails, tmp_path: Path) -> None:
    error = fails(BASE + "<IfModule mpm_prefork_module>\nStartServers 2\n")
    assert (error.message, error.where) == ("<IfModule> was not closed.", where(tmp_path, 3))


def test_missing_include_names_the_include_line(fails: Fails, tmp_path: Path) -> None:
    error = fails(BASE + "Include conf.d/missing.conf\n")
    missing = tmp_path / "conf.d" / "missing.conf"
    assert (
        error.message == f"Could not open configuration file {missing}: No such file or directory"
    )
    assert error.where == where(tmp_path, 3)


def test_error_inside_an_included_file_names_that_file(
    fails: Fails, write: Callable[..., Path], tmp_path: Path
) -> None:
    write("conf.d/a.conf", "Timeout 5\nTimeout later\n")
    error = fails(BASE + "Include conf.d/*.conf\n")
    assert (error.message, error.where) == (
        "Timeout has wrong format",
        where(tmp_path, 2, "conf.d/a.conf"),
    )


def test_duplicate_listen(fails: Fails, tmp_path: Path) -> None:
    error = fails(BASE + "Listen 127.0.0.1:9090\nListen 127.0.0.1:8080\n")
    assert (error.message, error.where) == (
        "Cannot define multiple Listeners on the same IP:port",
        where(tmp_path, 4),
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("SetHandler server-status\n", 3, "SetHandler is only allowed inside a <Location> section"),
        (
            "<Location /x>\nListen 9090\n</Location>\n",
            4,
            "Listen cannot occur within <Directory/Location/Files> section",
        ),
        (
            "<Location /x>\nLoadModule mpm_prefork_module\n</Location>\n",
            4,
            "LoadModule cannot occur within <Directory/Location/Files> section",
        ),
        (
            "<Location /x>\n<Location /y>\n</Location>\n</Location>\n",
            4,
            "<Location> cannot occur within <Directory/Location/Files> section",
        ),
        (
            "<Location status>\n</Location>\n",
            3,
            "<Location> path must start with '/' (got 'status')",
        ),
    ],
)
def test_wrong_context(fails: Fails, tmp_path: Path, text: str, line: int, message: str) -> None:
    error = fails(BASE + text)
    assert (error.message, error.where) == (message, where(tmp_path, line))


def test_no_listen_names_the_main_file(fails: Fails, tmp_path: Path) -> None:
    error = fails("LoadModule mpm_prefork_module\n")
    assert error.where == where(tmp_path, 0)
    assert "no Listen directive" in error.message


def test_missing_main_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "nope.conf"))
    assert info.value.where == Location(str(tmp_path / "nope.conf"), 0)
    assert "Could not open configuration file" in info.value.message


def test_relative_main_path_is_reported_absolute(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write("rel.conf", "Bogus 1\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("rel.conf")
    assert info.value.where == Location(str(tmp_path / "rel.conf"), 1)


def test_a_whole_file_error_names_the_file_without_a_line_0(tmp_path: Path) -> None:
    # Issue 12 item 14: what reload replies and config_warning events show comes
    # from str(); a file that cannot be opened has no line to name.
    missing = tmp_path / "nope.conf"
    with pytest.raises(ConfigError) as info:
        load_config(str(missing))
    assert str(info.value).startswith(f"{missing}: ")
    assert ":0" not in str(info.value)
    assert str(Location("a.conf", 7)) == "a.conf:7"
