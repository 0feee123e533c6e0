"""Read-time directives: Include, ServerRoot, Define/${VAR}, <IfDefine>, <IfModule>."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mpmd.config import ServerConfig, load_config
from mpmd.errors import ConfigError, Location

Write = Callable[[str, str], Path]
Conf = Callable[..., ServerConfig]
Fails = Callable[..., ConfigError]
BASE = "Listen 127.0.0.1:8080\nLoadModule mpm_prefork_module modules/mod_mpm_prefork.so\n"


def test_include_glob_is_relative_to_server_root_and_sorted(write: Write, tmp_path: Path) -> None:
    write("root/conf.d/20-b.conf", "Timeout 20\n")
    write("root/conf.d/10-a.conf", "Timeout 10\nKeepAliveTimeout 3\n")
    write("root/conf.d/notes.txt", "Timeout 99\n")
    path = write("etc/mpmd.conf", BASE + "ServerRoot ../root\nInclude conf.d/*.conf\n")
    config = load_config(str(path), (), {})
    assert config.server_root == str(tmp_path / "root")
    assert (config.timeout, config.keep_alive_timeout) == (20.0, 3.0)  # 20-b read last


def test_include_of_a_directory_reads_its_files_in_order(write: Write, conf: Conf) -> None:
    write("conf.d/b.conf", "LogLevel debug\n")
    write("conf.d/a.conf", "LogLevel error\n")
    write("conf.d/.hidden.conf", "Bogus\n")
    assert conf("Include conf.d\n").log_level == "debug"


def test_include_wildcard_without_match_fails_but_include_optional_does_not(
    fails: Fails, conf: Conf, tmp_path: Path
) -> None:
    error = fails(BASE + "Include conf.d/*.conf\n")
    assert (
        error.message == f"No matches for the wildcard '*.conf' in '{tmp_path / 'conf.d'}', failing"
    )
    assert error.where == Location(str(tmp_path / "mpmd.conf"), 3)
    config = conf("IncludeOptional conf.d/*.conf\nIncludeOptional missing.conf\n")
    assert config.listen[0].port == 8080


def test_include_recursion_is_detected(write: Write, fails: Fails, tmp_path: Path) -> None:
    write("a.conf", "Include b.conf\n")
    write("b.conf", "Timeout 5\nInclude a.conf\n")
    error = fails(BASE + "Include a.conf\n")
    assert error.message.startswith(f"Recursive Include of {tmp_path / 'a.conf'} (")
    assert error.where == Location(str(tmp_path / "b.conf"), 2)


def test_includes_inside_location_stay_in_that_location(write: Write, conf: Conf) -> None:
    write("status.conf", "SetHandler server-status\nRequire ip 10.0.0.0/8 ::1\n")
    (location,) = conf("<Location /status>\nInclude status.conf\n</Location>\n").locations
    assert (location.handler, location.require) == ("server-status", ("ip", "10.0.0.0/8", "::1"))


def test_define_and_variables(conf: Conf) -> None:
    config = conf(
        """
        Define PORT 9090
        Define LOGS "/var/log/my logs"
        Listen 127.0.0.1:${PORT}
        CustomLog ${LOGS}/access.log common
        """
    )
    assert [a.port for a in config.listen] == [8080, 9090]
    assert config.custom_logs[0].target == "/var/log/my logs/access.log"


def test_environment_variables_fill_in_after_defines(conf: Conf) -> None:
    config = conf(
        "Define HOST 127.0.0.2\nListen ${HOST}:${PORT}\n", environ={"PORT": "7070", "HOST": "x"}
    )
    assert str(config.listen[1]) == "127.0.0.2:7070"


def test_undefined_variable_is_an_error(fails: Fails, tmp_path: Path) -> None:
    error = fails(BASE + "Listen ${NOPE}\n")
    assert (error.message, error.where) == (
        "Config variable ${NOPE} is not defined",
        Location(str(tmp_path / "mpmd.conf"), 3),
    )


def test_variables_in_skipped_blocks_are_not_evaluated(conf: Conf) -> None:
    assert conf("<IfDefine NEVER>\nListen ${NOPE}\n</IfDefine>\n").listen[0].port == 8080


@pytest.mark.parametrize(
    ("defines", "level"),
    [((), "error"), (("DEBUG",), "debug"), (("DEBUG", "QUIET"), "debug"), (("QUIET",), "crit")],
)
def test_ifdefine_with_command_line_defines_and_negation(
    conf: Conf, defines: tuple[str, ...], level: str
) -> None:
    body = """
        <IfDefine !DEBUG>
            LogLevel error
            <IfDefine QUIET>
                LogLevel crit
            </IfDefine>
        </IfDefine>
        <IfDefine DEBUG>
            LogLevel debug
        </IfDefine>
        """
    config = conf(body, defines=defines)
    assert config.log_level == level
    assert config.defines == defines


def test_define_in_the_file_counts_for_ifdefine_below_it_only(conf: Conf) -> None:
    body = (
        "<IfDefine X>\nTimeout 1\n</IfDefine>\n"
        "Define X\n"
        "<IfDefine X>\nKeepAliveTimeout 2\n</IfDefine>\n"
    )
    config = conf(body)
    assert (config.timeout, config.keep_alive_timeout) == (60.0, 2.0)
    assert config.defines == ()  # only the command line's, for a reload to pass again


def test_undefine(conf: Conf) -> None:
    assert (
        conf(
            "UnDefine DEBUG\n<IfDefine DEBUG>\nTimeout 1\n</IfDefine>\n", defines=("DEBUG",)
        ).timeout
        == 60.0
    )


def test_ifmodule_sees_modules_loaded_above_it_only(write: Write, all_mpms: None) -> None:
    path = write(
        "mpmd.conf",
        """
        Listen 8080
        <IfModule mpm_worker_module>
            Timeout 1
        </IfModule>
        LoadModule mpm_worker_module modules/mod_mpm_worker.so
        <IfModule worker.c>
            KeepAliveTimeout 2
        </IfModule>
        <IfModule !mpm_event_module>
            LogLevel info
        </IfModule>
        """,
    )
    config = load_config(str(path), (), {})
    assert (config.timeout, config.keep_alive_timeout, config.log_level) == (60.0, 2.0, "info")


@pytest.mark.parametrize(
    "name",
    ["status_module", "mod_status.c", "core.c", "http_core.c", "prefork.c", "mod_mpm_prefork.c"],
)
def test_ifmodule_accepts_module_and_source_file_names(conf: Conf, name: str) -> None:
    assert conf(f"<IfModule {name}>\nTimeout 7\n</IfModule>\n").timeout == 7.0


def test_ifmodule_of_an_unknown_module_is_false_not_an_error(conf: Conf) -> None:
    assert conf("<IfModule mod_rewrite.c>\nBogus\n</IfModule>\n").timeout == 60.0


def test_server_root_must_exist(fails: Fails, tmp_path: Path) -> None:
    error = fails(BASE + "ServerRoot /nonexistent/mpmd\n")
    assert (error.message, error.where) == (
        "ServerRoot must be a valid directory",
        Location(str(tmp_path / "mpmd.conf"), 3),
    )


def test_debian_layout(write: Write, tmp_path: Path, all_mpms: None) -> None:
    """apache2.conf includes mods-enabled/*.load (LoadModule), then *.conf (bare tuning)."""
    write(
        "mods-available/mpm_event.load",
        "LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n",
    )
    write(
        "mods-available/mpm_event.conf",
        "StartServers 2\nThreadsPerChild 10\nMaxRequestWorkers 95\n",
    )
    write(
        "mods-available/mpm_prefork.load",
        "LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so\n",
    )
    write("mods-available/mpm_prefork.conf", "StartServers 4\nMinSpareServers 3\n")
    enabled = tmp_path / "mods-enabled"
    enabled.mkdir()
    for name in ("mpm_event.load", "mpm_event.conf"):  # what a2enmod does
        (enabled / name).symlink_to(tmp_path / "mods-available" / name)
    path = write(
        "apache2.conf",
        "IncludeOptional mods-enabled/*.load\nIncludeOptional mods-enabled/*.conf\nListen 80\n",
    )
    config = load_config(str(path), (), {})
    assert config.mpm_module == "mpm_event_module"
    assert config.mpm_chosen_by == f"LoadModule at {enabled / 'mpm_event.load'}:1"
    settings = config.mpm_settings
    assert (settings.start_servers, settings.max_request_workers) == (2, 90)
    assert [w.message for w in config.warnings if "MaxRequestWorkers" in w.message] == [
        "WARNING: MaxRequestWorkers of 95 is not an integer multiple of ThreadsPerChild of 10, "
        "decreasing to nearest multiple 90, for a maximum of 9 servers."
    ]
    assert config.warnings[0].where == Location(str(enabled / "mpm_event.conf"), 3)


def test_bare_mpm_tuning_before_the_loadmodule_is_fine(conf: Conf, write: Write) -> None:
    path = write("mpmd.conf", "StartServers 2\nListen 80\nLoadModule mpm_prefork_module\n")
    assert load_config(str(path), (), {}).mpm_settings.start_servers == 2
