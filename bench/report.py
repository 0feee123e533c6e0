"""Human-readable results: one Markdown table per scenario, with same-run ratios.

Cells show the median over samples.  The "x ref" column divides each server's key
metric by the reference server's (the first mpmd server that ran, else gunicorn-sync),
and a ratio line per mpmd server compares it to each peer; only these same-run ratios
are meaningful, since absolute figures move up to 25% between batches on this machine.
"""

from __future__ import annotations

import math

from bench.results import Cell, Run, ScenarioResult

FALLBACK_REF = "gunicorn-sync"


def markdown(run: Run) -> str:
    parts = [section(sc) for sc in run.scenarios]
    return "\n".join(parts)


def section(sc: ScenarioResult) -> str:
    lines = [f"### {sc.title} (`{sc.name}`)", ""]
    if sc.description:
        lines += [sc.description, ""]
    lines += _table(sc)
    ratios = _ratio_lines(sc)
    if ratios:
        lines += ["", *ratios]
    notes = [f"- {name}: {note}" for name, c in sc.cells.items() for note in c.notes]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


def reference(sc: ScenarioResult) -> str | None:
    ok = [name for name, cell in sc.cells.items() if cell.ok]
    mpmd = [name for name in ok if name.startswith("mpmd")]
    if mpmd:
        return mpmd[0]
    return FALLBACK_REF if FALLBACK_REF in ok else (ok[0] if ok else None)


def _table(sc: ScenarioResult) -> list[str]:
    ref = reference(sc)
    head = ["server", *(m.label for m in sc.metrics), f"x {ref}" if ref else "x ref", "n"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, cell in sc.cells.items():
        lines.append("| " + " | ".join([name, *_row(sc, cell, ref)]) + " |")
    return lines


def _row(sc: ScenarioResult, cell: Cell, ref: str | None) -> list[str]:
    if not cell.ok:
        return [cell.status.replace("|", "/").replace("\n", " ")[:120]] + [""] * len(sc.metrics)
    values = [_fmt(m.fmt, cell.median(m.key)) for m in sc.metrics]
    ratio = _ratio(sc, cell.server, ref) if ref else math.nan
    return [*values, _fmt("{:.2f}", ratio), str(len(cell.samples))]


def _fmt(fmt: str, value: float) -> str:
    return "-" if math.isnan(value) else fmt.format(value)


def _ratio(sc: ScenarioResult, name: str, ref: str) -> float:
    a, b = sc.cells[name].median(sc.key), sc.cells[ref].median(sc.key)
    if math.isnan(a) or math.isnan(b) or b == 0:
        return math.nan
    return a / b


def _ratio_lines(sc: ScenarioResult) -> list[str]:
    metric = sc.key_metric()
    better = "lower" if metric.lower_is_better else "higher"
    lines = []
    for name, cell in sc.cells.items():
        if not (name.startswith("mpmd") and cell.ok):
            continue
        peers = [p for p, c in sc.cells.items() if c.ok and not p.startswith("mpmd")]
        ratios = {p: _ratio(sc, name, p) for p in peers}
        parts = [f"{r:.2f}x {p}" for p, r in ratios.items() if not math.isnan(r)]
        if not parts:
            continue
        lines.append(f"- {name} {metric.label} ({better} is better): " + ", ".join(parts))
    return lines
