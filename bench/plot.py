"""One PNG per scenario: the key metric per server (median bar, every sample a dot).

``python -m bench.plot RESULTS.json OUTDIR`` — run with the bench virtualenv's Python,
which has matplotlib (the project's environment does not).  Agg backend, no display.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: no display here
import matplotlib.pyplot as plt

from bench.results import Run, ScenarioResult, from_json


def plot_all(run: Run, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [p for sc in run.scenarios if (p := plot_one(sc, out)) is not None]


def plot_one(sc: ScenarioResult, out: Path) -> Path | None:
    cells = [c for c in sc.cells.values() if c.ok]
    if not cells:
        return None
    metric = sc.key_metric()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(cells) + 1.6))
    names = [c.server for c in cells]
    medians = [c.median(sc.key) for c in cells]
    colors = ["#c0392b" if n.startswith("mpmd") else "#7f8c8d" for n in names]
    bars = ax.barh(names, medians, color=colors)
    ax.bar_label(bars, labels=[metric.fmt.format(m) for m in medians], padding=3, fontsize=8)
    for y, cell in enumerate(cells):
        xs = [s[sc.key] for s in cell.samples if sc.key in s]
        ax.plot(xs, [y] * len(xs), "k.", markersize=4)
    ax.invert_yaxis()
    better = "lower" if metric.lower_is_better else "higher"
    ax.set_xlabel(f"{metric.label} (median; dots = samples; {better} is better)")
    ax.set_title(sc.title)
    fig.tight_layout()
    path = out / f"{sc.name}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str]) -> int:
    run = from_json(json.loads(Path(argv[0]).read_text()))
    for path in plot_all(run, Path(argv[1])):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
