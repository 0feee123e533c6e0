"""The YAML front end: a mapping of directive names -> the shared tree.

Rules (each value keeps the line it was written on, via ``yaml.compose``):

* the top level is a mapping; each key is a directive name, spelled as in
  Apache (case-insensitive);
* a scalar value is what would follow the directive name on an Apache line,
  split into words the same way (``CustomLog: logs/access.log combined``);
  YAML booleans become ``On``/``Off``, numbers keep their written form;
* a list value repeats the directive once per item (``Listen: [80, 8080]``);
  an item that is itself a list gives the arguments explicitly, unsplit
  (``LogFormat: [['%h %l %u %t "%r" %>s %b', common]]``);
* a key naming a module (``mpm_event_module:``, ``!mpm_event_module:``,
  ``mod_status.c:``) or written ``IfModule NAME:`` holds a mapping applied only
  when that module is (or, with ``!``, is not) loaded; ``IfDefine NAME:`` does
  the same for a define;
* ``Location: {"/path": {SetHandler: …, Require: …}}`` (or ``Location /path:``)
  is a ``<Location>`` section.

Guarantees: :func:`parse_text` never touches the filesystem; every error is a
:class:`~mpmd.errors.ConfigError` naming the file and line.
"""

from __future__ import annotations

import re

import yaml

from mpmd.config.apache import split_words
from mpmd.config.tree import Item, Node, Section, section_kind
from mpmd.errors import ConfigError, Location

_MODULE_KEY = re.compile(r"!?(?:\w+_module|[\w.]+\.c)")
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"


class _Converter:
    """Turns composed YAML nodes of one file into tree items."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def where(self, node: yaml.Node) -> Location:
        return Location(self.filename, node.start_mark.line + 1)

    def mapping(self, node: yaml.Node, what: str) -> tuple[Item, ...]:
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG:
            return ()  # an empty block, e.g. "mpm_event_module:" with nothing under it
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError(
                f"{what} must be a mapping of directive names to values", self.where(node)
            )
        items: list[Item] = []
        for key, value in node.value:
            items.extend(self.entry(key, value))
        return tuple(items)

    def entry(self, key: yaml.Node, value: yaml.Node) -> list[Item]:
        if not isinstance(key, yaml.ScalarNode):
            raise ConfigError("a directive name must be a plain string", self.where(key))
        name = str(key.value).strip()
        words = name.split()
        kind = section_kind(words[0]) if words else None
        if kind is not None and len(words) == 2:
            return [self.section(kind, words[1], key, value)]
        if kind == "Location" and len(words) == 1:
            return self.locations(value)
        if len(words) == 1 and _MODULE_KEY.fullmatch(name):
            return [self.section("IfModule", name, key, value)]
        return self.directive(name, key, value)

    def section(self, kind: str, arg: str, key: yaml.Node, value: yaml.Node) -> Section:
        children = self.mapping(value, f"the value of '{key.value}'")
        return Section(kind, arg, children, self.where(key))

    def locations(self, value: yaml.Node) -> list[Item]:
        if not isinstance(value, yaml.MappingNode):
            raise ConfigError(
                "Location must be a mapping of URL paths to mappings", self.where(value)
            )
        return [self.section("Location", str(path.value), path, body) for path, body in value.value]

    def directive(self, name: str, key: yaml.Node, value: yaml.Node) -> list[Item]:
        if isinstance(value, yaml.ScalarNode):
            return [Node(name, self.split(value), self.where(key))]
        if isinstance(value, yaml.SequenceNode):
            return [
                Node(name, self.item_args(name, item), self.where(item)) for item in value.value
            ]
        raise ConfigError(f"the value of {name} must be a scalar or a list", self.where(value))

    def item_args(self, name: str, item: yaml.Node) -> tuple[str, ...]:
        if isinstance(item, yaml.ScalarNode):
            return self.split(item)
        if isinstance(item, yaml.SequenceNode) and all(
            isinstance(x, yaml.ScalarNode) for x in item.value
        ):
            return tuple(self.scalar(x) for x in item.value)
        raise ConfigError(
            f"each {name} item must be a scalar or a list of scalars", self.where(item)
        )

    def scalar(self, node: yaml.Node) -> str:
        if node.tag == _BOOL_TAG:
            return "On" if str(node.value).lower() in ("true", "yes", "on") else "Off"
        if node.tag == _NULL_TAG:
            return ""
        return str(node.value)

    def split(self, node: yaml.Node) -> tuple[str, ...]:
        if node.tag in (_BOOL_TAG, _NULL_TAG):
            text = self.scalar(node)
            return (text,) if text else ()
        return split_words(str(node.value))


def parse_text(text: str, filename: str) -> tuple[Item, ...]:
    """The items of one YAML configuration file (``filename`` is used in locations only)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(
            f"YAML syntax error: {exc.problem or exc}", Location(filename, line)
        ) from None
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow (a control character): its own line.
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError(
            f"YAML syntax error: unacceptable character #x{code:04X} ({exc.reason})",
            Location(filename, line),
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML syntax error: {exc}", Location(filename, 1)) from None
    if root is None:
        return ()
    return _Converter(filename).mapping(root, "the top level of a YAML configuration")
