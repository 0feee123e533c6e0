"""Reading one configuration file with the front end its name calls for.

``.yaml``/``.yml`` files are read by :mod:`mpmd.config.yaml_front`, every
other file by :mod:`mpmd.config.apache` — per file, so a YAML configuration
can ``Include`` Apache-syntax files (the shipped ``mods-available/*.conf``)
and the other way round.

Guarantees: a file that cannot be opened or read (missing, a directory,
no permission) raises :class:`~mpmd.errors.ConfigError` at ``where`` (the
``Include`` that asked for it, or the main file itself at line 0) with
Apache's "Could not open configuration file FILE: reason" text; one that is
not UTF-8 raises at its own line holding the first bad byte.
"""

from __future__ import annotations

import os

from mpmd.config import apache, yaml_front
from mpmd.config.tree import Item
from mpmd.errors import ConfigError, Location

YAML_SUFFIXES = (".yaml", ".yml")


def is_yaml(path: str) -> bool:
    return path.lower().endswith(YAML_SUFFIXES)


def read_text(path: str, where: Location) -> str:
    """The text of the file at ``path``; ``where`` is who asked for it (for open errors)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"Could not open configuration file {path}: {reason}", where) from None
    try:
        return data.decode("utf-8-sig")  # tolerate a BOM
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None


def _not_utf8(path: str, exc: UnicodeDecodeError) -> ConfigError:
    """The error at the line of the first byte that is not UTF-8 (counted from 1)."""
    # exc.object is what was decoded: the file without its BOM, so the
    # offsets and the line count agree.
    line = exc.object.count(b"\n", 0, exc.start) + 1
    byte = exc.object[exc.start : exc.start + 1].hex()
    return ConfigError(
        f"Could not read configuration file {path}: not UTF-8 "
        f"(byte 0x{byte} at offset {exc.start}: {exc.reason})",
        Location(path, line),
    )


def parse_path(path: str, where: Location) -> tuple[Item, ...]:
    """The items of the file at ``path`` (absolute), read by its front end."""
    text = read_text(path, where)
    if is_yaml(path):
        return yaml_front.parse_text(text, path)
    return apache.parse_text(text, path)


def absolute(path: str, base: str) -> str:
    """``path`` made absolute against the directory ``base`` (Apache's ap_server_root_relative)."""
    return os.path.normpath(os.path.join(base, path))
