"""A symlink swapped under the static handler never leaks a file from outside (issue 12).

A swapper process flips ``DocumentRoot/race`` between a regular file with
public content and a symlink to a secret file outside the DocumentRoot, in a
tight loop of ``os.replace``, while the client fetches ``/race`` over one
keep-alive connection after another.  With a check-then-open-by-name handler
about one answer in twenty carried the secret (and some were 500s from
``realpath``); the handler must answer only the public content (200) or a
refusal (403/404), never the secret and never a 5xx.  Both outcomes must have
been seen, or the test proved nothing.  Bounded: RACE_SECONDS or
MAX_REQUESTS, whichever comes first; the swapper also stops itself.
"""

from __future__ import annotations

import http.client
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Server, wait_for

pytestmark = pytest.mark.slow

RACE_SECONDS = 3.0
MAX_REQUESTS = 4000
PUBLIC = b"public content, fine to serve\n"
SWAPPER = """
import os, sys, time
race, secret, public = sys.argv[1], sys.argv[2], sys.argv[3].encode()
tmp = race + ".swap"
deadline = time.monotonic() + float(sys.argv[4])
while time.monotonic() < deadline:
    with open(tmp, "wb") as f:
        f.write(public)
    os.replace(tmp, race)
    os.symlink(secret, tmp)
    os.replace(tmp, race)
"""


def test_symlink_swap_never_leaks(
    make_server: Callable[..., Server], mpm: str, tmp_path: Path
) -> None:
    server = make_server(mpm=mpm, wsgi=False)
    marker = f"SECRET-{secrets.token_hex(12)}".encode()
    secret = tmp_path / "secret.txt"  # outside every DocumentRoot
    secret.write_bytes(marker + b"\n")
    race = server.root / "htdocs" / "race"
    race.write_bytes(PUBLIC)
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(race), str(secret), PUBLIC.decode(),
         str(RACE_SECONDS * 10)],  # stops itself even if this test is killed
    )
    try:
        wait_for(lambda: race.is_symlink(), 10, "the swapper to run")
        outcomes, leaks = hammer(server, marker)
    finally:
        swapper.kill()
        swapper.wait(10)
    assert leaks == 0, f"{leaks} responses carried the secret: {outcomes}"
    assert not [status for status in outcomes if isinstance(status, int) and status >= 500]
    assert outcomes["public"] > 0 and outcomes[403] + outcomes[404] > 0, outcomes
    assert set(outcomes) <= {"public", 403, 404}, outcomes


def hammer(server: Server, marker: bytes) -> tuple[Counter[int | str], int]:
    """GET /race until the bound; count outcomes ("public" for the public 200)."""
    outcomes: Counter[int | str] = Counter()
    leaks = 0
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    deadline = time.monotonic() + RACE_SECONDS
    try:
        for _ in range(MAX_REQUESTS):
            if time.monotonic() >= deadline:
                break
            conn.request("GET", "/race")
            response = conn.getresponse()
            body = response.read()
            leaks += marker in body
            outcomes["public" if (response.status, body) == (200, PUBLIC) else
                     response.status] += 1
            if response.will_close:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    finally:
        conn.close()
    return outcomes, leaks
