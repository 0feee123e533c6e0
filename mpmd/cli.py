"""Command line: httpd's options and mpmd's verbs.  The only place that exits.

    mpmd [-f FILE] [-D NAME]... [-k start|stop|restart|graceful|graceful-stop]
    mpmd [-f FILE] -t | -l | -M | -V | -v | -X
    mpmd [-f FILE] configtest | stop | graceful-stop | restart | reload
    mpmd [-f FILE] status [--json] [--watch [--interval S] [--count N]]

The server runs in the foreground (what systemd and containers want).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from mpmd import SERVER_SOFTWARE, __version__
from mpmd.config import load_config
from mpmd.config.model import ServerConfig
from mpmd.errors import ConfigError, ControlError, MpmdError, Terminated
from mpmd.logs.setup import configure_logging

DEFAULT_CONFIG = "/etc/mpmd/mpmd.conf"
K_ACTIONS = ("start", "stop", "restart", "graceful", "graceful-stop")
#: httpd's one-letter modes: flag, the mode _dispatch runs, httpd's own help text
MODES = (
    ("-t", "test", "run syntax check for config files"),
    ("-l", "list", "list compiled in modules"),
    ("-M", "modules", "list loaded modules"),
    ("-V", "settings", "show compile settings"),
    ("-v", "version", "show version number"),
    ("-X", "single", "debug mode (only one worker, do not detach)"),
)
VERBS = ("configtest", "stop", "graceful-stop", "restart", "reload", "status")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mpmd", description="Apache httpd's MPMs for Python web services."
    )
    p.add_argument("-f", dest="config", default=DEFAULT_CONFIG, help="configuration file")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME",
                   help="define a name for <IfDefine NAME>")
    p.add_argument("-k", dest="action", choices=K_ACTIONS, help="signal the running server")
    modes = p.add_mutually_exclusive_group()
    for flag, mode, text in MODES:
        modes.add_argument(flag, dest="mode", action="store_const", const=mode, help=text)
    p.add_argument("verb", nargs="?", choices=VERBS, help="command for the running server")
    status = p.add_argument_group("status", "options of the status verb")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.add_argument("--watch", action="store_true", help="redraw the status in place")
    status.add_argument("--interval", type=float, default=1.0, metavar="S",
                        help="seconds between redraws (default 1)")
    status.add_argument("--count", type=int, default=None, metavar="N",
                        help="stop after N redraws")
    return p


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = build_parser().parse_args(argv)
    try:
        code = _dispatch(args)
    except ConfigError as exc:
        _print_config_error(exc)
        code = 1
    except (ControlError, MpmdError) as exc:
        print(f"mpmd: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    except Terminated as exc:  # TERM/HUP to an interactive view (status --watch)
        code = 128 + exc.signum
    sys.exit(code)


def _dispatch(args: argparse.Namespace) -> int:
    from mpmd import control, info

    if args.mode == "version":
        print(f"Server version: {SERVER_SOFTWARE}")
        return 0
    if args.mode == "list":
        print(info.compiled_modules())
        return 0
    if args.mode == "settings":
        print(info.settings_text(_try_load(args)))
        return 0
    verb = args.verb or ("start" if args.action in (None, "start") else args.action)
    if verb in ("configtest",) or args.mode == "test":
        return _configtest(args)
    config = _load(args)
    if args.mode == "modules":
        print(info.loaded_modules(config))
        return 0
    if verb == "status":
        from mpmd.status.command import run_status

        return run_status(config, sys.stdout, as_json=args.json, watch=args.watch,
                          interval=args.interval, count=args.count)
    if verb != "start":
        ok, message = control.send_verb(config, verb)
        print(message, file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
    return _run(args, config)


def _load(args: argparse.Namespace) -> ServerConfig:
    return load_config(args.config, tuple(args.defines))


def _try_load(args: argparse.Namespace) -> ServerConfig | None:
    try:
        return _load(args)
    except (ConfigError, OSError):
        return None


def _configtest(args: argparse.Namespace) -> int:
    config = _load(args)
    from mpmd.app.router import check_routes

    check_routes(config)
    for warning in config.warnings:
        print(str(warning), file=sys.stderr)
    print("Syntax OK", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace, config: ServerConfig) -> int:
    from mpmd import control, server

    control.refuse_if_running(config)
    configure_logging(config, role="master")
    import structlog

    log = structlog.get_logger("mpmd")
    for warning in config.warnings:
        log.warning("config_warning", message=warning.message, where=str(warning.where or ""))
    log.info("mpm_selected", mpm=config.mpm_module, chosen_by=config.mpm_chosen_by,
             version=__version__)
    if args.mode == "single":
        return server.serve_single(config)
    return server.serve(config, tuple(args.defines))


def _print_config_error(exc: ConfigError) -> None:
    # Apache's AH00526 shape, so operators recognise it.  Line 0 is a file as
    # a whole (cannot open it, no Listen in it): the message names the file,
    # as Apache's "httpd: Could not open configuration file ..." does.
    if exc.where is not None and exc.where.line > 0:
        print(f"AH00526: Syntax error on line {exc.where.line} of {exc.where.file}:",
              file=sys.stderr)
        print(exc.message, file=sys.stderr)
    else:
        print(f"mpmd: {exc.message}", file=sys.stderr)
