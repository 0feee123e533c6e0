"""The directive table: every directive mpmd understands, declared once.

Both front ends and the evaluator use this table, so a directive has one
spelling (Apache's), one arity, one parser, one context and one default no
matter which syntax it was written in.  Lookup is case-insensitive, as in
Apache (``ap_find_command``).

``on_read`` directives (``Include``, ``Define``, ``LoadModule``, ``ServerRoot``
…) are Apache's ``EXEC_ON_READ`` commands: they act while the files are read,
in file order, which is why an ``<IfModule>`` after a ``LoadModule`` sees the
module.  ``mpm`` directives exist only while an MPM that lists them in
:data:`mpmd.mpm.sizing.DEFINITIONS` is loaded.

Guarantees: :data:`TABLE` is immutable; :func:`check_arity` produces Apache's
``invoke_cmd`` texts (``StartServers takes one argument, …``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from mpmd.config import parsers as p


class Context(enum.Enum):
    SERVER = "server"  # main server only (Apache RSRC_CONF outside <Location>)
    LOCATION = "location"  # only inside <Location>
    ANY = "any"  # both (Include, Define …)


@dataclass(frozen=True)
class Directive:
    name: str  # Apache's spelling
    min_args: int
    max_args: int | None  # None: any number
    help: str  # Apache's help text, shown in arity errors
    parse: p.Parser = p.text
    key: str = ""  # the setting it sets (aliases share their target's key); "" = name
    field: str = ""  # the ServerConfig field it feeds ("mpm": the MPM's settings)
    context: Context = Context.SERVER
    repeatable: bool = False  # every occurrence counts (otherwise the last one wins)
    default: str | None = None  # the default as it would be written in a config file
    path: bool = False  # a file path, resolved against ServerRoot
    on_read: bool = False  # acts while reading (Apache's EXEC_ON_READ)
    mpm: bool = False  # exists only while an MPM that declares it is loaded
    note: str = ""  # a deprecation note, reported as a warning when used

    @property
    def setting(self) -> str:
        return self.key or self.name


def _flag(name: str, help: str, field: str, default: str | None = None) -> Directive:
    return Directive(name, 1, 1, help, p.flag, field=field, default=default)


def _mpm(
    name: str, help: str, parse: p.Parser = p.integer, key: str = "", note: str = ""
) -> Directive:
    return Directive(name, 1, 1, help, parse, key=key, field="mpm", mpm=True, note=note)


def _path(name: str, help: str, field: str, default: str | None = None) -> Directive:
    return Directive(name, 1, 1, help, field=field, default=default, path=True)


D = Directive
L, A = Context.LOCATION, Context.ANY

# fmt: off
_DIRECTIVES: tuple[Directive, ...] = (
    # Reading the configuration (EXEC_ON_READ in Apache).
    D("ServerRoot", 1, 1, "Common directory of server-related files (logs, confs, etc.)",
      field="server_root", on_read=True),
    D("Include", 1, 1, "Name(s) of the config file(s) to be included; fails if the wildcard "
      "does not match at least one file", context=A, on_read=True),
    D("IncludeOptional", 1, 1, "Name or pattern of the config file(s) to be included; ignored "
      "if the file does not exist or the pattern does not match any files",
      context=A, on_read=True),
    D("Define", 1, 2, "Define a variable, optionally to a value.  Same as passing -D to the "
      "command line.", context=A, on_read=True),
    D("UnDefine", 1, 1, "Undefine the existence of a variable. Undo a Define.",
      context=A, on_read=True),
    D("LoadModule", 1, 2, "a module name and the name of a shared object file to load it from",
      on_read=True),
    # Listening and connections.
    D("Listen", 1, 2, "A port number or a numeric IP address and a port number, and an "
      "optional protocol", p.listen, field="listen", repeatable=True),
    D("ListenBacklog", 1, 1, "Maximum length of the queue of pending connections, as used by "
      "listen(2)", p.backlog, field="listen_backlog", default="511"),
    _flag("KeepAlive", "Whether persistent connections should be On or Off", "keep_alive", "On"),
    D("KeepAliveTimeout", 1, 1, "Keep-Alive timeout duration (sec)", p.seconds,
      field="keep_alive_timeout", default="5"),
    D("MaxKeepAliveRequests", 1, 1, "Maximum number of Keep-Alive requests per connection, or "
      "0 for infinite", p.non_negative, field="max_keep_alive_requests", default="100"),
    D("Timeout", 1, 1, "Timeout duration (sec)", p.seconds, field="timeout", default="60"),
    D("GracefulShutdownTimeout", 1, 1, "Maximum time in seconds to wait for child processes to "
      "complete transactions during shutdown", p.seconds, field="graceful_shutdown_timeout",
      default="0"),
    # mpmd's own: recycle a child whose memory grew past this, after draining.
    D("MaxMemoryPerChild", 1, 1, "Resident memory (bytes, or with K, M, G) above which a "
      "child is replaced and retired (0 = no limit)", p.size,
      field="max_memory_per_child", default="0"),
    # mpmd's own: Apache lets an old generation linger as long as it likes.
    D("DrainTimeout", 1, 1, "Maximum time in seconds an old generation may drain after a "
      "graceful restart before it is stopped (0 = no limit)", p.seconds,
      field="drain_timeout", default="60"),
    D("RequestReadTimeout", 1, None, "Set various timeout parameters for TLS handshake and/or "
      "reading request headers and body", p.request_read_timeout,
      field="request_read_timeout", repeatable=True,
      default="header=20-40,MinRate=500 body=20,MinRate=500"),
    # Request limits (core.c).
    D("LimitRequestLine", 1, 1, "Limit on maximum size of an HTTP request line",
      p.non_negative, field="limits.line", default="8190"),
    D("LimitRequestFields", 1, 1, "Limit (0 = unlimited) on max number of header fields in a "
      "request message", p.non_negative, field="limits.fields", default="100"),
    D("LimitRequestFieldSize", 1, 1, "Limit on maximum size of an HTTP request header field",
      p.non_negative, field="limits.field_size", default="8190"),
    D("LimitRequestBody", 1, 1, "Limit (in bytes) on maximum size of request message body",
      p.body_limit, field="limits.body", default="1073741824"),
    # Processes and files.
    _path("PidFile", "A file for logging the server process ID", "pid_file", "logs/mpmd.pid"),
    _path("ScoreBoardFile", "A file for Apache to maintain runtime process management "
          "information", "scoreboard_file"),
    _path("ControlSocket", "The Unix socket mpmd's control commands (reload, status ...) use",
          "control_socket"),
    D("User", 1, 1, "Effective user id for this server", field="user"),
    D("Group", 1, 1, "Effective group id for this server", field="group"),
    D("ServerName", 1, 1, "The hostname and port of the server", field="server_name"),
    D("ServerAdmin", 1, 1, "The email address of the server administrator",
      field="server_admin"),
    _path("DocumentRoot", "Root directory of the document tree", "document_root", "htdocs"),
    D("DirectoryIndex", 1, None, "a list of file names", p.words, field="directory_index",
      repeatable=True, default="index.html"),
    # Logging.
    D("ErrorLog", 1, 1, "The filename of the error log", p.error_log, field="error_log",
      default="stderr"),
    D("LogLevel", 1, 1, "Level of verbosity in error logging", p.log_level, field="log_level",
      default="warn"),
    D("LogFormat", 1, 2, "a log format string (see docs) and an optional format name",
      p.words, field="log_formats", repeatable=True),
    D("CustomLog", 1, 2, "a file name, a custom log format string or format name", p.words,
      field="custom_logs", repeatable=True),
    _flag("ExtendedStatus", '"On" to track extended status information, "Off" to disable',
          "extended_status"),
    # The application (mpmd's own).
    D("WSGIApp", 1, 1, "The WSGI application to serve, as module:callable", p.wsgi_app,
      field="wsgi_app"),
    D("WSGIPath", 1, 1, "A directory put in front of sys.path before importing the "
      "application", field="wsgi_path", repeatable=True, path=True),
    _flag("WSGIPreload", "Import the application in the master before forking children",
          "wsgi_preload", "Off"),
    # Inside <Location>.
    D("SetHandler", 1, 1, "a handler name that overrides any other configured handler",
      context=L, field="locations"),
    D("Require", 1, None, "specifies authorization directives which one must pass (or not) "
      "for a request to succeed", p.require, context=L, field="locations"),
    # Every MPM (mpm_common.c).
    D("MaxConnectionsPerChild", 1, 1, "Maximum number of connections a particular child "
      "serves before dying.", p.non_negative, field="mpm", default="0"),
    D("MaxRequestsPerChild", 1, 1, "Deprecated name of MaxConnectionsPerChild",
      p.non_negative, key="MaxConnectionsPerChild", field="mpm",
      note="MaxRequestsPerChild is deprecated, use MaxConnectionsPerChild instead."),
    # Only while an MPM that declares them is loaded (mpmd.mpm.sizing).
    _mpm("StartServers", "Number of child processes launched at server startup"),
    _mpm("MinSpareServers", "Minimum number of idle children, to handle request spikes"),
    _mpm("MaxSpareServers", "Maximum number of idle children"),
    _mpm("MinSpareThreads", "Minimum number of idle threads, to handle request spikes"),
    _mpm("MaxSpareThreads", "Maximum number of idle threads"),
    _mpm("ThreadsPerChild", "Number of threads each child creates"),
    _mpm("ThreadLimit", "Maximum number of worker threads per child process for this run of "
         "mpmd - Upper limit for ThreadsPerChild"),
    _mpm("ServerLimit", "Maximum number of child processes for this run of mpmd"),
    _mpm("MaxRequestWorkers", "Maximum number of workers (children or threads) alive at the "
         "same time"),
    _mpm("MaxClients", "Deprecated name of MaxRequestWorkers", key="MaxRequestWorkers",
         note="MaxClients is deprecated, use MaxRequestWorkers instead."),
    _mpm("AsyncRequestWorkerFactor", "How many additional connects will be accepted per idle "
         "worker thread", p.positive_number),
)
# fmt: on

#: Lower-cased name -> directive.
TABLE: Mapping[str, Directive] = MappingProxyType({d.name.lower(): d for d in _DIRECTIVES})


def lookup(name: str) -> Directive | None:
    return TABLE.get(name.lower())


def check_arity(spec: Directive, args: tuple[str, ...]) -> str | None:
    """Apache's invoke_cmd() message when ``args`` do not fit, else None."""
    count, low, high = len(args), spec.min_args, spec.max_args
    if low <= count and (high is None or count <= high):
        return None
    if spec.parse is p.flag:
        return f"{spec.name} must be On or Off"
    if high is None:
        return f"{spec.name} requires at least one argument, {spec.help}"
    wanted = {(1, 1): "takes one argument", (2, 2): "takes two arguments"}.get(
        (low, high), f"takes {low}-{high} arguments"
    )
    return f"{spec.name} {wanted}, {spec.help}"
