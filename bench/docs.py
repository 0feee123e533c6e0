"""docs/benchmarks.md from a run: method, machine, exact command, tables and plots.

Rewritten whole from the run's JSON each time (``python -m bench ... --docs``), so the
page never mixes figures from different runs.
"""

from __future__ import annotations

from pathlib import Path

from bench import report
from bench.profiles import FULL, QUICK
from bench.results import Run


def method() -> str:
    q, f = QUICK, FULL
    return f"""\
## How this is measured

- Run it: `python -m bench --full --docs` for releases (every scenario and server,
  {f.rounds} rounds of {f.seconds} s, about 25 minutes), `python -m bench --quick` while
  developing ({", ".join(q.scenarios)}; {q.seconds} s, {q.rounds} round, about 2 minutes);
  `--scenarios a,b` and `--servers x,y` narrow either.  Tools and peers install themselves
  (wrk and apache2 from Debian, the Python peers in a virtualenv of their own).
- One run measures every server side by side on this 2-core machine; absolute figures
  move up to 25% between batches (more when other work shares the machine: see the load
  average above), so **only the ratios within one run count**.
- Throughput scenarios start all servers at once (idle servers cost nothing), give each
  a discarded warm-up ({f.warmup} s with --full), then measure in interleaved rounds
  (A, B, C, then B, C, A ...) so drift cancels; tables show medians (`n` = samples).
- Load generator: `wrk -t1 --latency --timeout 2s` on loopback.  *req/CPU-s* is
  requests per CPU-second of the server's whole process group (utime+stime of every
  process, plus the children they reaped), from /proc before and after.  *sock err*
  counts wrk's connect/read/write/timeout errors (a "stalled" wrk, which could not
  connect at all, counts all its connections).
- *visitor*: while wrk keeps its 50 connections busy, a new visitor opens a fresh
  connection per request (2 s timeout).  wrk reports only completed requests, so a
  server that keeps serving the same few keep-alive connections while everyone else
  waits looks fast in req/s; *visitor ok / fail* shows what a newcomer gets meanwhile.
- Equivalent settings: 2 processes; 4 threads per process where the model has threads
  (gunicorn gthread 2x4, Apache and mpmd worker/event 2 children x ThreadsPerChild 4);
  waitress has one process, so it gets 8 threads; keep-alive timeout 30 s, unlimited
  keep-alive requests (MaxKeepAliveRequests 0), no access log.  Every WSGI server runs the
  same hello app (13-byte "Hello, World!", text/plain); uvicorn-asgi runs its ASGI twin;
  Apache serves the same 13 bytes as a static file (no WSGI); static scenarios use
  Apache's and mpmd's own file handlers and `wsgi.file_wrapper` elsewhere.  Apache loads
  mod_reqtimeout as Debian does.
- Slow clients: an asyncio crowd sends a request line, then one header line a second,
  never ending the head; meanwhile 2 visitors measure p50/p99 and failures for
  {f.pressure_seconds} s ({q.pressure_seconds} s with --quick).  *slow cut* = slow
  connections the server closed in that window (RequestReadTimeout's 20 s header limit
  is longer than the window).  Idle: 5,000 connections each make one keep-alive request
  and then stay idle while wrk -c50 runs; *idle served* got their answer, *idle cut* were
  closed by the server while idle; connections the backlog refused are not "open".
- Respawn: SIGKILL one worker (a direct child of the master), time until a new child
  exists and until the port answers; {f.kills} kills ({q.kills} with --quick).
- Memory: psutil `memory_full_info` summed over master and workers, idle (all
  configurations start together, then each is measured) and again after a wrk run;
  PSS is the honest total, USS what a process alone holds; `+preload` = gunicorn
  `preload_app` / mpmd `WSGIPreload On`.
- Reloads, under wrk -c50: a graceful reload every second (gunicorn HUP, Apache USR1,
  `mpmd reload`); 50 reloads in a row (`reload50`: each `mpmd reload` waited for, as it
  returns once the new generation serves; the peers get a signal every 0.5 s); and a
  prefork -> event swap (gunicorn sync -> gthread via its config file and HUP; Apache
  prefork -> event via graceful, which Apache refuses; mpmd by editing LoadModule and
  `mpmd reload`).  These run with MaxKeepAliveRequests 100 (Apache's and mpmd's
  default; gunicorn has no such setting): with unlimited keep-alive, a
  thread-per-connection server leaves 42 of wrk's 50 connections in the listen queue
  for the whole run, and the clients a reload makes reconnect queue behind them until
  wrk times them out: starvation under a benchmark setting, not requests a reload drops.
"""


def write(run: Run, plots: list[Path], docs_dir: Path) -> Path:
    page = docs_dir / "benchmarks.md"
    pictures = {p.stem: p for p in plots}
    body = [_header(run), method(), _analysis(), "## Results", ""]
    for sc in run.scenarios:
        body.append(report.section(sc))
        if sc.name in pictures:
            rel = pictures[sc.name].relative_to(docs_dir)
            body += [f"![{sc.title}]({rel.as_posix()})", ""]
    page.write_text("\n".join(body))
    return page


def _analysis() -> str:
    """The targets and what bounds them: written by hand in bench/analysis.md, because
    no run can say why; kept next to the figures it discusses."""
    path = Path(__file__).with_name("analysis.md")
    return path.read_text() if path.exists() else ""


def _header(run: Run) -> str:
    meta = run.meta
    machine = meta["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    lines = [
        "# Benchmarks",
        "",
        "Generated by the harness in `bench/` (see `python -m bench --help`); do not edit",
        "by hand: rerun it.",
        "",
        f"- Run: {meta['started']}, profile `{meta['profile']}`, {meta['duration_s']:.0f} s",
        f"- Command: `{meta['command']}`",
        f"- Machine: {machine['nproc']} CPUs ({machine['cpu']}), Linux {machine['kernel']}, "
        f"Python {machine['python']}",
        f"- Versions: {versions}",
        f"- Load average (1 min) at start / end: {meta.get('loadavg', '?')}",
        "- Raw samples: `docs/bench/latest.json`",
    ]
    lines += [f"- {note}" for note in meta.get("notes", [])]
    return "\n".join(lines) + "\n"
