"""Reading one configuration file with the front end its name calls for.

``.yaml``/``.yml`` files are read by :mod:`mpmd.config.yaml_front`, every
other file by :mod:`mpmd.config.apache` — per file, so a YAML configuration
can ``Include`` Apache-syntax files (the shipped ``mods-available/*.conf``)
and the other way round.

Guarantees: a file that cannot be read or decoded raises
:class:`~mpmd.errors.ConfigError` at ``where`` (the ``Include`` that asked for
it, or the main file itself) with Apache's "Could not open configuration
file" text.
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
    try:
        with open(path, encoding="utf-8-sig") as handle:  # tolerate a BOM
            return handle.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"Could not open configuration file {path}: {reason}", where) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"Could not read configuration file {path}: not UTF-8 ({exc.reason})", where
        ) from None


def parse_path(path: str, where: Location) -> tuple[Item, ...]:
    """The items of the file at ``path`` (absolute), read by its front end."""
    text = read_text(path, where)
    if is_yaml(path):
        return yaml_front.parse_text(text, path)
    return apache.parse_text(text, path)


def absolute(path: str, base: str) -> str:
    """``path`` made absolute against the directory ``base`` (Apache's ap_server_root_relative)."""
    return os.path.normpath(os.path.join(base, path))
