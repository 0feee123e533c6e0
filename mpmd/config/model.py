"""The frozen, typed configuration model.

Both front ends (Apache syntax and YAML) end here.  A :class:`ServerConfig` is
immutable once built, so a running generation can keep its own copy while a
reload builds and validates the next one beside it.  Every value is already
defaulted and clamped; consumers never re-apply Apache's rules.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Literal

from mpmd.errors import Location


@dataclass(frozen=True)
class ConfigWarning:
    """A directive was accepted but adjusted (Apache's AH000xx clamp warnings)."""

    message: str
    where: Location | None = None

    def __str__(self) -> str:
        if self.where is None:
            return self.message
        # Line 0 is the file as a whole (a default no line set): name the file only.
        place = str(self.where) if self.where.line else self.where.file
        return f"{place}: {self.message}"


@dataclass(frozen=True)
class ListenAddress:
    """One `Listen` address.  TCP (``host`` may be ``""`` for every interface) or Unix."""

    kind: Literal["tcp", "unix"]
    host: str = ""
    port: int = 0
    path: str = ""
    where: Location | None = field(default=None, compare=False)

    @property
    def family(self) -> socket.AddressFamily:
        if self.kind == "unix":
            return socket.AF_UNIX
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host or '*'}:{self.port}"


@dataclass(frozen=True)
class RequestLimits:
    """LimitRequestLine / Fields / FieldSize / Body (Apache defaults)."""

    line: int = 8190
    fields: int = 100
    field_size: int = 8190
    body: int = 1 << 30  # 0 = unlimited, as Apache


@dataclass(frozen=True)
class ReadTimeoutStage:
    """One stage of mod_reqtimeout: ``timeout[-max_timeout],MinRate=min_rate``.

    ``timeout == 0`` disables the stage.  With a ``min_rate`` the deadline moves
    by one second per ``min_rate`` bytes received, up to ``max_timeout``.
    """

    timeout: float
    max_timeout: float | None = None
    min_rate: int = 0


@dataclass(frozen=True)
class RequestReadTimeout:
    """mod_reqtimeout defaults: header=20-40,MinRate=500 body=20,MinRate=500."""

    header: ReadTimeoutStage = ReadTimeoutStage(20.0, 40.0, 500)
    body: ReadTimeoutStage = ReadTimeoutStage(20.0, None, 500)


@dataclass(frozen=True)
class LocationConfig:
    """A ``<Location path>`` block: which handler serves it and who may."""

    path: str
    handler: str | None = None  # SetHandler value, e.g. "server-status"
    require: tuple[str, ...] = ()  # e.g. ("local",), ("all", "granted"), ("ip", "10.0.0.0/8")
    where: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class CustomLog:
    """``CustomLog target format``: the format is resolved from LogFormat nicknames."""

    target: str  # a path (absolute, resolved against ServerRoot), "stdout", "stderr" or "|cmd"
    format: str


@dataclass(frozen=True)
class MpmSettings:
    """Sizing common to every MPM, after Apache's clamps.

    Each MPM extends this with its own fields; the master only reads what is
    here (to size the scoreboard) and hands the whole object to the MPM.
    """

    start_servers: int
    server_limit: int
    max_request_workers: int
    max_connections_per_child: int  # 0 = unlimited
    thread_limit: int = 1  # 1 for a process-per-connection MPM


@dataclass(frozen=True)
class PreforkSettings(MpmSettings):
    min_spare_servers: int = 5
    max_spare_servers: int = 10


@dataclass(frozen=True)
class ThreadedSettings(MpmSettings):
    """worker and event."""

    threads_per_child: int = 25
    min_spare_threads: int = 75
    max_spare_threads: int = 250
    async_request_worker_factor: float = 2.0  # event only; ignored by worker


@dataclass(frozen=True)
class ServerConfig:
    """Everything one generation of the server runs with."""

    config_file: str  # absolute path of the main file
    server_root: str  # absolute
    mpm_module: str  # e.g. "mpm_prefork_module"
    mpm_chosen_by: str  # "LoadModule at FILE:LINE" or "platform default (REASON)"
    mpm_settings: MpmSettings
    modules: tuple[str, ...]  # loaded modules (built-in core ones first), for -M
    defines: tuple[str, ...]
    listen: tuple[ListenAddress, ...]
    listen_backlog: int = 511
    pid_file: str = ""  # absolute; "" disables
    scoreboard_file: str = ""  # absolute; "" = anonymous shared memory
    control_socket: str = ""  # absolute; "" = next to the PidFile
    user: str = ""
    group: str = ""
    server_name: str = ""
    server_admin: str = ""
    document_root: str = ""
    directory_index: tuple[str, ...] = ("index.html",)
    error_log: str = "stderr"  # path, "stderr", or "syslog"
    log_level: str = "warn"
    log_formats: tuple[tuple[str, str], ...] = ()  # nickname -> format
    custom_logs: tuple[CustomLog, ...] = ()
    keep_alive: bool = True
    keep_alive_timeout: float = 5.0
    max_keep_alive_requests: int = 100  # 0 = unlimited
    timeout: float = 60.0
    limits: RequestLimits = RequestLimits()
    request_read_timeout: RequestReadTimeout = RequestReadTimeout()
    extended_status: bool | None = None  # None = Apache's default (On when status is used)
    graceful_shutdown_timeout: float = 0.0  # 0 = wait forever
    drain_timeout: float = 60.0  # old generation after a graceful restart; 0 = no limit
    max_memory_per_child: int = 0  # bytes of RSS; 0 = no limit
    wsgi_app: str = ""  # "module:callable" ("" = static files only)
    wsgi_path: tuple[str, ...] = ()  # directories put in front of sys.path for the import
    wsgi_preload: bool = False  # import in the master before forking
    #: where WSGIApp was written, so an import failure can name the line
    wsgi_app_where: Location | None = field(default=None, compare=False)
    locations: tuple[LocationConfig, ...] = ()
    warnings: tuple[ConfigWarning, ...] = field(default=(), compare=False)
