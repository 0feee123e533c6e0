"""A bounded, seeded fuzz run against a live mpmd, under every MPM.

Cases come from ``random.Random(seed)`` (the seed is in the test id; set
``MPMD_FUZZ_SEED`` to try another one): valid requests mutated (bit flips,
CR/LF/NUL/DEL/high bytes inserted, truncations, duplicated headers, bad
Content-Length and Transfer-Encoding values, chunked bodies with bad sizes,
over-long lines and headers, pipelines of valid and mutated requests), pure
random bytes, and unmutated *control* requests.  Each case goes over a fresh
loopback connection, in random-size pieces, in batches of concurrent
connections; half of the clients half-close after sending, the others just go
quiet and close after a short silence.

What the server guarantees, and so what is asserted (DESIGN "HTTP": malformed
input gets a clear 4xx and the connection closes; it never kills a child):

- whatever comes back starts with a well-formed ``HTTP/1.1 NNN `` status line,
  never a traceback and never a 500 (501 and 505 are protocol answers);
  no answer at all (a clean close) is allowed for input that is not a request;
- a control request is answered 200 with its body, whatever the pieces;
- after every batch a plain ``GET /`` on a fresh connection is answered 200
  within 5 s;
- at the end every child that was there at the start still runs (the
  configuration never retires or recycles one), the error log has no abnormal
  ``child_exited`` and no event carrying an exception or logged at error level.

The run is bounded by a case count and a wall-clock cap per MPM.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from harness import Server

SEED = int(os.environ.get("MPMD_FUZZ_SEED", "20260826"))
CASES = 300  # per MPM
BATCH = 10  # concurrent connections, then a health check
WALL_CLOCK = 11.0  # seconds per MPM for the cases, whatever CASES says
MIN_CASES = 60  # fewer than this in WALL_CLOCK: the run proves too little
QUIET = 0.3  # a client that did not half-close gives up after this much silence
READ_CAP = 3.0  # no case reads longer than this
#: Low limits so the 413/414/431 paths are cheap to reach; short read timeouts.
EXTRA = (
    "RequestReadTimeout header=2 body=2\n"
    "LimitRequestLine 1000\nLimitRequestFieldSize 1000\n"
    "LimitRequestFields 30\nLimitRequestBody 10000\n"
)
STATUS_LINE = re.compile(rb"HTTP/1\.1 [1-5][0-9][0-9] ")
ANY_STATUS = re.compile(rb"(?:^|\r\n)HTTP/1\.1 ([0-9]{3}) ")
OK_5XX = (b"501", b"505")
HELLO = b"Hello, World!"

Mutator = Callable[[random.Random, bytes], bytes]


@dataclass(frozen=True)
class FuzzCase:
    index: int
    kind: str  # "control", "mutated" or "random"
    chunks: tuple[bytes, ...]
    half_close: bool
    expect: bytes | None  # a control's response body

    def describe(self, seed: int) -> str:
        data = b"".join(self.chunks)
        return (f"seed={seed} case={self.index} kind={self.kind} "
                f"half_close={self.half_close} pieces={len(self.chunks)} data={data!r}")


@dataclass(frozen=True)
class Outcome:
    case: FuzzCase
    raw: bytes
    server_closed: bool  # EOF or reset from the server


# -- valid requests -------------------------------------------------------------


def _word(rng: random.Random, size: int) -> bytes:
    return bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(size))


def _chunked(body: bytes, rng: random.Random) -> bytes:
    out, rest = b"", body
    for _ in range(8):
        if not rest:
            break
        size = rng.randint(1, len(rest))
        out += b"%x\r\n%s\r\n" % (size, rest[:size])
        rest = rest[size:]
    return out + (b"%x\r\n%s\r\n" % (len(rest), rest) if rest else b"") + b"0\r\n\r\n"


def valid_request(rng: random.Random) -> tuple[bytes, bytes]:
    """One valid request and the body its answer carries (empty: not checked)."""
    body = _word(rng, rng.randint(1, 300))
    shapes = [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", HELLO),
        (b"GET /?q=%s HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n" % _word(rng, 5), HELLO),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
         body),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         + _chunked(body, rng), body),
        (b"PUT /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n%s"
         % (len(body), body), body),
        (b"GET / HTTP/1.0\r\n\r\n", HELLO),
        (b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", b""),
        (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", b""),
    ]
    return rng.choice(shapes)


# -- mutators: each takes and returns the bytes of a (valid) request ------------------


def flip_bit(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data))
    return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :]


def insert_special(rng: random.Random, data: bytes) -> bytes:
    special = rng.choice([b"\r", b"\n", b"\0", b"\x7f", b"\x80", b"\xff", b" ", b"\t", b":",
                          b"\r\n", b"\r\n\r\n", b"\n\n", b"%", b"\r\r"])
    i = rng.randrange(len(data) + 1)
    return data[:i] + special + data[i:]


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def delete_range(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, 8) :]


def _add_header(rng: random.Random, data: bytes, line: bytes) -> bytes:
    """``line`` as a header of the first request head in ``data``."""
    first = data.find(b"\r\n")
    if first < 0:
        return data + b"\r\n" + line
    return data[: first + 2] + line + b"\r\n" + data[first + 2 :]


def duplicate_header(rng: random.Random, data: bytes) -> bytes:
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if len(lines) < 2:
        return data + data
    i = rng.randrange(1, len(lines))
    return b"\r\n".join([*lines[: i + 1], lines[i], *lines[i + 1 :]]) + sep + body


def bad_content_length(rng: random.Random, data: bytes) -> bytes:
    value = rng.choice([b"99999999999999999999999", b"-1", b"-0", b"+5", b"1a", b"0x10",
                        b"5, 6", b"5,5", b"", b" ", b"1e3", b"\xff", b"4294967296", b"10000000"])
    return _add_header(rng, data, b"Content-Length: " + value)


def transfer_encoding(rng: random.Random, data: bytes) -> bytes:
    value = rng.choice([b"chunked", b"Chunked", b"chunked, identity", b"identity, chunked",
                        b"gzip, chunked", b" chunked", b"chunked\x00", b"xchunked", b"chunk",
                        b"chunked\tchunked", b"chunked, chunked", b""])
    return _add_header(rng, data, b"Transfer-Encoding: " + value)


def bad_chunks(rng: random.Random, data: bytes) -> bytes:
    size = rng.choice([b"zz", b"-1", b"f" * 20, b"5;", b" 5", b"5 ", b"0x5", b"", b"1\r\n",
                       b"FFFFFFFF", b"5;a=\"\r\n", b"3", b"0;\x00"])
    payload = _word(rng, rng.randint(0, 10))
    ending = rng.choice([b"\r\n0\r\n\r\n", b"0\r\n\r\n", b"\r\n", b"", b"\r\n0\r\nX: y\r\n\r\n"])
    return (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + size + b"\r\n" + payload + ending)


def odd_header(rng: random.Random, data: bytes) -> bytes:
    line = rng.choice([b" folded: continuation", b"\tfolded", b"NoColon", b"Space : x",
                       b": empty-name", b"X-Long: " + b"v" * 1500, b"Bad\x00Name: x",
                       b"X: \x01\x02", b"Host: second", b"X" * 1200 + b": y"])
    return _add_header(rng, data, line)


def many_headers(rng: random.Random, data: bytes) -> bytes:
    for n in range(rng.randint(25, 40)):
        data = _add_header(rng, data, b"X-%d: v" % n)
    return data


def odd_request_line(rng: random.Random, data: bytes) -> bytes:
    line = rng.choice([b"GET /" + b"a" * 1200 + b" HTTP/1.1", b"GET / HTTP/1.2", b"GET / HTTP/2.0",
                       b"GET / http/1.1", b"GET / HTTP/1", b"GET  / HTTP/1.1", b"GET /",
                       b"G\xffT / HTTP/1.1", b"GET / HTTP/1.1 extra", b"BREW / HTTP/1.1",
                       b"GET http://x HTTP/1.1", b"CONNECT x:1 HTTP/1.1", b"* * HTTP/1.1"])
    return line + data[data.find(b"\r\n") :] if b"\r\n" in data else line


def splice_random(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.randbytes(rng.randint(1, 16)) + data[i:]


MUTATORS: tuple[Mutator, ...] = (
    flip_bit, insert_special, truncate, delete_range, duplicate_header, bad_content_length,
    transfer_encoding, bad_chunks, odd_header, many_headers, odd_request_line, splice_random,
)


# -- cases --------------------------------------------------------------------------


def _pieces(rng: random.Random, data: bytes) -> tuple[bytes, ...]:
    if len(data) < 2 or rng.random() < 0.5:
        return (data,)
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 5))))
    return tuple(data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True))


def _mutated(rng: random.Random) -> bytes:
    requests = [valid_request(rng)[0] for _ in range(rng.choice((1, 1, 1, 2, 3)))]
    target = rng.randrange(len(requests))
    for _ in range(rng.randint(1, 3)):
        if requests[target]:
            requests[target] = rng.choice(MUTATORS)(rng, requests[target])
    return b"".join(requests) or b"\r\n"


def _random_bytes(rng: random.Random) -> bytes:
    size = rng.randint(1, 400)
    if rng.random() < 0.5:
        return rng.randbytes(size)
    # Printable with line breaks: more of it gets past the first byte.
    return bytes(rng.choice(b"GETPOST /:HTP1.\r\n ab0\t") for _ in range(size))


def make_case(rng: random.Random, index: int) -> FuzzCase:
    roll = rng.random()
    expect: bytes | None = None
    if roll < 0.1:
        kind = "control"
        data, expect = valid_request(rng)
    elif roll < 0.8:
        kind, data = "mutated", _mutated(rng)
    else:
        kind, data = "random", _random_bytes(rng)
    return FuzzCase(index, kind, _pieces(rng, data), rng.random() < 0.5, expect)


# -- the client -----------------------------------------------------------------------


class Conversation:
    """One case's connection: what the server sent so far, and whether it closed."""

    def __init__(self, sock: socket.socket, until: float) -> None:
        self.sock, self.until = sock, until
        self.raw, self.closed = b"", False

    def send(self, data: bytes) -> bool:
        """Send ``data``; False once the server has closed (it answered early)."""
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True
        return not self.closed

    def read(self, quiet: float, enough: Callable[[bytes], bool] = lambda raw: False) -> None:
        """Read until EOF or reset, ``enough(raw)``, the case's deadline, or ``quiet``
        seconds of silence (not counted while a response head is incomplete: a
        busy machine may deliver it in pieces)."""
        while not (self.closed or enough(self.raw)) and (left := self.until - time.monotonic()) > 0:
            final = final_response(self.raw)
            head_pending = bool(final) and b"\r\n\r\n" not in final
            self.sock.settimeout(left if head_pending else min(quiet, left))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return
            except OSError:
                data = b""  # a reset: the server is gone
            self.raw += data
            self.closed = not data


def answered(case: FuzzCase) -> Callable[[bytes], bool]:
    """For a control case: its whole answer is in (no point waiting for more)."""
    def done(raw: bytes) -> bool:
        final = final_response(raw)
        return case.expect is not None and b"\r\n\r\n" in final and final.endswith(case.expect)
    return done


def run_case(port: int, case: FuzzCase) -> Outcome:
    with socket.create_connection(("127.0.0.1", port), timeout=READ_CAP) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        talk = Conversation(sock, time.monotonic() + READ_CAP)
        for piece in case.chunks:
            if not talk.send(piece):
                break
            talk.read(0.01)  # lets the pieces arrive apart, and collects early answers
        if case.half_close and not talk.closed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        # A control waits for its answer; others until a short silence (or EOF).
        wait = READ_CAP if case.half_close or case.expect is not None else QUIET
        talk.read(wait, answered(case))
    return Outcome(case, talk.raw, talk.closed)


def final_response(raw: bytes) -> bytes:
    """``raw`` without interim (1xx) responses in front (RFC 9110 §15.2)."""
    for _ in range(10):
        if not raw.startswith(b"HTTP/1.1 1") or b"\r\n\r\n" not in raw:
            break
        raw = raw.partition(b"\r\n\r\n")[2]
    return raw


def problems(outcome: Outcome) -> list[str]:
    """What is wrong with one outcome (empty when nothing is)."""
    raw, case = final_response(outcome.raw), outcome.case
    out = []
    if raw and not STATUS_LINE.match(raw):
        out.append(f"not a status line: {outcome.raw[:120]!r}")
    # Every response of a pipeline: 501 and 505 are protocol answers, 500 a failure.
    errors = [s for s in ANY_STATUS.findall(outcome.raw) if s[:1] == b"5" and s not in OK_5XX]
    if errors:
        out.append(f"server error {errors}: {outcome.raw[:300]!r}")
    if b"Traceback (most recent call last)" in outcome.raw:
        out.append(f"a traceback in the response: {raw[:300]!r}")
    if case.expect is not None and not (raw.startswith(b"HTTP/1.1 200 ") and case.expect in raw):
        out.append(f"control request not served: {raw[:300]!r}")
    return out


def health_check(port: int) -> None:
    """A plain GET / on a fresh connection is answered 200 within 5 s."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        talk = Conversation(sock, time.monotonic() + 5.0)
        talk.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        talk.read(5.0)
    assert talk.raw.startswith(b"HTTP/1.1 200 ") and talk.raw.endswith(HELLO), talk.raw[:300]


def log_trouble(server: Server) -> list[str]:
    """Abnormal child exits, and events with an exception or at error level."""
    out = []
    for event in server.events():
        if event.get("event") == "child_exited" and (event.get("exit_code") or event.get("signal")):
            out.append(f"child crashed: {event}")
        elif "exception" in event or event.get("level") in ("error", "critical"):
            out.append(f"error logged: {event}")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("seed", [pytest.param(SEED, id=f"seed={SEED}")])
def test_fuzz(make_server: Callable[..., Server], mpm: str, seed: int) -> None:
    # Nothing retires a child: MaxSpare* cover every slot, MaxConnectionsPerChild 0.
    start = 4 if mpm == "prefork" else 2
    server = make_server(mpm=mpm, start_servers=start, server_limit=8,
                         min_spare=1, max_spare=8, min_spare_threads=1, max_spare_threads=32,
                         max_conn=0, extra=EXTRA)
    # the children that serve (each said child_ready), not whatever exists once
    # the port is bound: possibly none yet, and an empty set proves nothing
    children = {e["pid"] for e in server.wait_event("child_ready", timeout=30, count=start)}
    assert len(children) == start and children <= server.child_pids()
    rng = random.Random(seed)
    started, done = time.monotonic(), list[Outcome]()
    with ThreadPoolExecutor(max_workers=BATCH) as pool:
        while len(done) < CASES and time.monotonic() - started < WALL_CLOCK:
            batch = [make_case(rng, len(done) + i) for i in range(BATCH)]
            outcomes = list(pool.map(lambda case: run_case(server.port, case), batch))
            failures = [f"{p} <- {o.case.describe(seed)}" for o in outcomes for p in problems(o)]
            assert not failures, "\n".join(failures)
            health_check(server.port)
            done += outcomes
    elapsed = time.monotonic() - started
    statuses = Counter(final_response(o.raw)[9:12].decode() or "none" for o in done)
    print(f"fuzz {mpm} seed={seed}: {len(done)} cases in {elapsed:.1f} s, {dict(statuses)}")
    assert len(done) >= MIN_CASES, f"only {len(done)} cases in {WALL_CLOCK} s"
    assert sum(1 for o in done if o.case.kind == "control") > 0
    assert children <= server.child_pids(), "a child that was serving is gone"
    assert not log_trouble(server), "\n".join(log_trouble(server))
