"""From collected directive values to the frozen :class:`ServerConfig`.

Applies what Apache applies after reading: the last occurrence of a
single-valued directive wins; defaults come from the directive table (written
as they would be in a config file) or, where the table has none, from the
model; relative paths are resolved against the final ServerRoot; ``Listen``
duplicates are refused and their host names resolved, and ``User``/``Group``
looked up (:mod:`mpmd.config.lookups`), so ``-t`` refuses what could never
start; ``DocumentRoot`` is checked only where static files can be served;
``CustomLog`` formats are resolved from ``LogFormat``
nicknames (``common`` and ``combined`` are predefined with Apache's strings);
and the loaded MPM's sizing rules clamp its settings with Apache's warnings.

Guarantees: the result is deeply immutable (tuples and frozen dataclasses
only); every warning carries the location of the directive it is about.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from mpmd.config import lookups, parsers
from mpmd.config.apache import split_words
from mpmd.config.collect import Collected, Value
from mpmd.config.directives import TABLE, Directive
from mpmd.config.model import (
    ConfigWarning,
    CustomLog,
    ListenAddress,
    LocationConfig,
    MpmSettings,
    ReadTimeoutStage,
    RequestLimits,
    RequestReadTimeout,
    ServerConfig,
)
from mpmd.errors import ConfigError, Location
from mpmd.mpm.sizing import DEFINITIONS, Setting

#: Apache's own definitions (docs/conf/httpd.conf.in).
PREDEFINED_FORMATS: tuple[tuple[str, str], ...] = (
    ("common", '%h %l %u %t "%r" %>s %b'),
    ("combined", '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'),
)
_SPECIAL_TARGETS = ("stderr", "stdout")


@dataclass(frozen=True)
class Origin:
    """What the configuration was read from, and what reading it decided."""

    config_file: str
    server_root: str
    mpm_module: str
    mpm_chosen_by: str
    modules: tuple[str, ...]
    defines: tuple[str, ...]
    locations: tuple[tuple[str, Location], ...]
    main_file_empty: bool = False  # the main file holds no directive or section at all


def _simple(spec: Directive) -> bool:
    """A directive whose last value is its ServerConfig field, unchanged (or a resolved path)."""
    return (
        bool(spec.field)
        and not (spec.repeatable or spec.on_read or spec.mpm)
        and (spec.field not in ("mpm", "locations", "error_log") and "." not in spec.field)
    )


def default_value(spec: Directive) -> object:
    """The table's default for ``spec``, parsed as if it had been written."""
    assert spec.default is not None
    return spec.parse(spec.name, split_words(spec.default))


def _resolve(path: str, root: str) -> str:
    return os.path.normpath(os.path.join(root, path))


def _value(collected: Collected, spec: Directive) -> tuple[bool, object]:
    """(present, value): the last value set, else the table default."""
    last = collected.last(spec.setting)
    if last is not None:
        return True, last.value
    if spec.default is not None:
        return True, default_value(spec)
    return False, None


def _simple_fields(collected: Collected, root: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for spec in TABLE.values():
        present, value = _value(collected, spec) if _simple(spec) else (False, None)
        if present:
            fields[spec.field] = _resolve(str(value), root) if spec.path else value
    return fields


def _limits(collected: Collected) -> RequestLimits:
    fields: dict[str, Any] = {}
    for spec in TABLE.values():
        if spec.field.startswith("limits."):
            fields[spec.field.removeprefix("limits.")] = _value(collected, spec)[1]
    return RequestLimits(**fields)


def _listen_address(value: Value, root: str) -> ListenAddress:
    spec = value.value
    assert isinstance(spec, parsers.ListenSpec)
    if spec.kind == "unix":
        return ListenAddress("unix", path=_resolve(spec.path, root), where=value.where)
    return ListenAddress("tcp", host=spec.host, port=spec.port, where=value.where)


def _listen(collected: Collected, root: str, origin: Origin) -> tuple[ListenAddress, ...]:
    addresses: list[ListenAddress] = []
    resolver = lookups.HostResolver()
    for value in collected.all("Listen"):
        address = _listen_address(value, root)
        if address in addresses:
            raise ConfigError("Cannot define multiple Listeners on the same IP:port", value.where)
        if address.kind == "tcp":
            resolver.check(address.host, address.family, value.where)
        addresses.append(address)
    if not addresses:
        # Apache accepts an empty file, then stops: "no listening sockets available".
        empty = " (it holds no directives)" if origin.main_file_empty else ""
        raise ConfigError(
            "no listening sockets available, shutting down: no Listen directive in "
            f"{origin.config_file} or the files it includes{empty}",
            Location(origin.config_file, 0),
        )
    return tuple(addresses)


def _read_timeout(collected: Collected) -> RequestReadTimeout:
    """mod_reqtimeout: each stage named replaces that whole stage; others keep their value."""
    stages: dict[str, ReadTimeoutStage] = {}
    for value in collected.all("RequestReadTimeout"):
        assert isinstance(value.value, tuple)
        stages.update(value.value)
    stages.pop("handshake", None)  # TLS handshakes do not happen in mpmd
    return RequestReadTimeout(**stages)


def _directory_index(collected: Collected) -> tuple[str, ...]:
    """mod_dir: each DirectoryIndex adds names; ``DirectoryIndex disabled`` clears the list."""
    names: list[str] = []
    for value in collected.all("DirectoryIndex"):
        assert isinstance(value.value, tuple)
        words = [str(word) for word in value.value]
        names = [] if words == ["disabled"] else names + words
    return tuple(names) if collected.all("DirectoryIndex") else ("index.html",)


def _log_formats(collected: Collected) -> tuple[dict[str, str], str]:
    """(nickname -> format, the default format for a CustomLog without one)."""
    formats = dict(PREDEFINED_FORMATS)
    default = formats["combined"]
    for value in collected.all("LogFormat"):
        assert isinstance(value.value, tuple)
        if len(value.value) == 2:
            formats[value.value[1]] = value.value[0]
        else:
            default = value.value[0]  # LogFormat without a nickname: the default format
    return formats, default


def log_target(target: str, root: str) -> str:
    if target in _SPECIAL_TARGETS or target.startswith(("|", "syslog")):
        return target
    return _resolve(target, root)


def _custom_logs(
    collected: Collected, formats: dict[str, str], default: str, root: str
) -> tuple[CustomLog, ...]:
    logs: list[CustomLog] = []
    for value in collected.all("CustomLog"):
        assert isinstance(value.value, tuple)
        target, *rest = value.value
        wanted = rest[0] if rest else None
        if wanted is not None and wanted not in formats and "%" not in wanted:
            raise ConfigError(
                f"CustomLog: format nickname '{wanted}' is not defined by any LogFormat",
                value.where,
            )
        chosen = default if wanted is None else formats.get(wanted, str(wanted))
        logs.append(CustomLog(log_target(target, root), chosen))
    return tuple(logs)


def _locations(
    collected: Collected, order: tuple[tuple[str, Location], ...]
) -> tuple[LocationConfig, ...]:
    configs: list[LocationConfig] = []
    for path, where in order:
        values = collected.locations.get(path, {})
        handlers = values.get("SetHandler", [])
        handler = str(handlers[-1].value) if handlers else None
        requires = values.get("Require", [])
        require = requires[0].value if requires else ()
        assert isinstance(require, tuple)
        configs.append(
            LocationConfig(
                path, None if handler in (None, "None", "none") else handler, require, where
            )
        )
    return tuple(configs)


def _mpm_settings(collected: Collected, module: str, warnings: list[ConfigWarning]) -> MpmSettings:
    values: dict[str, Setting] = {}
    for spec in TABLE.values():
        last = collected.last(spec.setting) if spec.field == "mpm" else None
        if last is not None:
            assert isinstance(last.value, int | float)
            values[spec.setting] = Setting(last.value, last.where)
    return DEFINITIONS[module].build(
        values, lambda text, where: warnings.append(ConfigWarning(text, where))
    )


def _serves_static_files(fields: dict[str, Any], locations: tuple[LocationConfig, ...]) -> bool:
    """Can any request reach the static handler (see :func:`mpmd.app.router.build_router`)?

    Without WSGIApp it is the default handler; with one, only a ``<Location>``
    that sets ``SetHandler default-handler`` reaches it (``SetHandler None``
    falls back to the default, the application).
    """
    if not fields.get("wsgi_app"):
        return True
    return any((loc.handler or "").lower() == "default-handler" for loc in locations)


def _check_document_root(
    fields: dict[str, Any],
    collected: Collected,
    locations: tuple[LocationConfig, ...],
    origin: Origin,
    warnings: list[ConfigWarning],
) -> None:
    root = str(fields["document_root"])
    if os.path.isdir(root) or not _serves_static_files(fields, locations):
        return
    last = collected.last("DocumentRoot")
    if last is not None:
        warnings.append(ConfigWarning(f"Warning: DocumentRoot [{root}] does not exist", last.where))
        return
    warnings.append(
        ConfigWarning(
            f"Warning: DocumentRoot [{root}] does not exist (no DocumentRoot is set, "
            "so it defaults to htdocs below ServerRoot)",
            Location(origin.config_file, 0),
        )
    )


def _check_identity(collected: Collected) -> None:
    """User and Group must exist now, as Apache's ap_uname2id/ap_gname2id insist."""
    user, group = collected.last("User"), collected.last("Group")
    if user is not None:
        lookups.check_user(str(user.value), user.where)
    if group is not None:
        lookups.check_group(str(group.value), group.where)


def build(
    origin: Origin, collected: Collected, warnings: tuple[ConfigWarning, ...]
) -> ServerConfig:
    """The ServerConfig for ``collected`` values; ``warnings`` are the reader's so far."""
    root, found = origin.server_root, [*warnings, *collected.warnings]
    fields = _simple_fields(collected, root)
    fields["error_log"] = log_target(str(_value(collected, TABLE["errorlog"])[1]), root)
    fields["wsgi_path"] = tuple(_resolve(str(v.value), root) for v in collected.all("WSGIPath"))
    wsgi_app = collected.last("WSGIApp")  # its line, for an import error (mpmd.app.loader)
    fields["wsgi_app_where"] = wsgi_app.where if wsgi_app is not None else None
    formats, default_format = _log_formats(collected)
    mpm_settings = _mpm_settings(collected, origin.mpm_module, found)
    locations = _locations(collected, origin.locations)
    listen = _listen(collected, root, origin)
    _check_identity(collected)
    _check_document_root(fields, collected, locations, origin, found)
    return ServerConfig(
        config_file=origin.config_file,
        server_root=root,
        mpm_module=origin.mpm_module,
        mpm_chosen_by=origin.mpm_chosen_by,
        mpm_settings=mpm_settings,
        modules=origin.modules,
        defines=origin.defines,
        listen=listen,
        limits=_limits(collected),
        request_read_timeout=_read_timeout(collected),
        directory_index=_directory_index(collected),
        log_formats=tuple(formats.items()),
        custom_logs=_custom_logs(collected, formats, default_format, root),
        locations=locations,
        warnings=tuple(found),
        **fields,
    )
