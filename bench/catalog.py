"""Every server the harness knows, by name, in report order (mpmd first)."""

from __future__ import annotations

from pathlib import Path

from bench.apache import Apache
from bench.mpmd_server import Mpmd
from bench.peers import Gunicorn, Uvicorn, Waitress
from bench.servers import Server


def all_servers(venv_bin: Path) -> dict[str, Server]:
    servers: list[Server] = [
        Mpmd("mpmd-prefork", "prefork", swap_to="event"),
        Mpmd("mpmd-worker", "worker"),
        Mpmd("mpmd-event", "event"),
        Gunicorn("gunicorn-sync", "sync", venv_bin, swap_to="gthread"),
        Gunicorn("gunicorn-gthread", "gthread", venv_bin),
        Uvicorn("uvicorn-asgi", "asgi3", venv_bin),
        Uvicorn("uvicorn-wsgi", "wsgi", venv_bin),
        Waitress("waitress", venv_bin),
        Apache("apache-prefork", "prefork", swap_to="event"),
        Apache("apache-worker", "worker"),
        Apache("apache-event", "event"),
    ]
    return {s.name: s for s in servers}


def select(known: dict[str, Server], wanted: list[str] | None) -> dict[str, Server]:
    """The servers named in ``wanted`` (all when None), in catalog order."""
    if wanted is None:
        return dict(known)
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ValueError(f"unknown servers {unknown}; known: {', '.join(known)}")
    return {name: s for name, s in known.items() if name in wanted}
