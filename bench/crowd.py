"""Many cheap clients in one asyncio process: slow request heads, or idle keep-alive.

``python -m bench.crowd slow|idle --port P --count N --seconds S [--path /]``

* ``slow``: each connection sends a request line, then one more header line every
  second and never ends the head (a slowloris); counts how many the server cut.
* ``idle``: each connection sends one complete keep-alive request, reads the response,
  then stays open without sending; counts how many were served and how many the server
  dropped while idle.

Prints ``ready {json}`` once every connection was attempted, and the final ``{json}``
when it ends: at ``--seconds``, or earlier on a line (or EOF) on stdin.  Loopback only;
every loop is bounded by the deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
from dataclasses import asdict, dataclass

CONNECT_TIMEOUT_S = 1.0  # loopback: the kernel answers at once unless the backlog is full
RESPONSE_TIMEOUT_S = 5.0
TRICKLE_S = 1.0
CONNECT_AT_ONCE = 1000


@dataclass
class Stats:
    opened: int = 0
    connect_failed: int = 0
    served: int = 0  # idle: got a complete response to the one request
    cut: int = 0  # the server closed the connection before the end
    attempted: int = 0


@dataclass(frozen=True)
class Job:
    mode: str
    port: int
    count: int
    path: str
    end: float  # loop time


async def _connect(job: Job, stats: Stats, gate: asyncio.Semaphore) -> tuple[
    asyncio.StreamReader, asyncio.StreamWriter
] | None:
    async with gate:
        try:
            conn = asyncio.open_connection("127.0.0.1", job.port)
            pair = await asyncio.wait_for(conn, CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError):
            stats.connect_failed += 1
            pair = None
        finally:
            stats.attempted += 1
    if pair is not None:
        stats.opened += 1
    return pair


async def _slow(job: Job, stats: Stats, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter) -> None:
    loop = asyncio.get_running_loop()
    writer.write(f"GET {job.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
    closed = asyncio.ensure_future(reader.read())  # EOF (or a 408) means the server cut us
    for line in range(int((job.end - loop.time()) / TRICKLE_S) + 1):
        remaining = job.end - loop.time()
        if remaining <= 0:
            break
        done, _ = await asyncio.wait({closed}, timeout=min(TRICKLE_S, remaining))
        if done:
            stats.cut += 1
            return
        with contextlib.suppress(OSError):
            writer.write(f"X-Slow-{line}: a\r\n".encode())
    closed.cancel()


async def _idle(job: Job, stats: Stats, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter) -> None:
    loop = asyncio.get_running_loop()
    writer.write(f"GET {job.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
        await asyncio.wait_for(_read_response(reader), RESPONSE_TIMEOUT_S)
        stats.served += 1
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(reader.read(), max(0.0, job.end - loop.time()))
        stats.cut += 1  # read() returned: EOF before the end


async def _read_response(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    await reader.readexactly(length)


async def _client(job: Job, stats: Stats, gate: asyncio.Semaphore) -> None:
    pair = await _connect(job, stats, gate)
    if pair is None:
        return
    reader, writer = pair
    try:
        await (_slow if job.mode == "slow" else _idle)(job, stats, reader, writer)
    finally:
        writer.close()


async def _stop_requested(end: float) -> None:
    """Returns at ``end`` or when stdin has a line or EOF, whichever is first."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    try:
        loop.add_reader(sys.stdin.fileno(), stop.set)
    except (OSError, ValueError):  # not pollable (a file, /dev/null): the deadline only
        watching = False
    else:
        watching = True
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, end - loop.time()))
    finally:
        if watching:
            loop.remove_reader(sys.stdin.fileno())


async def _report_ready(job: Job, stats: Stats) -> None:
    loop = asyncio.get_running_loop()
    while stats.attempted < job.count and loop.time() < job.end:
        await asyncio.sleep(0.05)
    if job.mode == "idle":  # give the answers to the last connections a moment
        await asyncio.sleep(min(1.0, max(0.0, job.end - loop.time())))
    print("ready", json.dumps(asdict(stats)), flush=True)


async def run(mode: str, port: int, count: int, seconds: float, path: str) -> Stats:
    loop = asyncio.get_running_loop()
    job = Job(mode, port, count, path, loop.time() + seconds)
    stats = Stats()
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    tasks = [asyncio.ensure_future(_client(job, stats, gate)) for _ in range(count)]
    ready = asyncio.ensure_future(_report_ready(job, stats))
    await _stop_requested(job.end)
    for task in [*tasks, ready]:
        task.cancel()
    await asyncio.gather(*tasks, ready, return_exceptions=True)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crowd")
    parser.add_argument("mode", choices=("slow", "idle"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--path", default="/")
    args = parser.parse_args(argv)
    _raise_nofile(args.count + 100)
    stats = asyncio.run(run(args.mode, args.port, args.count, args.seconds, args.path))
    print(json.dumps(asdict(stats)), flush=True)
    return 0


def _raise_nofile(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


if __name__ == "__main__":
    raise SystemExit(main())
