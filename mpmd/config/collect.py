"""The second half of evaluation: each directive through the directive table.

Takes the directives that :mod:`mpmd.config.expand` let through, in file
order, and for each one: looks it up (unknown, or an MPM directive whose MPM
is not loaded -> Apache's "Invalid command" error), checks its context
(server-only inside ``<Location>``, ``<Location>``-only outside), its arity
(Apache's ``invoke_cmd`` texts) and its arguments (the table's parser).

As in Apache, this happens after all files are read, so a bare
``StartServers`` is valid anywhere once the MPM is loaded anywhere — which is
what a Debian-style ``mods-enabled/*.conf`` relies on.

Guarantees: the result holds parsed values in file order with their
locations, keyed by the setting they set (aliases folded); every rejected
directive raises :class:`~mpmd.errors.ConfigError` at its file and line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mpmd.config.directives import Context, Directive, check_arity, lookup
from mpmd.config.expand import IN_LOCATION, Effective
from mpmd.config.model import ConfigWarning
from mpmd.config.parsers import ArgumentError
from mpmd.errors import ConfigError, Location
from mpmd.mpm.sizing import DEFINITIONS


@dataclass(frozen=True)
class Value:
    value: object
    where: Location


@dataclass
class Collected:
    """Parsed values by setting name, for the server and for each <Location> path."""

    server: dict[str, list[Value]] = field(default_factory=dict)
    locations: dict[str, dict[str, list[Value]]] = field(default_factory=dict)
    warnings: list[ConfigWarning] = field(default_factory=list)

    def last(self, setting: str) -> Value | None:
        values = self.server.get(setting)
        return values[-1] if values else None

    def all(self, setting: str) -> list[Value]:
        return self.server.get(setting, [])


def invalid_command(name: str) -> str:
    return (
        f"Invalid command '{name}', perhaps misspelled or defined by a module "
        "not included in the server configuration"
    )


def _spec(directive: Effective, mpm: str | None) -> Directive:
    spec = lookup(directive.name)
    available = spec is not None and not spec.on_read
    if spec is not None and spec.mpm:
        available = mpm is not None and spec.name in DEFINITIONS[mpm].directives
    if spec is None or not available:
        raise ConfigError(invalid_command(directive.name), directive.where)
    return spec


def _check_context(spec: Directive, directive: Effective) -> None:
    if directive.location is not None and spec.context is Context.SERVER:
        raise ConfigError(f"{spec.name} {IN_LOCATION}", directive.where)
    if directive.location is None and spec.context is Context.LOCATION:
        raise ConfigError(
            f"{spec.name} is only allowed inside a <Location> section", directive.where
        )


def _parse(spec: Directive, directive: Effective) -> object:
    problem = check_arity(spec, directive.args)
    if problem:
        raise ConfigError(problem, directive.where)
    try:
        return spec.parse(spec.name, directive.args)
    except ArgumentError as exc:
        raise ConfigError(str(exc), directive.where) from None


def _store(collected: Collected, spec: Directive, directive: Effective, value: object) -> None:
    if directive.location is None:
        target = collected.server
    else:
        target = collected.locations.setdefault(directive.location, {})
    values = target.setdefault(spec.setting, [])
    if spec.name == "Require" and values:
        # Apache ORs several Require lines (an implicit <RequireAny>); mpmd
        # keeps one Require per path, so refuse rather than drop a line.
        raise ConfigError(
            f"only one Require per <Location {directive.location}> is supported "
            f"(the first is at {values[0].where}); list several addresses on one 'Require ip' line",
            directive.where,
        )
    values.append(Value(value, directive.where))


def collect(directives: Iterable[Effective], mpm: str | None) -> Collected:
    """Check and parse ``directives`` (in file order) with ``mpm`` loaded."""
    collected = Collected()
    for directive in directives:
        spec = _spec(directive, mpm)
        _check_context(spec, directive)
        value = _parse(spec, directive)
        if spec.note:  # MaxClients, MaxRequestsPerChild (Apache logs these at info)
            collected.warnings.append(ConfigWarning(spec.note, directive.where))
        _store(collected, spec, directive, value)
    return collected
