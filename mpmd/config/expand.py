"""The first half of evaluation: what Apache does while it reads the files.

Walks the tree in file order and carries out the ``EXEC_ON_READ`` directives
where they stand: ``Include``/``IncludeOptional`` (read the named files right
here), ``Define``/``UnDefine``, ``ServerRoot``, ``LoadModule``, and the
``<IfModule>``/``<IfDefine>`` conditions — so a condition sees exactly the
modules and defines set above it, as in Apache.  ``${VAR}`` is replaced in
every word before a directive is looked at (Apache's RESOLVE_ENV_PER_TOKEN
build: per word, so a value with spaces stays one argument); a variable is a
``Define NAME value`` or, failing that, an environment variable.  An undefined
variable is an **error** here (Apache only warns, AH00111, and keeps the text),
because a silently literal ``${PORT}`` is never what an operator wants.

Everything else is passed on, in order, as :class:`Effective` directives for
:mod:`mpmd.config.collect`, tagged with the ``<Location>`` they sit in.

Guarantees: no state outlives one call of :func:`expand`; every error names
the file and line of the directive (or ``Include``) at fault; Include cycles
are detected and reported with the chain of files.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mpmd.config import parsers, source
from mpmd.config.directives import Context, Directive, check_arity, lookup
from mpmd.config.model import ConfigWarning
from mpmd.config.modules import BUILTIN_MODULES, ModuleKind, classify, names_for
from mpmd.config.tree import Item, Node, Section
from mpmd.errors import ConfigError, Location
from mpmd.mpm.sizing import DEFINITIONS

#: Apache's AP_MAX_INCLUDE_DEPTH.
MAX_INCLUDE_DEPTH = 128
IN_LOCATION = "cannot occur within <Directory/Location/Files> section"
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_GLOB = re.compile(r"[*?[]")


@dataclass(frozen=True)
class ReadEnv:
    """What one load of the configuration starts from."""

    main_file: str  # absolute
    defines: tuple[str, ...]  # -D NAME from the command line
    environ: Mapping[str, str]
    available_mpms: tuple[str, ...]  # MPMs this build can run (the registry)
    known_mpms: tuple[str, ...]  # MPMs mpmd knows of, available or not


@dataclass(frozen=True)
class Effective:
    """A directive that survived the conditions, with ``${VAR}`` replaced."""

    name: str
    args: tuple[str, ...]
    where: Location
    location: str | None  # the <Location> path it applies to; None: the server


@dataclass(frozen=True)
class LoadedMpm:
    module: str
    where: Location | None  # None: the platform default, pre-loaded


@dataclass(frozen=True)
class Expanded:
    directives: tuple[Effective, ...]
    locations: tuple[tuple[str, Location], ...]  # each <Location> path, where first opened
    server_root: str
    mpm: LoadedMpm | None
    warnings: tuple[ConfigWarning, ...]
    main_file_empty: bool = False  # the main file has no directive or section at all


class _Defines:
    """``-D``/``Define`` names and ``Define NAME value`` variables, in force so far."""

    def __init__(self, names: tuple[str, ...], environ: Mapping[str, str]) -> None:
        self.names = list(names)
        self.variables: dict[str, str] = {}
        self.environ = environ

    def define(self, args: tuple[str, ...], where: Location) -> None:
        if ":" in args[0]:
            raise ConfigError("Variable name must not contain ':'", where)
        if args[0] not in self.names:
            self.names.append(args[0])
        if len(args) == 2:
            self.variables[args[0]] = args[1]

    def undefine(self, args: tuple[str, ...], where: Location) -> None:
        self.names = [name for name in self.names if name != args[0]]
        self.variables.pop(args[0], None)

    def substitute(self, text: str, where: Location) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            found = self.variables.get(name, self.environ.get(name))
            if found is None:
                raise ConfigError(f"Config variable ${{{name}}} is not defined", where)
            return found

        return _VARIABLE.sub(value, text) if "${" in text else text


class _Modules:
    """The loaded modules: the built-in ones plus at most one MPM."""

    def __init__(self, env: ReadEnv, preloaded: str | None) -> None:
        self.env = env
        self.mpm = LoadedMpm(preloaded, None) if preloaded else None
        self.warnings: list[ConfigWarning] = []

    def has(self, name: str) -> bool:
        loaded = BUILTIN_MODULES + ((self.mpm.module,) if self.mpm else ())
        return any(name in names_for(module) for module in loaded)

    def load(self, args: tuple[str, ...], where: Location) -> None:
        name = args[0]  # a second argument (the .so path) is accepted and ignored
        kind = classify(name, self.env.available_mpms, self.env.known_mpms)
        if kind is ModuleKind.BUILTIN:
            self.warnings.append(
                ConfigWarning(f"module {name} is built-in and can't be loaded", where)
            )
        elif kind is ModuleKind.MPM_MISSING:
            raise ConfigError(f"MPM module {name} is not available in this build", where)
        elif kind is ModuleKind.UNKNOWN:
            raise ConfigError(
                f"Cannot load {name}: mpmd has no such module (the MPMs are "
                f"{', '.join(self.env.known_mpms)}; other modules are built in)",
                where,
            )
        else:
            self.load_mpm(name, where)

    def load_mpm(self, name: str, where: Location) -> None:
        if self.mpm is not None and self.mpm.module == name:
            self.warnings.append(ConfigWarning(f"module {name} is already loaded, skipping", where))
            return
        if self.mpm is not None:
            raise ConfigError("More than one MPM loaded.", where)  # AH00534
        if name not in DEFINITIONS:
            raise ConfigError(f"MPM module {name} has no sizing definition in mpmd", where)
        self.mpm = LoadedMpm(name, where)


_Handler = Callable[[tuple[str, ...], Location, "str | None"], None]


class _Expander:
    """The read-time walk of one pass over the configuration."""

    def __init__(self, env: ReadEnv, preloaded: str | None) -> None:
        self.env = env
        self.server_root = os.path.dirname(env.main_file)
        self.defines = _Defines(env.defines, env.environ)
        self.modules = _Modules(env, preloaded)
        self.out: list[Effective] = []
        self.locations: dict[str, Location] = {}
        self.reading: list[str] = []  # real paths of the files being read, outermost first
        self.main_file_empty = False
        self.handlers: dict[str, _Handler] = {
            "ServerRoot": lambda args, where, loc: self.set_server_root(args[0], where),
            "Include": lambda args, where, loc: self.include(args[0], where, loc, optional=False),
            "IncludeOptional": lambda args, where, loc: self.include(
                args[0], where, loc, optional=True
            ),
            "Define": lambda args, where, loc: self.defines.define(args, where),
            "UnDefine": lambda args, where, loc: self.defines.undefine(args, where),
            "LoadModule": lambda args, where, loc: self.modules.load(args, where),
        }

    def run(self) -> Expanded:
        self.read_file(self.env.main_file, Location(self.env.main_file, 0), None)
        return Expanded(
            directives=tuple(self.out),
            locations=tuple(self.locations.items()),
            server_root=self.server_root,
            mpm=self.modules.mpm,
            warnings=tuple(self.modules.warnings),
            main_file_empty=self.main_file_empty,
        )

    def walk(self, items: tuple[Item, ...], location: str | None) -> None:
        for item in items:
            if isinstance(item, Node):
                self.node(item, location)
            else:
                self.section(item, location)

    def node(self, node: Node, location: str | None) -> None:
        name = self.defines.substitute(node.name, node.where)
        args = tuple(self.defines.substitute(arg, node.where) for arg in node.args)
        spec = lookup(name)
        if spec is None or not spec.on_read:
            self.out.append(Effective(name, args, node.where, location))
            return
        check_read_directive(spec, args, node.where, location)
        self.handlers[spec.name](args, node.where, location)

    def section(self, section: Section, location: str | None) -> None:
        arg = self.defines.substitute(section.arg, section.where)
        if section.kind == "Location":
            self.location(arg, section, location)
        elif self.condition(section.kind, arg):
            self.walk(section.children, location)

    def condition(self, kind: str, arg: str) -> bool:
        negate, name = arg.startswith("!"), arg.removeprefix("!")
        present = self.modules.has(name) if kind == "IfModule" else name in self.defines.names
        return present != negate

    def location(self, arg: str, section: Section, outer: str | None) -> None:
        if outer is not None:
            raise ConfigError(f"<Location> {IN_LOCATION}", section.where)
        try:
            path = parsers.location_path(arg)
        except parsers.ArgumentError as exc:
            raise ConfigError(str(exc), section.where) from None
        self.locations.setdefault(path, section.where)
        self.walk(section.children, path)

    def set_server_root(self, path: str, where: Location) -> None:
        root = source.absolute(path, os.path.dirname(self.env.main_file))
        if not os.path.isdir(root):
            raise ConfigError("ServerRoot must be a valid directory", where)
        self.server_root = root

    def include(
        self, pattern: str, where: Location, location: str | None, *, optional: bool
    ) -> None:
        target = source.absolute(pattern, self.server_root)
        for path in include_targets(target, where, optional):
            self.read_file(path, where, location)

    def read_file(self, path: str, where: Location, location: str | None) -> None:
        real = os.path.realpath(path)
        if real in self.reading:
            chain = " -> ".join([*self.reading, real])
            raise ConfigError(f"Recursive Include of {path} ({chain})", where)
        if len(self.reading) >= MAX_INCLUDE_DEPTH:
            raise ConfigError(
                f"Exceeded the maximum include directory nesting level of {MAX_INCLUDE_DEPTH}. "
                "You have probably a recursion somewhere.",
                where,
            )
        items = source.parse_path(path, where)
        if not self.reading:
            self.main_file_empty = not items
        self.reading.append(real)
        self.walk(items, location)
        self.reading.pop()


def include_targets(target: str, where: Location, optional: bool) -> list[str]:
    """The files an Include of ``target`` (absolute, maybe a wildcard) reads, in order."""
    if _GLOB.search(target):
        found = sorted(os.path.normpath(path) for path in glob.glob(target))
        if not found and not optional:
            directory, name = os.path.split(target)
            raise ConfigError(
                f"No matches for the wildcard '{name}' in '{directory}', failing", where
            )
        return [path for match in found for path in _files(match, where)]
    if optional and not os.path.exists(target):
        return []
    return _files(target, where)


def _files(path: str, where: Location) -> list[str]:
    """``path`` itself, or every file below it if it is a directory (sorted, no dotfiles)."""
    if not os.path.isdir(path):
        return [path]
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        raise ConfigError(
            f"Could not open config directory {path}: {exc.strerror}", where
        ) from None
    return [
        found
        for name in names
        if not name.startswith(".")
        for found in _files(os.path.join(path, name), where)
    ]


def check_read_directive(
    spec: Directive, args: tuple[str, ...], where: Location, location: str | None
) -> None:
    if location is not None and spec.context is Context.SERVER:
        raise ConfigError(f"{spec.name} {IN_LOCATION}", where)
    problem = check_arity(spec, args)
    if problem:
        raise ConfigError(problem, where)


def expand(env: ReadEnv, preloaded: str | None = None) -> Expanded:
    """Read the configuration from ``env.main_file``, with ``preloaded`` MPM already loaded."""
    return _Expander(env, preloaded).run()
