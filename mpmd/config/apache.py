"""The Apache-syntax front end: ``httpd.conf``-style text -> the shared tree.

What it follows (httpd 2.4 ``server/util.c`` and ``server/config.c``):

* a line whose last character is ``\\`` continues on the next one; the
  directive's location is the line it started on;
* a comment is a line whose first non-blank character is ``#`` — a ``#``
  later on a line is an ordinary argument, as in Apache;
* words are split as ``ap_getword_conf`` does: a word that starts with ``"``
  or ``'`` runs to the matching quote (``\\"`` and ``\\\\`` are escapes
  inside it), any other word runs to the next blank;
* ``<Kind arg>`` opens a section and ``</Kind>`` closes it; a missing ``>``,
  a mismatched or stray closer, and a section still open at the end of the
  file are errors with Apache's texts.

Guarantees: :func:`parse_text` never touches the filesystem and returns the
file's items in order; every error is a :class:`~mpmd.errors.ConfigError`
naming the file and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from mpmd.config.tree import Item, Node, Section, section_kind
from mpmd.errors import ConfigError, Location


def _unescape(raw: str, quote: str) -> str:
    """substring_conf(): ``\\\\`` -> ``\\`` always, ``\\<quote>`` -> quote inside quotes."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw) and raw[i + 1] in ("\\", quote or "\\"):
            i += 1
        out.append(raw[i])
        i += 1
    return "".join(out)


def _word(text: str, start: int) -> tuple[str, int]:
    """One ap_getword_conf() word starting at ``start`` -> (word, index after it)."""
    quote = text[start]
    if quote in "\"'":
        end = start + 1
        while end < len(text) and text[end] != quote:
            end += 2 if text[end] == "\\" and text[end + 1 : end + 2] in (quote, "\\") else 1
        # An unterminated quote runs to the end of the line, as in Apache.
        return _unescape(text[start + 1 : end], quote), min(end + 1, len(text))
    end = start
    while end < len(text) and not text[end].isspace():
        end += 1
    return _unescape(text[start:end], ""), end


def split_words(text: str) -> tuple[str, ...]:
    """Split a directive's arguments exactly as Apache does."""
    words: list[str] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return tuple(words)
        word, i = _word(text, i)
        words.append(word)


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first physical line number, joined and stripped text) for each logical line."""
    physical = text.split("\n")
    i = 0
    while i < len(physical):
        first, parts = i + 1, []
        line = physical[i].rstrip("\r")
        while line.rstrip().endswith("\\") and i + 1 < len(physical):
            parts.append(line.rstrip()[:-1])
            i += 1
            line = physical[i].rstrip("\r")
        parts.append(line.rstrip().removesuffix("\\"))
        i += 1
        yield first, "".join(parts).strip()


@dataclass
class _Open:
    """A section being read: ``<kind arg>`` at ``where``, its children so far."""

    kind: str
    arg: str
    where: Location
    children: list[Item] = field(default_factory=list)


class _Reader:
    """Builds the tree of one file from its logical lines (a stack of open sections)."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.top: list[Item] = []
        self.stack: list[_Open] = []

    def add(self, item: Item) -> None:
        (self.stack[-1].children if self.stack else self.top).append(item)

    def line(self, number: int, text: str) -> None:
        if not text or text.startswith("#"):
            return
        where = Location(self.filename, number)
        words = split_words(text)
        first = words[0]
        if first.startswith("</"):
            self.close(first, where)
        elif first.startswith("<"):
            self.open(first, text, where)
        else:
            self.add(Node(first, words[1:], where))

    def open(self, first: str, text: str, where: Location) -> None:
        name = first[1:].removesuffix(">")
        kind = section_kind(name)
        if kind is None:
            raise ConfigError(
                f"Invalid command '<{name}', perhaps misspelled or defined by a module "
                "not included in the server configuration",
                where,
            )
        inner = text[len(first) :].strip() if not first.endswith(">") else ">"
        if not inner.endswith(">"):
            raise ConfigError(f"<{kind}> directive missing closing '>'", where)
        args = split_words(inner[:-1])
        if not args:
            raise ConfigError(f"<{kind}> directive requires additional arguments", where)
        if len(args) > 1:
            raise ConfigError(f"<{kind}> takes one argument", where)
        self.stack.append(_Open(kind, args[0], where))

    def close(self, first: str, where: Location) -> None:
        if not first.endswith(">"):
            raise ConfigError(f"{first}> directive missing closing '>'", where)
        name = first[2:-1]
        if not self.stack:
            raise ConfigError(f"{first} without matching <{name}> section", where)
        current = self.stack[-1]
        if name.lower() != current.kind.lower():
            raise ConfigError(f"Expected </{current.kind}> but saw {first}", where)
        self.stack.pop()
        self.add(Section(current.kind, current.arg, tuple(current.children), current.where))

    def finish(self) -> tuple[Item, ...]:
        if self.stack:
            innermost = self.stack[-1]
            raise ConfigError(f"<{innermost.kind}> was not closed.", innermost.where)
        return tuple(self.top)


def parse_text(text: str, filename: str) -> tuple[Item, ...]:
    """The items of one Apache-syntax file (``filename`` is used in locations only)."""
    reader = _Reader(filename)
    for number, line in logical_lines(text):
        reader.line(number, line)
    return reader.finish()
