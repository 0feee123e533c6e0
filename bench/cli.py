"""``python -m bench [--quick|--full] [--scenarios a,b] [--servers x,y] [--out DIR] [--docs]``

Installs what is missing, lays out the site, runs the selected scenarios against the
selected servers, and writes ``DIR/<stamp>-<profile>.json`` (every sample), ``.md`` (the
tables) and plots; ``--docs`` also rewrites docs/benchmarks.md and docs/bench/.
The only place in bench/ that exits; every server started is stopped on the way out.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench import catalog, docs, install, machine, report, scenarios
from bench.context import Ctx
from bench.mpmd_server import REPO
from bench.procs import BenchError, Groups
from bench.profiles import PROFILES, Profile
from bench.results import Run, ScenarioResult, from_json
from bench.servers import BIG, Server
from bench.site import build

NOFILE = 20_000


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="mpmd side by side with its peers, in one run (see docs/benchmarks.md).",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="development run, under 2 minutes")
    mode.add_argument("--full", action="store_true", help="release run, about 25 minutes")
    p.add_argument("--scenarios", help=f"comma-separated, of: {','.join(scenarios.SCENARIOS)}")
    names = ",".join(catalog.all_servers(install.venv_bin()))
    p.add_argument("--servers", help=f"comma-separated, of: {names} (default: the profile's)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results",
                   help="where the JSON, Markdown and plots of each run go")
    p.add_argument("--docs", action="store_true", help="rewrite docs/benchmarks.md")
    p.add_argument("--no-install", action="store_true", help="do not apt/pip install")
    p.add_argument("--render", type=Path, metavar="JSON",
                   help="measure nothing: rewrite docs/benchmarks.md from a saved run")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.render:
            _render(args.render)
        else:
            _run(args, argv, PROFILES["full" if args.full else "quick"])
    except (BenchError, ValueError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        return 130
    return 0


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through every finally: servers get stopped


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _run(args: argparse.Namespace, argv: list[str], profile: Profile) -> None:
    wanted = _split(args.servers) or (list(profile.servers) if profile.servers else None)
    chosen = scenarios.select(_split(args.scenarios), profile.scenarios)
    _raise_nofile()
    if not args.no_install:
        install.ensure_all(lambda m: print(f"bench: {m}", file=sys.stderr))
    known = catalog.all_servers(install.venv_bin())
    servers = catalog.select(known, wanted)
    work = Path(tempfile.mkdtemp(prefix="mpmd-bench-"))
    work.chmod(0o755)  # Apache's children (www-data) read the site
    groups = Groups()
    try:
        big = any(sc.app is BIG for sc in chosen)
        ctx = Ctx(groups, build(work / "site", big), work, profile)
        run = Run(meta=_meta(argv, profile))
        missing = _available(ctx, servers, run)
        for sc in chosen:
            run.scenarios.append(_scenario(ctx, sc, servers, missing))
        run.meta["duration_s"] = time.monotonic() - ctx.started
        run.meta["loadavg"] = f"{run.meta['loadavg']} / {os.getloadavg()[0]:.2f}"
    finally:
        groups.kill_all()
        shutil.rmtree(work, ignore_errors=True)
    _write(run, args.out, args.docs)


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(NOFILE, hard) if hard != resource.RLIM_INFINITY else NOFILE
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _meta(argv: list[str], profile: Profile) -> dict[str, Any]:
    return {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": " ".join(["python -m bench", *argv]),
        "profile": profile.name,
        "machine": machine.describe(),
        "notes": [],
        "duration_s": 0.0,
        "loadavg": f"{os.getloadavg()[0]:.2f}",  # other work on the machine skews figures
    }


def _available(ctx: Ctx, servers: dict[str, Server], run: Run) -> dict[str, str]:
    """Name -> why not available, for the servers that cannot run here."""
    missing = {}
    for name, server in servers.items():
        why = server.unavailable(ctx.work)
        if why:
            missing[name] = why
            run.meta["notes"].append(f"{name}: {why}")
            ctx.log(f"{name}: {why}")
    return missing


def _scenario(ctx: Ctx, sc: scenarios.Scenario, servers: dict[str, Server],
              missing: dict[str, str]) -> ScenarioResult:
    result = sc.new_result()
    ctx.log(f"scenario {sc.name}: {sc.title}")
    present = [s for n, s in servers.items() if n not in missing]
    runnable, skipped = scenarios.applicable(sc, present)
    sc.runner(ctx, result, runnable)
    for name, why in {**skipped, **missing}.items():
        result.cell(name).status = why if why.startswith("skipped") else f"skipped: {why}"
    order = {name: i for i, name in enumerate(servers)}
    result.cells = dict(sorted(result.cells.items(),
                               key=lambda kv: order.get(kv[0].split("+")[0], 99)))
    return result


def _write(run: Run, out: Path, to_docs: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{time.strftime('%Y%m%d-%H%M%S')}-{run.meta['profile']}"
    json_path = stem.with_suffix(".json")
    json_path.write_text(json.dumps(run.to_json(), indent=1, default=str))
    table = report.markdown(run)
    stem.with_suffix(".md").write_text(table)
    print(table)
    print(f"bench: wrote {json_path} and {stem.with_suffix('.md')}", file=sys.stderr)
    plot_dir = (REPO / "docs" / "bench") if to_docs else Path(f"{stem}-plots")
    for old in plot_dir.glob("*.png") if to_docs else []:
        old.unlink()  # a plot of a scenario this run did not measure would mislead
    plots = _plot(json_path, plot_dir)
    if to_docs:
        shutil.copy(json_path, plot_dir / "latest.json")
        page = docs.write(run, plots, REPO / "docs")
        print(f"bench: wrote {page}", file=sys.stderr)


def _render(json_path: Path) -> None:
    """Docs from a saved run (after editing bench/analysis.md, say): same plots, same page."""
    run = from_json(json.loads(json_path.read_text()))
    plot_dir = REPO / "docs" / "bench"
    for old in plot_dir.glob("*.png"):
        old.unlink()
    plots = _plot(json_path, plot_dir)
    if json_path.resolve() != (plot_dir / "latest.json").resolve():
        shutil.copy(json_path, plot_dir / "latest.json")
    print(f"bench: wrote {docs.write(run, plots, REPO / 'docs')}", file=sys.stderr)


def _plot(json_path: Path, out: Path) -> list[Path]:
    argv = [str(install.venv_bin() / "python"), "-m", "bench.plot", str(json_path), str(out)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300,
                          check=False)
    if done.returncode != 0:
        print(f"bench: plotting failed: {done.stderr[-500:]}", file=sys.stderr)
        return []
    return [Path(line) for line in done.stdout.split()]
