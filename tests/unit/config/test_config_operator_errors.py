"""Configurations that cannot start are refused while reading, with file and line.

Issue 12 items 9, 10, 13 and 14: unresolvable ``Listen`` hosts and unknown
``User``/``Group`` (Apache's alloc_listener and ap_uname2id/ap_gname2id),
``Listen`` port 0 (Apache: "Port must be specified"), the DocumentRoot
warning only where static files can be served, and files that cannot be
opened or decoded.  Only ``.invalid`` names, literals and localhost are
looked up: nothing here needs a network.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mpmd.config import ServerConfig, load_config
from mpmd.errors import ConfigError, Location

Fails = Callable[..., ConfigError]
Write = Callable[[str, str], Path]
Conf = Callable[..., ServerConfig]
BASE = "Listen 127.0.0.1:8080\nLoadModule mpm_prefork_module modules/mod_mpm_prefork.so\n"
YAML_BASE = "Listen: 127.0.0.1:8080\nLoadModule: mpm_prefork_module\n"


def at(tmp_path: Path, line: int, name: str = "mpmd.conf") -> Location:
    return Location(str(tmp_path / name), line)


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(str(path), (), {})
    return info.value


# -- item 9: Listen hosts are resolved, User and Group looked up --------------


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        # not an address; RFC 1123 2.1: no host name is all-numeric
        ("999.1.1.1", "not a valid IP address, and a host name cannot be all-numeric"),
        # RFC 6761 6.4: .invalid never resolves
        ("foo.invalid", "names under .invalid never resolve"),
        ("Foo.Invalid", "names under .invalid never resolve"),
    ],
)
def test_unresolvable_listen_host_is_a_syntax_error(
    fails: Fails, tmp_path: Path, host: str, reason: str
) -> None:
    error = fails(BASE + f"KeepAlive On\nListen {host}:80\n")
    assert error.where == at(tmp_path, 4)
    # Apache: AH00077 "alloc_listener: failed to set up sockaddr for HOST", then
    # "Listen setup failed" as the Listen line's syntax error.
    lowered = host.lower()
    assert error.message.startswith(
        f"Listen setup failed: AH00077: alloc_listener: failed to set up sockaddr for {lowered}: "
        "Could not resolve host name ("
    )
    assert reason in error.message


def test_reserved_names_never_reach_the_resolver(
    fails: Fails, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_lookup(*args: object, **kwargs: object) -> Any:
        raise AssertionError("getaddrinfo called")  # a machine without DNS would hang here

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    assert "alloc_listener" in fails(BASE + "Listen 999.1.1.1:80\n").message
    assert "alloc_listener" in fails(BASE + "Listen a.b.invalid:80\n").message


def test_a_name_the_resolver_refuses_names_its_reason(
    fails: Fails, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    error = fails(BASE + "Listen db.example.org:80\n")
    assert error.where == at(tmp_path, 3)
    assert error.message.endswith(
        "sockaddr for db.example.org: Could not resolve host name (Name or service not known)"
    )


def test_each_host_is_resolved_once(conf: Conf, monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo
    asked: list[tuple[object, ...]] = []

    def counting(host: str, *args: Any, **kwargs: Any) -> Any:
        asked.append((host, kwargs.get("family")))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    config = conf("Listen localhost:8081\nListen localhost:8082\nListen 127.0.0.1:8083\n")
    assert [str(a) for a in config.listen][1:] == [
        "localhost:8081", "localhost:8082", "127.0.0.1:8083"
    ]
    # one lookup, for the family the master binds a name with (IPv4); none for literals
    assert asked == [("localhost", socket.AF_INET)]


@pytest.mark.parametrize("listen", ["127.1:8081", "[::1]:8081", "8081", "*:8081"])
def test_literals_and_inet_aton_forms_are_accepted(conf: Conf, listen: str) -> None:
    assert conf(f"Listen {listen}\n").listen[1].port == 8081


def test_unknown_user_is_refused_at_its_line(fails: Fails, tmp_path: Path) -> None:
    error = fails(BASE + "User no_such_user_mpmd\n")
    # Apache unixd.c ap_uname2id(): AH00543 "%s: bad user name %s"
    assert (error.message, error.where) == (
        "AH00543: mpmd: bad user name no_such_user_mpmd",
        at(tmp_path, 3),
    )


def test_unknown_group_is_refused_at_its_line(fails: Fails, tmp_path: Path) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    error = fails(BASE + f"User {me}\nGroup no_such_group_mpmd\n")
    # Apache unixd.c ap_gname2id(): AH00544 "%s: bad group name %s"
    assert (error.message, error.where) == (
        "AH00544: mpmd: bad group name no_such_group_mpmd",
        at(tmp_path, 4),
    )


def test_existing_names_and_numeric_ids_are_accepted(conf: Conf) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    assert (conf(f"User {me}\nGroup {group}\n").user, conf(f"Group {group}\n").group) == (
        me,
        group,
    )
    # Apache's "#id" needs no passwd or group entry
    config = conf("User #54321\nGroup #54321\n")
    assert (config.user, config.group) == ("#54321", "#54321")


@pytest.mark.parametrize("line", ["User #www", "Group #-1"])
def test_numeric_ids_must_be_digits(fails: Fails, tmp_path: Path, line: str) -> None:
    error = fails(BASE + line + "\n")
    assert error.where == at(tmp_path, 3)
    assert error.message == (
        f"{line}: a numeric id is '#' followed by digits, e.g. #1000"
    )


# -- item 10: a port must be given -------------------------------------------


@pytest.mark.parametrize("listen", ["0", "127.0.0.1:0", "[::1]:0", "*:0", "00"])
def test_listen_port_zero_is_refused(fails: Fails, tmp_path: Path, listen: str) -> None:
    error = fails(BASE + f"Listen {listen}\n")
    # Apache listen.c ap_set_listener(): port 0 is "no port"
    assert (error.message, error.where) == ("Port must be specified", at(tmp_path, 3))


def test_listen_port_zero_is_refused_in_yaml(fails: Fails, tmp_path: Path) -> None:
    error = fails("LoadModule: mpm_prefork_module\nListen: [8080, 0]\n", "mpmd.yaml")
    assert (error.message, error.where) == ("Port must be specified", at(tmp_path, 2, "mpmd.yaml"))


# -- item 13: DocumentRoot matters only where static files are served ---------


def docroot_warnings(config: ServerConfig) -> list[str]:
    return [str(w) for w in config.warnings if "DocumentRoot" in w.message]


def test_wsgi_only_configuration_does_not_warn_about_document_root(conf: Conf) -> None:
    assert docroot_warnings(conf("WSGIApp hello:app\n")) == []
    assert docroot_warnings(conf("WSGIApp hello:app\nDocumentRoot /nonexistent/www\n")) == []
    # SetHandler None falls back to the default handler: the application
    text = "WSGIApp hello:app\n<Location /x>\nSetHandler None\n</Location>\n"
    assert docroot_warnings(conf(text)) == []


def test_static_location_under_wsgi_warns_at_the_document_root_line(
    conf: Conf, tmp_path: Path
) -> None:
    config = conf(
        "WSGIApp hello:app\nDocumentRoot www\n<Location /static>\n"
        "SetHandler default-handler\n</Location>\n"
    )
    assert docroot_warnings(config) == [
        f"{tmp_path / 'mpmd.conf'}:4: Warning: DocumentRoot [{tmp_path / 'www'}] does not exist"
    ]


def test_static_server_warns_at_the_document_root_line(conf: Conf, tmp_path: Path) -> None:
    (warning,) = [w for w in conf("KeepAlive On\nDocumentRoot www\n").warnings]
    assert warning.where == at(tmp_path, 4)


def test_defaulted_document_root_warning_names_the_configuration_file(
    conf: Conf, tmp_path: Path
) -> None:
    (warning,) = [w for w in conf("").warnings if "DocumentRoot" in w.message]
    assert warning.where == at(tmp_path, 0)
    assert str(warning) == (
        f"{tmp_path / 'mpmd.conf'}: Warning: DocumentRoot [{tmp_path / 'htdocs'}] does not "
        "exist (no DocumentRoot is set, so it defaults to htdocs below ServerRoot)"
    )


def test_existing_document_root_does_not_warn(conf: Conf, tmp_path: Path) -> None:
    (tmp_path / "htdocs").mkdir()
    assert docroot_warnings(conf("")) == []


# -- item 14: files that cannot be opened or decoded --------------------------


@pytest.mark.parametrize("name", ["nope.conf", "nope.yaml"])
def test_missing_main_file(tmp_path: Path, name: str) -> None:
    error = load_error(tmp_path / name)
    assert (error.message, error.where) == (
        f"Could not open configuration file {tmp_path / name}: No such file or directory",
        at(tmp_path, 0, name),
    )


@pytest.mark.parametrize("name", ["confdir", "confdir.yaml"])
def test_main_file_that_is_a_directory(tmp_path: Path, name: str) -> None:
    (tmp_path / name).mkdir()
    error = load_error(tmp_path / name)
    assert error.message == f"Could not open configuration file {tmp_path / name}: Is a directory"


@pytest.mark.parametrize(
    ("name", "text"),
    [("empty.conf", ""), ("empty.yaml", ""), ("blank.conf", "\n# only a comment\n")],
)
def test_empty_file_fails_for_lack_of_listen_naming_the_file(
    write: Write, tmp_path: Path, name: str, text: str
) -> None:
    error = load_error(write(name, text))
    assert error.where == at(tmp_path, 0, name)
    assert error.message.startswith(
        "no listening sockets available, shutting down: no Listen directive in "
        f"{tmp_path / name} or the files it includes"
    )
    assert error.message.endswith("(it holds no directives)")


def write_bytes(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "line"),
    [
        ("bad.conf", BASE.encode() + b"KeepAlive On\nServerName caf\xe9\n", 4),
        ("bad.yaml", YAML_BASE.encode() + b"ServerName: caf\xe9\n", 3),
        ("bom.conf", b"\xef\xbb\xbf" + BASE.encode() + b"\n\n\xff\n", 5),
        ("first.conf", b"\x80Listen 80\n", 1),
    ],
)
def test_invalid_utf8_names_the_line_of_the_first_bad_byte(
    tmp_path: Path, name: str, data: bytes, line: int
) -> None:
    error = load_error(write_bytes(tmp_path, name, data))
    assert error.where == at(tmp_path, line, name)
    assert error.message.startswith(
        f"Could not read configuration file {tmp_path / name}: not UTF-8 (byte 0x"
    )


def including(main: str, target: str) -> str:
    """A main file (Apache syntax or YAML, by its name) that includes ``target`` on line 3."""
    if main.endswith(".yaml"):
        return YAML_BASE + f"Include: {target}\n"
    return BASE + f"Include {target}\n"


@pytest.mark.parametrize(("main", "include"), [("mpmd.conf", "x.conf"), ("mpmd.yaml", "x.yaml")])
def test_invalid_utf8_in_an_included_file_names_that_file(
    write: Write, tmp_path: Path, main: str, include: str
) -> None:
    write_bytes(tmp_path, f"conf.d/{include}", b"# fine\n# fine\n# caf\xc3\n")
    error = load_error(write(main, including(main, f"conf.d/{include}")))
    assert error.where == at(tmp_path, 3, f"conf.d/{include}")
    assert "not UTF-8 (byte 0xc3 at offset 19" in error.message


@pytest.mark.parametrize(("main", "include"), [("mpmd.conf", "x.conf"), ("mpmd.yaml", "x.yaml")])
def test_missing_include_names_the_include_line_in_both_syntaxes(
    write: Write, tmp_path: Path, main: str, include: str
) -> None:
    error = load_error(write(main, including(main, f"conf.d/{include}")))
    missing = tmp_path / "conf.d" / include
    assert (error.message, error.where) == (
        f"Could not open configuration file {missing}: No such file or directory",
        at(tmp_path, 3, main),
    )


def test_empty_included_file_is_fine(write: Write, tmp_path: Path) -> None:
    write("conf.d/empty.conf", "")
    write("conf.d/empty.yaml", "")
    config = load_config(
        str(write("mpmd.conf", BASE + "Include conf.d/empty.conf\nInclude conf.d/empty.yaml\n")),
        (),
        {},
    )
    assert [str(a) for a in config.listen] == ["127.0.0.1:8080"]


def test_yaml_control_character_names_its_line(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, "ctl.yaml", YAML_BASE.encode() + b"ServerName: a\x07b\n")
    error = load_error(path)
    assert error.where == at(tmp_path, 3, "ctl.yaml")
    assert error.message.startswith("YAML syntax error: unacceptable character #x0007")
