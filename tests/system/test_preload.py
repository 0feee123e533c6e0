"""``WSGIPreload On`` really imports the application once, in the master, and
the children share its pages — under every MPM.

docs/configuration.md: "import the application once in the master and fork
copy-on-write. A reload imports it afresh in the new children".  The test app
appends its importer's pid to a file at import (a side effect that must run
exactly once) and builds a 64 MiB bytes object at module level, written by
whoever imports it.  In a child forked after the import the object's pages are
the master's, shared, not the child's own; a child that imported it itself
would hold all of them privately.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Server, mpmd_cli, wait_for

pytestmark = pytest.mark.slow

MIB = 1 << 20
BIG_MIB = 64

PRELOAD_APP = f'''
import os

with open(os.path.join(os.path.dirname(__file__), "imports.log"), "a") as f:
    f.write("%d\\n" % os.getpid())

# Written byte by byte at import: every page belongs to the importing process.
BIG = b"Z" * ({BIG_MIB} << 20)


def app(environ, start_response):
    body = ("%d %d %d" % (os.getpid(), id(BIG), len(BIG))).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
'''


def importers(server: Server) -> list[int]:
    log = server.root / "app" / "imports.log"
    return [int(line) for line in log.read_text().split()] if log.exists() else []


def answer(server: Server) -> list[bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().split()
    finally:
        conn.close()


def ask(server: Server) -> tuple[int, int, int]:
    """(pid of the child that answered, address of BIG there, its length)."""
    pid, address, length = answer(server)[:3]
    return int(pid), int(address), int(length)


def mapping_kb(pid: int, address: int) -> dict[str, int]:
    """The ``/proc/PID/smaps`` counters (kB) of the mapping holding ``address``."""
    found: dict[str, int] | None = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        first = line.split()[0]
        if "-" in first and ":" not in first:  # a mapping's header line
            start, end = (int(x, 16) for x in first.split("-"))
            if found is not None:
                break
            if start <= address < end:
                found = {}
        elif found is not None and line.endswith(" kB"):
            key, value, _ = line.split()
            found[key.rstrip(":")] = int(value)
    assert found is not None, f"no mapping of {pid} holds {address:#x}"
    return found


def assert_shares_big(pid: int, address: int) -> None:
    kb = mapping_kb(pid, address)
    shared = (kb["Shared_Clean"] + kb["Shared_Dirty"]) * 1024
    private = (kb["Private_Clean"] + kb["Private_Dirty"]) * 1024
    # all but the page holding the object's header (its reference count is
    # written when the app reads it) is still the master's
    assert shared >= (BIG_MIB - 1) * MIB, (pid, kb)
    assert private < MIB, (pid, kb)


def test_preload_imports_once_in_the_master_and_children_share_its_pages(
    make_server: Callable[..., Server], mpm: str
) -> None:
    children = 3
    server = make_server(mpm=mpm, start_servers=children, max_spare=children,
                         max_spare_threads=16, app_source=PRELOAD_APP,
                         extra="WSGIPreload On\n")
    server.wait_event("child_ready", count=children)
    pids = wait_for(lambda: (p if len(p := server.child_pids()) == children else None), 10,
                    f"{children} children")
    assert importers(server) == [server.pid]  # once, in the master
    _, address, length = ask(server)
    assert length == BIG_MIB * MIB
    assert mapping_kb(server.pid, address)["Rss"] * 1024 >= BIG_MIB * MIB  # the master's pages
    for pid in pids:
        assert_shares_big(pid, address)
    assert importers(server) == [server.pid]  # serving imported nothing more


def test_reload_imports_afresh_in_the_new_children(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm, app_source=PRELOAD_APP, extra="WSGIPreload On\n")
    assert importers(server) == [server.pid]
    assert len(answer(server)) == 3
    # new code on disk: the reload must serve it, not the master's copy
    new_code = PRELOAD_APP.replace('"%d %d %d"', '"%d %d %d version-2"')
    (server.root / "app" / "hello.py").write_text(new_code)
    done = mpmd_cli(server, "reload")
    assert done.returncode == 0, done.stderr
    after = importers(server)
    assert after[0] == server.pid and server.pid not in after[1:]
    reply = answer(server)
    assert reply[3:] == [b"version-2"], reply
    assert int(reply[0]) in after[1:]  # a generation-2 child imported the app itself
