"""RequestReadTimeout (mod_reqtimeout) timing, end to end, under every MPM.

Already covered elsewhere, and not repeated here: the deadline arithmetic
(tests/unit/http/test_http_timeouts.py), the blocking driver with a fake clock
(tests/integration/http/test_http_blocking_errors.py), "a stalled head or body
gets 408 then close" without timing (tests/system/test_conformance.py), and
slowloris heads cut under prefork and worker (tests/system/test_threaded.py).

Here: *when* a real server cuts, with ``header=1-3,MinRate=200
body=1-3,MinRate=200``.  Apache's rule (``extend_timeout()`` in
mod_reqtimeout.c): a stage allows its base timeout from its start; each
``MinRate`` bytes received move the deadline one second later, never past the
maximum.  So a client that stalls is cut at the base timeout (plus what its
bytes bought), one that trickles below MinRate soon after, one that trickles
above MinRate at the maximum, and a request that completes before the
maximum is served.  The clients of one test run concurrently, each timed on
its own.  A cut may come no earlier than the rule allows (``EARLY`` is timer
granularity) and only as late as scheduling makes it (see ``LATE``).
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from harness import MPMS, Server, ServerSpec

BASE, MAX, RATE = 1.0, 3.0, 200  # seconds, seconds, bytes per second
EXTRA = (
    f"RequestReadTimeout header={BASE:g}-{MAX:g},MinRate={RATE} "
    f"body={BASE:g}-{MAX:g},MinRate={RATE}\n"
    "KeepAliveTimeout 5\n"  # the keep-alive client idles 1.5 s; never cut for that
)
EARLY = 0.2
# How late a cut may come.  The implementation cuts at the deadline itself:
# the blocking drivers (prefork, worker) wait for exactly the time the
# deadline leaves (mpmd.http.channel: ``min(Timeout, deadline.remaining())``),
# and the event poller sleeps until the earliest deadline in its heap
# (mpmd.mpm.parking.ParkingLot.timeout; a connection parked with a sooner
# deadline wakes it).  What remains is scheduling on a loaded machine: the
# accept that starts the server's clock after the client's, a wake-up delayed
# by other processes.  So the median lateness of a test's cut clients may be
# LATE, and one client (a burst of load) OUTLIER; a poller that looked at its
# deadlines only on a one-second tick would be 0.5 s late on average.
LATE = 0.2
OUTLIER = 0.5
SLOW, FAST = 0.25, 0.1  # seconds between the pieces of a slow and of a fast client
SLOW_RATE, FAST_RATE = 10 / SLOW, 100 / FAST  # 40 B/s (below MinRate) and 1000 B/s (above)
PARTIAL_HEAD = b"GET / HTTP/1.1\r\nHost: x\r\n"
KEEPALIVE_IDLE = 1.5  # longer than BASE: the next head's stage must start at its first byte
ANSWER_WAIT = 10.0  # generous bound on waiting for an answer that must come


@dataclass(frozen=True)
class Timed:
    """What a client got, and when (seconds after its clock started)."""

    raw: bytes
    elapsed: float

    @property
    def status(self) -> int:
        return int(self.raw[9:12]) if self.raw.startswith(b"HTTP/1.1 ") else 0


@pytest.fixture(scope="module", params=MPMS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server per MPM, with an idle process or thread for every client of a test."""
    root = tmp_path_factory.mktemp(f"reqtimeout-{request.param}")
    prefork = request.param == "prefork"
    spec = ServerSpec(mpm=request.param, start_servers=6 if prefork else 3, server_limit=8,
                      min_spare=1, max_spare=8, max_spare_threads=32, extra=EXTRA)
    srv = Server(root, spec)
    try:
        yield srv.start()
    finally:
        srv.kill_group()
    srv.events()  # the error log must be JSON lines


class Client:
    """One connection, and the time of the server's first answer (bytes or close)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WAIT)
        self.raw = b""
        self.closed = False
        self.answered_at: float | None = None
        self.t0 = time.monotonic()

    def send(self, data: bytes, start_clock: bool = False) -> bool:
        """Send ``data``; False if the server has closed already."""
        try:
            self.sock.sendall(data)
        except OSError:
            self._answered()
            self.closed = True
            return False
        if start_clock:
            self.t0 = time.monotonic()
        return True

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the server; True once it answered or closed."""
        if self.closed:
            return True
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except OSError:
            data = b""  # a reset: the server is gone too
        self._answered()
        self.raw += data
        self.closed = not data
        return True

    def read_response(self) -> None:
        """Read until a whole response (by its Content-Length) or EOF, within ANSWER_WAIT."""
        deadline = time.monotonic() + ANSWER_WAIT
        while not (self.closed or self._complete()) and time.monotonic() < deadline:
            self.wait(max(0.0, deadline - time.monotonic()))

    def result(self) -> Timed:
        """The answer (read to its end) and when it began; closes the connection."""
        self.read_response()
        self.sock.close()
        assert self.answered_at is not None, f"no answer within {ANSWER_WAIT} s"
        return Timed(self.raw, self.answered_at - self.t0)

    def forget(self) -> None:
        """Start over on the same connection (the next request's answer)."""
        self.raw, self.answered_at = b"", None

    def _answered(self) -> None:
        if self.answered_at is None:
            self.answered_at = time.monotonic()

    def _complete(self) -> bool:
        head, sep, body = self.raw.partition(b"\r\n\r\n")
        for line in head.split(b"\r\n")[1:] if sep else ():
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                return len(body) >= int(value)
        return False


def trickle(port: int, head: bytes, pieces: list[bytes], interval: float,
            clock_after_head: bool = False) -> Timed:
    """Send ``head``, then one piece per ``interval`` until the server answers."""
    client = Client(port)
    client.send(head, start_clock=clock_after_head)
    for piece in pieces:
        if client.wait(interval) or not client.send(piece):
            break
    return client.result()


def keepalive_then_partial(port: int) -> Timed:
    """A request served, KEEPALIVE_IDLE of silence, then a stalled partial head;
    the clock starts at the partial head's first byte (as its header stage)."""
    client = Client(port)
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    client.read_response()
    assert client.raw.startswith(b"HTTP/1.1 200 ") and not client.closed, client.raw[:200]
    client.forget()
    assert not client.wait(KEEPALIVE_IDLE), "the server closed a keep-alive connection early"
    client.send(PARTIAL_HEAD, start_clock=True)
    return client.result()


def header_lines(count: int, size: int) -> list[bytes]:
    """``count`` header field lines of exactly ``size`` bytes each."""
    return [b"X-%03d: " % n + b"a" * (size - 9) + b"\r\n" for n in range(count)]


def body_pieces(count: int, size: int) -> list[bytes]:
    return [bytes([97 + n % 26]) * size for n in range(count)]


def post_head(length: int) -> bytes:
    return b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % length


def run_all(jobs: dict[str, Callable[[], Timed]]) -> dict[str, Timed]:
    """Run every client at once; their results by name."""
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures: dict[str, Future[Timed]] = {name: pool.submit(job) for name, job in jobs.items()}
        results = {name: future.result() for name, future in futures.items()}
    print({name: (r.status, round(r.elapsed, 2)) for name, r in results.items()})
    return results


class Cuts:
    """The cuts of one test: each checked on its own, their lateness together."""

    def __init__(self) -> None:
        self.lateness: dict[str, float] = {}

    def check(self, result: Timed, earliest: float, latest: float, what: str) -> None:
        """408 (or a bare close) no earlier than ``earliest - EARLY`` and at most
        OUTLIER after ``latest`` (a slow client starved of CPU sends less, so it
        may be cut sooner)."""
        assert result.status == 408 or result.raw == b"", f"{what}: {result.raw[:200]!r}"
        late = result.elapsed - latest
        assert earliest - EARLY <= result.elapsed <= latest + OUTLIER, (
            f"{what}: cut after {result.elapsed:.2f} s, expected {earliest:.2f}-{latest:.2f} s")
        self.lateness[what] = late

    def assert_on_time(self) -> None:
        assert statistics.median(self.lateness.values()) <= LATE, self.lateness


def below_rate_cut(already: int) -> float:
    """When a client trickling at SLOW_RATE after ``already`` bytes is cut: the deadline
    BASE + bytes/RATE meets the clock at t = (BASE + already/RATE) / (1 - SLOW_RATE/RATE)."""
    return (BASE + already / RATE) / (1 - SLOW_RATE / RATE)


def test_header_stage(server: Server) -> None:
    port = server.port
    results = run_all({
        "stall": lambda: trickle(port, PARTIAL_HEAD, [], 0),
        "slow": lambda: trickle(port, PARTIAL_HEAD, header_lines(40, 10), SLOW),
        "fast": lambda: trickle(port, PARTIAL_HEAD, header_lines(60, 100), FAST),
        "fast-completes": lambda: trickle(
            port, PARTIAL_HEAD, [*header_lines(15, 100), b"\r\n"], FAST),
        "keepalive": lambda: keepalive_then_partial(port),
    })
    stalled = BASE + len(PARTIAL_HEAD) / RATE  # the base, plus what its first bytes bought
    cuts = Cuts()
    cuts.check(results["stall"], stalled, stalled, "stalled head")
    # Below MinRate: cut soon after the base timeout, long before the maximum.
    cuts.check(results["slow"], stalled, below_rate_cut(len(PARTIAL_HEAD)), "head below MinRate")
    # Above MinRate: extended up to the maximum, then cut there.
    cuts.check(results["fast"], MAX, MAX, "head above MinRate")
    # Above MinRate and complete before the maximum: served, after the base timeout.
    done = results["fast-completes"]
    assert done.status == 200 and done.raw.endswith(b"Hello, World!"), done.raw[:200]
    assert done.elapsed > BASE + EARLY
    # After a keep-alive wait longer than BASE, the next head's stage starts at its
    # first byte (Apache starts it when the request begins), not at the last response.
    cuts.check(results["keepalive"], BASE, stalled, "second head")
    cuts.assert_on_time()


def test_body_stage(server: Server) -> None:
    port = server.port
    body = body_pieces(15, 100)
    results = run_all({
        "stall": lambda: trickle(port, post_head(100_000), [], 0, clock_after_head=True),
        "slow": lambda: trickle(port, post_head(100_000), body_pieces(40, 10), SLOW,
                                clock_after_head=True),
        "fast": lambda: trickle(port, post_head(100_000), body_pieces(60, 100), FAST,
                                clock_after_head=True),
        "fast-completes": lambda: trickle(port, post_head(1500), body, FAST,
                                          clock_after_head=True),
    })
    cuts = Cuts()
    cuts.check(results["stall"], BASE, BASE, "stalled body")
    cuts.check(results["slow"], BASE, below_rate_cut(0), "body below MinRate")
    cuts.check(results["fast"], MAX, MAX, "body above MinRate")
    cuts.assert_on_time()
    done = results["fast-completes"]
    assert done.status == 200 and done.raw.endswith(b"".join(body)), done.raw[:200]
    assert done.elapsed > BASE + EARLY


LONE, STAGGER = 5, 0.2  # clients, seconds between their starts
LONE_LATE = 0.1


def test_stalled_heads_alone_are_cut_at_their_deadlines(server: Server) -> None:
    # With other clients trickling (the tests above), their bytes wake the event
    # poller often enough to hide one that sleeps past a deadline.  Here nothing
    # is sent after the partial heads, so only the deadline can end each wait.
    # The starts are STAGGER apart, so the deadlines fall at five evenly spread
    # phases of any fixed tick: a poller that looked on a 0.5 s tick would be
    # 0.2 s late in the median, one on a 1 s tick 0.4 s; the design is on time
    # (see LATE), and LONE_LATE leaves scheduling a tenth of a second.
    def stalled(delay: float) -> Timed:
        time.sleep(delay)  # pacing the start, not waiting for the server
        return trickle(server.port, PARTIAL_HEAD, [], 0)

    results = run_all({f"stall{i}": lambda i=i: stalled(i * STAGGER) for i in range(LONE)})
    deadline = BASE + len(PARTIAL_HEAD) / RATE
    cuts = Cuts()
    for name, result in results.items():
        cuts.check(result, deadline, deadline, name)
    assert statistics.median(cuts.lateness.values()) <= LONE_LATE, cuts.lateness
