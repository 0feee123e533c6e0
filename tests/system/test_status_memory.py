"""Per-process PSS and USS in ``server-status?json`` are a real child's — under
every MPM.

The README lists JSON among server-status's renderings; DESIGN.md and
docs/benchmarks.md define the two numbers: PSS (each shared page divided among
the processes that map it) and USS (the pages only this process holds).  The
kernel's ``/proc/PID/smaps_rollup`` is the reference: ``Pss``, and USS =
``Private_Clean + Private_Dirty``.  A child first grows by 48 MiB of its own
pages, so the numbers must follow that child, not some other process.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import HELLO_APP, Server, wait_for

pytestmark = pytest.mark.slow

MIB = 1 << 20
GROWTH_MIB = 48
#: the process keeps living between the report and our reading (a status
#: request itself allocates a little): allowed difference
TOLERANCE = 4 * MIB

STATUS_CONF = """
<Location /server-status>
    SetHandler server-status
    Require local
</Location>
"""

GROWING_APP = HELLO_APP.replace(
    "def app(environ, start_response):\n",
    f'''HELD = []


def app(environ, start_response):
    if environ["PATH_INFO"] == "/grow":
        import os
        HELD.append(bytearray(b"G") * ({GROWTH_MIB} << 20))  # written: the child's own pages
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
''', 1)


def get(server: Server, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200
        return resp.read()
    finally:
        conn.close()


def kernel_memory(pid: int) -> tuple[int, int]:
    """(USS, PSS) in bytes, from the kernel's own rollup."""
    kb = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB":
            kb[parts[0].rstrip(":")] = int(parts[1])
    return (kb["Private_Clean"] + kb["Private_Dirty"]) * 1024, kb["Pss"] * 1024


def reported(server: Server, pid: int) -> dict[str, Any] | None:
    data = json.loads(get(server, "/server-status?json"))
    for process in data["processes"]:
        if process["pid"] == pid and process["resources"] is not None:
            resources: dict[str, Any] = process["resources"]
            return resources
    return None


def test_json_reports_a_real_childs_uss_and_pss(
    make_server: Callable[..., Server], mpm: str
) -> None:
    server = make_server(mpm=mpm, app_source=GROWING_APP, extra=STATUS_CONF)
    child = int(get(server, "/grow"))
    assert child in server.child_pids()
    before_uss, before_pss = kernel_memory(child)
    resources = wait_for(lambda: reported(server, child), 5, f"child {child} in the report")
    after_uss, after_pss = kernel_memory(child)
    for name, value, low, high in (("uss", resources["uss"], before_uss, after_uss),
                                   ("pss", resources["pss"], before_pss, after_pss)):
        assert min(low, high) - TOLERANCE <= value <= max(low, high) + TOLERANCE, (
            name, value, low, high)
    # the 48 MiB the child wrote are its own: in its USS, and all of them in its PSS
    assert resources["uss"] >= GROWTH_MIB * MIB
    assert resources["pss"] >= resources["uss"]
    assert resources["rss"] >= resources["pss"]
    # and only the child that grew shows them
    data = json.loads(get(server, "/server-status?json"))
    others = [p["resources"]["uss"] for p in data["processes"]
              if p["pid"] != child and p["resources"] is not None]
    assert all(uss < GROWTH_MIB * MIB for uss in others), others
    assert data["server"]["master"]["uss"] < GROWTH_MIB * MIB
