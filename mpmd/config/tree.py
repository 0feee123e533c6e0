"""The intermediate tree that both configuration front ends produce.

The Apache-syntax reader (:mod:`mpmd.config.apache`) and the YAML reader
(:mod:`mpmd.config.yaml_front`) each turn one file into a tuple of
:data:`Item` — directives (:class:`Node`) and conditional or scoped blocks
(:class:`Section`) — and nothing else.  Everything after that (``Include``,
``Define``, ``<IfModule>``, the directive table, Apache's clamps) is shared,
so the two syntaxes cannot drift apart.

Guarantees: every item carries the :class:`~mpmd.errors.Location` it was
written at; names and arguments are exactly as written (no ``${VAR}``
substitution, no case folding — that is the evaluator's job).
"""

from __future__ import annotations

from dataclasses import dataclass

from mpmd.errors import Location


@dataclass(frozen=True)
class Node:
    """One directive: ``Listen 127.0.0.1:8080`` -> ``Node("Listen", ("127.0.0.1:8080",), …)``."""

    name: str
    args: tuple[str, ...]
    where: Location


@dataclass(frozen=True)
class Section:
    """A block: ``<IfModule !mpm_event_module> … </IfModule>``.

    ``kind`` is the canonical spelling from :data:`SECTION_KINDS`; ``arg`` is
    the single argument as written (``"!mpm_event_module"``, ``"/status"``).
    """

    kind: str
    arg: str
    children: tuple[Item, ...]
    where: Location


Item = Node | Section

#: The block kinds mpmd understands, as Apache spells them.
SECTION_KINDS: tuple[str, ...] = ("IfModule", "IfDefine", "Location")


def section_kind(name: str) -> str | None:
    """The canonical kind for ``name`` (case-insensitive, as Apache), or None."""
    lowered = name.lower()
    for kind in SECTION_KINDS:
        if kind.lower() == lowered:
            return kind
    return None
