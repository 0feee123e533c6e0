"""The YAML front end: the same tree as Apache syntax, with YAML's line numbers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mpmd.config import load_config
from mpmd.config.tree import Node, Section
from mpmd.config.yaml_front import parse_text
from mpmd.errors import ConfigError, Location

F = "/etc/mpmd.yaml"
Write = Callable[[str, str], Path]


def test_scalars_are_split_like_an_apache_line() -> None:
    items = parse_text("CustomLog: logs/access.log combined\nDocumentRoot: '\"/srv/a b\"'\n", F)
    assert items == (
        Node("CustomLog", ("logs/access.log", "combined"), Location(F, 1)),
        Node("DocumentRoot", ("/srv/a b",), Location(F, 2)),
    )


def test_booleans_become_on_off_and_numbers_keep_their_text() -> None:
    items = parse_text("KeepAlive: true\nWSGIPreload: no\nKeepAliveTimeout: 1.50\nListen: 80\n", F)
    assert [item.args for item in items if isinstance(item, Node)] == [
        ("On",),
        ("Off",),
        ("1.50",),
        ("80",),
    ]


def test_a_list_repeats_the_directive_with_each_items_line() -> None:
    items = parse_text("Listen:\n  - 127.0.0.1:80\n  - '[::1]:80'\n", F)
    assert items == (
        Node("Listen", ("127.0.0.1:80",), Location(F, 2)),
        Node("Listen", ("[::1]:80",), Location(F, 3)),
    )


def test_a_nested_list_gives_arguments_unsplit() -> None:
    items = parse_text("LogFormat:\n  - ['%h %l \"%r\"', short]\n", F)
    assert items == (Node("LogFormat", ('%h %l "%r"', "short"), Location(F, 2)),)


@pytest.mark.parametrize(
    ("key", "kind", "arg"),
    [
        ("mpm_event_module", "IfModule", "mpm_event_module"),
        ("'!mpm_event_module'", "IfModule", "!mpm_event_module"),
        ("mod_status.c", "IfModule", "mod_status.c"),
        ("IfModule prefork.c", "IfModule", "prefork.c"),
        ("IfDefine !DEBUG", "IfDefine", "!DEBUG"),
        ("Location /status", "Location", "/status"),
    ],
)
def test_section_keys(key: str, kind: str, arg: str) -> None:
    (section,) = parse_text(f"{key}:\n  StartServers: 4\n", F)
    assert section == Section(
        kind, arg, (Node("StartServers", ("4",), Location(F, 2)),), Location(F, 1)
    )


def test_location_mapping_of_paths() -> None:
    text = "Location:\n  /a:\n    SetHandler: server-status\n  /b:\n    Require: ip 10.0.0.0/8\n"
    first, second = parse_text(text, F)
    assert first == Section(
        "Location", "/a", (Node("SetHandler", ("server-status",), Location(F, 3)),), Location(F, 2)
    )
    assert second == Section(
        "Location", "/b", (Node("Require", ("ip", "10.0.0.0/8"), Location(F, 5)),), Location(F, 4)
    )


def test_an_empty_document_and_an_empty_block_are_empty() -> None:
    assert parse_text("# nothing\n", F) == ()
    (section,) = parse_text("mpm_event_module:\n", F)
    assert isinstance(section, Section) and section.children == ()


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "- Listen 80\n",
            1,
            "the top level of a YAML configuration must be a mapping of directive names to values",
        ),
        ("Listen:\n  port: 80\n", 2, "the value of Listen must be a scalar or a list"),
        ("Listen:\n  - [a, [b]]\n", 2, "each Listen item must be a scalar or a list of scalars"),
        (
            "mpm_event_module: 4\n",
            1,
            "the value of 'mpm_event_module' must be a mapping of directive names to values",
        ),
        (
            "Listen: 80\n  bad: indent\n",
            2,
            "YAML syntax error: mapping values are not allowed here",
        ),
    ],
)
def test_yaml_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_text(text, F)
    assert (info.value.message, info.value.where) == (message, Location(F, line))


def test_module_blocks_apply_only_with_their_module(write: Write) -> None:
    path = write(
        "mpmd.yaml",
        """
        Listen: 8080
        LoadModule: mpm_prefork_module
        mpm_prefork_module:
          StartServers: 2
        '!mpm_prefork_module':
          StartServers: 9
        IfModule mpm_event_module:
          ThreadsPerChild: 5
        """,
    )
    assert load_config(str(path), (), {}).mpm_settings.start_servers == 2


def test_yaml_and_apache_include_each_other(write: Write) -> None:
    write("tuning.conf", "<IfModule prefork.c>\n  StartServers 2\n</IfModule>\n")
    write("logs.yaml", "LogLevel: debug\n")
    write("more.conf", "Include logs.yaml\n")
    path = write(
        "mpmd.yaml",
        "Listen: 8080\nLoadModule: mpm_prefork_module\nInclude: [tuning.conf, more.conf]\n",
    )
    config = load_config(str(path), (), {})
    assert (config.mpm_settings.start_servers, config.log_level) == (2, "debug")


def test_errors_in_yaml_directives_name_the_yaml_line(fails: Callable[..., ConfigError]) -> None:
    error = fails("Listen: 8080\nLoadModule: mpm_prefork_module\nKeepAlive: maybe\n", name="m.yaml")
    assert error.message == "KeepAlive must be On or Off"
    assert error.where is not None
    assert (error.where.file.endswith("/m.yaml"), error.where.line) == (True, 3)


def test_same_server_from_both_syntaxes(write: Write) -> None:
    yaml_text = "Listen: [8080, 9090]\nLoadModule: mpm_prefork_module\nTimeout: 30\n"
    conf_text = "Listen 8080\nLoadModule mpm_prefork_module\nTimeout 30\nListen 9090\n"
    from_yaml = load_config(str(write("x.yaml", yaml_text)), (), {})
    from_conf = load_config(str(write("x.conf", conf_text)), (), {})
    assert [str(a) for a in from_yaml.listen] == ["*:8080", "*:9090"]
    assert from_yaml.listen == from_conf.listen
    assert from_yaml.timeout == from_conf.timeout == 30.0
