"""Core directives: parsing, defaults, paths, logs, Locations, immutability."""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
from collections.abc import Callable
from pathlib import Path

import pytest

from mpmd.config import ServerConfig
from mpmd.config.apache import split_words
from mpmd.config.build import PREDEFINED_FORMATS
from mpmd.config.directives import TABLE
from mpmd.config.model import (
    CustomLog,
    LocationConfig,
    ReadTimeoutStage,
    RequestLimits,
    RequestReadTimeout,
)
from mpmd.errors import ConfigError, Location

Conf = Callable[..., ServerConfig]
Fails = Callable[..., ConfigError]
BASE = "Listen 127.0.0.1:8080\nLoadModule mpm_prefork_module modules/mod_mpm_prefork.so\n"
MODEL_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ServerConfig)}


def test_table_defaults_agree_with_the_model() -> None:
    """A default written in the table must mean what the model's default says."""
    checked = 0
    for spec in TABLE.values():
        if spec.default is None or spec.path or spec.field in ("mpm", "error_log"):
            continue
        value = spec.parse(spec.name, split_words(spec.default))
        if spec.field.startswith("limits."):
            assert value == getattr(RequestLimits(), spec.field.removeprefix("limits.")), spec.name
        elif spec.field == "request_read_timeout":
            assert RequestReadTimeout(**dict(value)) == RequestReadTimeout()  # type: ignore[call-overload]
        elif spec.field == "directory_index":
            assert value == MODEL_DEFAULTS["directory_index"]
        else:
            assert value == MODEL_DEFAULTS[spec.field], spec.name
        checked += 1
    assert checked >= 12


def test_defaults_of_a_minimal_config(conf: Conf, tmp_path: Path) -> None:
    config = conf("")
    assert config.server_root == str(tmp_path)
    assert config.pid_file == str(tmp_path / "logs" / "mpmd.pid")
    assert config.document_root == str(tmp_path / "htdocs")
    assert (config.error_log, config.log_level, config.listen_backlog) == ("stderr", "warn", 511)
    assert (config.scoreboard_file, config.control_socket, config.wsgi_app) == ("", "", "")
    assert config.custom_logs == () and config.locations == () and config.wsgi_path == ()
    assert config.log_formats == PREDEFINED_FORMATS
    assert config.extended_status is None
    assert "Warning: DocumentRoot [" in config.warnings[-1].message


@pytest.mark.parametrize(
    ("listen", "text", "family"),
    [
        ("8080", "*:8080", "AF_INET"),
        ("*:8080", "*:8080", "AF_INET"),
        ("127.0.0.1:8080", "127.0.0.1:8080", "AF_INET"),
        ("[::1]:8080", "[::1]:8080", "AF_INET6"),
        ("[0:0::0001]:8080", "[::1]:8080", "AF_INET6"),
        ("LocalHost:8080", "localhost:8080", "AF_INET"),
        ("127.0.0.1:8080 http", "127.0.0.1:8080", "AF_INET"),
    ],
)
def test_listen_forms(
    fails: Fails, write: Callable[..., Path], listen: str, text: str, family: str
) -> None:
    from mpmd.config import load_config

    path = write("l.conf", f"Listen {listen}\nLoadModule mpm_prefork_module\n")
    (address,) = load_config(str(path), (), {}).listen
    assert (str(address), address.family.name) == (text, family)


def test_listen_unix_path_is_resolved(conf: Conf, tmp_path: Path) -> None:
    config = conf("Listen unix:run/mpmd.sock\n")
    assert config.listen[1].kind == "unix"
    assert str(config.listen[1]) == f"unix:{tmp_path / 'run' / 'mpmd.sock'}"


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("127.0.0.1", "Port must be specified"),
        ("[::1]", "Port must be specified"),
        ("::1", "Invalid address or port"),
        ("127.0.0.1:http", "Invalid address or port"),
        ("127.0.0.1:70000", "Invalid address or port"),
        ("bad_host:80", "Invalid address or port"),
        ("8081 https", "Listen protocol https is not supported; mpmd speaks plain http"),
        ("unix:", "Listen unix: needs a socket path, e.g. unix:/run/mpmd.sock"),
    ],
)
def test_listen_errors(fails: Fails, tmp_path: Path, listen: str, message: str) -> None:
    error = fails(BASE + f"Listen {listen}\n")
    assert (error.message, error.where) == (message, Location(str(tmp_path / "mpmd.conf"), 3))


def test_listen_duplicates_compare_normalised_addresses(fails: Fails) -> None:
    error = fails("Listen [::1]:80\nListen [0::1]:80\nLoadModule mpm_prefork_module\n")
    assert error.message == "Cannot define multiple Listeners on the same IP:port"


@pytest.mark.parametrize(
    ("text", "seconds"), [("7", 7.0), ("1.5", 1.5), ("500ms", 0.5), ("2mi", 120.0), ("1h", 3600.0)]
)
def test_durations(conf: Conf, text: str, seconds: float) -> None:
    config = conf(f"KeepAliveTimeout {text}\nTimeout {text}\nGracefulShutdownTimeout {text}\n")
    assert (config.keep_alive_timeout, config.timeout, config.graceful_shutdown_timeout) == (
        seconds,
    ) * 3


def test_connection_directives(conf: Conf) -> None:
    config = conf("KeepAlive Off\nMaxKeepAliveRequests 0\nListenBacklog 1024\nExtendedStatus on\n")
    assert (config.keep_alive, config.max_keep_alive_requests) == (False, 0)
    assert (config.listen_backlog, config.extended_status) == (1024, True)


def test_request_limits(conf: Conf) -> None:
    config = conf(
        "LimitRequestLine 4094\nLimitRequestFields 50\n"
        "LimitRequestFieldSize 1000\nLimitRequestBody 0\n"
    )
    assert config.limits == RequestLimits(line=4094, fields=50, field_size=1000, body=0)


def test_request_read_timeout_replaces_only_the_stages_named(conf: Conf) -> None:
    config = conf("RequestReadTimeout header=0\nRequestReadTimeout body=10,MinRate=100\n")
    assert config.request_read_timeout == RequestReadTimeout(
        header=ReadTimeoutStage(0.0, None, 0), body=ReadTimeoutStage(10.0, None, 100)
    )
    header = conf(
        "RequestReadTimeout header=10-30,minrate=250 handshake=5\n"
    ).request_read_timeout.header
    assert header == ReadTimeoutStage(10.0, 30.0, 250)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "header",
            "Invalid RequestReadTimeout parameter. Parameter must be in the form 'key=value'",
        ),
        ("trailer=5", "RequestReadTimeout: trailer=5: Unknown RequestReadTimeout parameter"),
        (
            "header=20-40",
            "RequestReadTimeout: header=20-40: Must set MinRate option if using timeout range",
        ),
        (
            "header=40-20,MinRate=500",
            "RequestReadTimeout: header=40-20,MinRate=500: "
            "Maximum timeout must be larger than initial timeout",
        ),
        (
            "body=10,MinRate=0",
            "RequestReadTimeout: body=10,MinRate=0: Minimum data rate must be larger than 0",
        ),
        ("body=ten", "RequestReadTimeout: body=ten: Value 'ten' not numerical"),
        ("body=10s", "RequestReadTimeout: body=10s: Cannot parse 's'"),
    ],
)
def test_request_read_timeout_errors(fails: Fails, value: str, message: str) -> None:
    assert fails(BASE + f"RequestReadTimeout {value}\n").message == message


def test_log_formats_and_custom_logs(conf: Conf, tmp_path: Path) -> None:
    config = conf(
        """
        LogFormat "%h %D" timing
        LogFormat "%h only"
        CustomLog logs/access.log combined
        CustomLog /var/log/t.log timing
        CustomLog stdout "%h %>s"
        CustomLog stderr
        CustomLog "|/usr/bin/rotatelogs x 86400" common
        """
    )
    combined, common = dict(PREDEFINED_FORMATS)["combined"], dict(PREDEFINED_FORMATS)["common"]
    assert combined == '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'
    assert config.custom_logs == (
        CustomLog(str(tmp_path / "logs" / "access.log"), combined),
        CustomLog("/var/log/t.log", "%h %D"),
        CustomLog("stdout", "%h %>s"),
        CustomLog("stderr", "%h only"),
        CustomLog("|/usr/bin/rotatelogs x 86400", common),
    )
    assert ("timing", "%h %D") in config.log_formats


def test_custom_log_with_an_undefined_nickname(fails: Fails, tmp_path: Path) -> None:
    error = fails(BASE + "CustomLog logs/a.log combinedd\n")
    assert (error.message, error.where) == (
        "CustomLog: format nickname 'combinedd' is not defined by any LogFormat",
        Location(str(tmp_path / "mpmd.conf"), 3),
    )


def test_error_log_and_level(conf: Conf, fails: Fails, tmp_path: Path) -> None:
    config = conf("ErrorLog logs/error.log\nLogLevel TRACE8\n")
    assert (config.error_log, config.log_level) == (str(tmp_path / "logs" / "error.log"), "trace8")
    assert conf("ErrorLog syslog:local7\n").error_log == "syslog:local7"
    assert fails(BASE + "ErrorLog |cat\n").message.startswith(
        "ErrorLog: piped logs are not supported"
    )


def test_paths_resolve_against_server_root(conf: Conf, tmp_path: Path) -> None:
    (tmp_path / "srv").mkdir()
    config = conf(
        f"ServerRoot {tmp_path / 'srv'}\nPidFile run/x.pid\nScoreBoardFile /dev/shm/sb\n"
        "ControlSocket run/ctl.sock\nDocumentRoot ../www\nWSGIPath app\nWSGIPath /opt/lib\n"
    )
    srv = tmp_path / "srv"
    assert (config.pid_file, config.scoreboard_file) == (str(srv / "run" / "x.pid"), "/dev/shm/sb")
    assert (config.control_socket, config.document_root) == (
        str(srv / "run" / "ctl.sock"),
        str(tmp_path / "www"),
    )
    assert config.wsgi_path == (str(srv / "app"), "/opt/lib")


def test_identity_and_application(conf: Conf, fails: Fails) -> None:
    # User and Group must exist (Apache's ap_uname2id): this process's own
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    config = conf(
        f"User {user}\nGroup {group}\nServerName www.example.com:80\nServerAdmin a@b.c\n"
        "WSGIApp pkg.module:make_app.app\nWSGIPreload On\n"
    )
    assert (config.user, config.group, config.server_name) == (
        user,
        group,
        "www.example.com:80",
    )
    assert (config.server_admin, config.wsgi_app, config.wsgi_preload) == (
        "a@b.c",
        "pkg.module:make_app.app",
        True,
    )
    assert (
        fails(BASE + "WSGIApp hello\n").message
        == "WSGIApp takes module:callable, e.g. hello:app (got 'hello')"
    )


def test_directory_index_appends_and_can_be_disabled(conf: Conf) -> None:
    assert conf(
        "DirectoryIndex index.html index.txt\nDirectoryIndex default.htm\n"
    ).directory_index == (
        "index.html",
        "index.txt",
        "default.htm",
    )
    assert conf("DirectoryIndex a.html\nDirectoryIndex disabled\n").directory_index == ()


def test_locations(conf: Conf, tmp_path: Path) -> None:
    config = conf(
        """
        <Location /server-status>
            SetHandler server-status
            Require local
        </Location>
        <Location /open>
            Require all granted
        </Location>
        <Location /server-status>
            SetHandler None
        </Location>
        <Location /lan>
            Require ip 10 192.168.0.0/16 fe80::/10
        </Location>
        """
    )
    main = str(tmp_path / "mpmd.conf")
    assert config.locations == (
        LocationConfig("/server-status", None, ("local",), Location(main, 4)),
        LocationConfig("/open", None, ("all", "granted"), Location(main, 8)),
        LocationConfig(
            "/lan", None, ("ip", "10", "192.168.0.0/16", "fe80::/10"), Location(main, 14)
        ),
    )
    assert [loc.where for loc in config.locations] == [Location(main, n) for n in (4, 8, 14)]


@pytest.mark.parametrize(
    ("require", "message"),
    [
        ("all", "Require all must be followed by 'granted' or 'denied'"),
        ("all allowed", "Require all must be followed by 'granted' or 'denied'"),
        ("local 127.0.0.1", "Require local does not take arguments"),
        ("ip", "Require ip requires at least one address"),
        ("ip 10.0.0.0/99", "ip address '10.0.0.0/99' appears to be invalid"),
        ("user bob", "Unknown Authz provider: user"),
    ],
)
def test_require_errors(fails: Fails, require: str, message: str) -> None:
    assert fails(BASE + f"<Location /x>\nRequire {require}\n</Location>\n").message == message


def test_two_require_lines_in_one_location_are_refused(fails: Fails, tmp_path: Path) -> None:
    error = fails(BASE + "<Location /x>\nRequire local\nRequire ip 10.0.0.0/8\n</Location>\n")
    assert error.where == Location(str(tmp_path / "mpmd.conf"), 5)
    assert error.message.startswith("only one Require per <Location /x> is supported")


def _mutable_parts(value: object, path: str = "config") -> list[str]:
    if isinstance(value, list | dict | set | bytearray):
        return [path]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        frozen = getattr(type(value), "__dataclass_params__").frozen  # noqa: B009
        found = [] if frozen else [f"{path} (not frozen)"]
        for f in dataclasses.fields(value):
            found += _mutable_parts(getattr(value, f.name), f"{path}.{f.name}")
        return found
    if isinstance(value, tuple):
        return [p for i, item in enumerate(value) for p in _mutable_parts(item, f"{path}[{i}]")]
    return []


def test_the_result_is_deeply_immutable(conf: Conf) -> None:
    config = conf(
        "LogFormat x y\nCustomLog stdout y\nDirectoryIndex a b\nWSGIPath lib\n"
        "<Location /s>\nSetHandler server-status\nRequire ip 10.0.0.0/8\n</Location>\n"
    )
    assert _mutable_parts(config) == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.timeout = 1.0  # type: ignore[misc]
