"""The Apache-syntax front end: words, quoting, continuation, comments, sections."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mpmd.config import ServerConfig
from mpmd.config.apache import logical_lines, parse_text, split_words
from mpmd.config.tree import Node, Section
from mpmd.errors import ConfigError, Location


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a b\tc", ("a", "b", "c")),
        ('"two words" x', ("two words", "x")),
        ("'single quoted' x", ("single quoted", "x")),
        (r'"say \"hi\"" x', ('say "hi"', "x")),
        (r"'it\'s'", ("it's",)),
        (r'"back\\slash"', ("back\\slash",)),
        (r"plain\\word", ("plain\\word",)),
        (r'"keep \n as is"', ("keep \\n as is",)),
        ('"a"b', ("a", "b")),
        ('"unterminated runs to the end', ("unterminated runs to the end",)),
        ('mid"quote"', ('mid"quote"',)),
        ("", ()),
    ],
)
def test_split_words_like_ap_getword_conf(text: str, words: tuple[str, ...]) -> None:
    assert split_words(text) == words


def test_continuation_joins_lines_and_keeps_the_first_line_number() -> None:
    text = "A 1\nB two \\\n  three \\\n four\nC\n"
    assert list(logical_lines(text)) == [(1, "A 1"), (2, "B two   three  four"), (5, "C"), (6, "")]


def test_comments_only_at_line_start() -> None:
    items = parse_text("  # a comment\nListen 80 # not a comment\n", "/x.conf")
    assert items == (Node("Listen", ("80", "#", "not", "a", "comment"), Location("/x.conf", 2)),)


def test_hash_after_a_directive_is_an_argument_as_in_apache(
    fails: Callable[..., ConfigError],
) -> None:
    error = fails("Listen 8080 # the port\n")
    assert error.message.startswith("Listen takes 1-2 arguments, ")
    assert error.where is not None and error.where.line == 1


def test_sections_nest_and_keep_their_lines() -> None:
    text = "<IfModule mpm_prefork_module>\n  <IfDefine !X>\n    A b\n  </IfDefine>\n</ifmodule>\n"
    (outer,) = parse_text(text, "/x.conf")
    assert isinstance(outer, Section)
    assert (outer.kind, outer.arg, outer.where.line) == ("IfModule", "mpm_prefork_module", 1)
    (inner,) = outer.children
    assert isinstance(inner, Section)
    assert (inner.kind, inner.arg, inner.where.line) == ("IfDefine", "!X", 2)
    assert inner.children == (Node("A", ("b",), Location("/x.conf", 3)),)


def test_quoted_location_path() -> None:
    (section,) = parse_text('<Location "/a b">\n</Location>\n', "/x.conf")
    assert isinstance(section, Section) and section.arg == "/a b"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("<IfModule x>\nA b\n", 1, "<IfModule> was not closed."),
        (
            "<IfModule x>\n<IfDefine Y>\n</IfModule>\n",
            3,
            "Expected </IfDefine> but saw </IfModule>",
        ),
        ("A b\n</IfModule>\n", 2, "</IfModule> without matching <IfModule> section"),
        ("<IfModule x\n</IfModule>\n", 1, "<IfModule> directive missing closing '>'"),
        ("<IfModule>\n</IfModule>\n", 1, "<IfModule> directive requires additional arguments"),
        ("<IfModule a b>\n</IfModule>\n", 1, "<IfModule> takes one argument"),
        (
            "<VirtualHost *:80>\n</VirtualHost>\n",
            1,
            "Invalid command '<VirtualHost', perhaps misspelled or defined by a module not "
            "included in the server configuration",
        ),
    ],
)
def test_section_errors(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_text(text, "/x.conf")
    assert (info.value.message, info.value.where) == (message, Location("/x.conf", line))
    assert str(info.value) == f"/x.conf:{line}: {message}"


def test_directive_names_are_case_insensitive(conf: Callable[..., ServerConfig]) -> None:
    config = conf("keepalive off\nKEEPALIVETIMEOUT 2\nlogLevel DEBUG\n")
    assert (config.keep_alive, config.keep_alive_timeout, config.log_level) == (False, 2.0, "debug")


def test_continued_directive_in_a_loaded_config(conf: Callable[..., ServerConfig]) -> None:
    config = conf('LogFormat "%h %l \\\n%u" short\nCustomLog stdout short\n')
    assert config.custom_logs[0].format == "%h %l %u"
