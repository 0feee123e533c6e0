"""The results model: one cell per (scenario, server), every sample kept.

Guarantees: everything is JSON-serialisable as is (``to_json``); medians are computed
from the samples, never stored separately; a cell that did not run says why in
``status`` ("ok", "skipped: ...", "error: ...", "not supported yet").
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

Sample = dict[str, float]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    fmt: str = "{:.0f}"
    lower_is_better: bool = False


@dataclass
class Cell:
    server: str
    status: str = "ok"
    samples: list[Sample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.samples)

    def median(self, key: str) -> float:
        values = [s[key] for s in self.samples if key in s and not math.isnan(s[key])]
        return statistics.median(values) if values else math.nan


@dataclass
class ScenarioResult:
    name: str
    title: str
    kind: str
    metrics: list[Metric]
    key: str  # the metric ratios and plots use
    cells: dict[str, Cell] = field(default_factory=dict)
    description: str = ""

    def cell(self, server: str) -> Cell:
        return self.cells.setdefault(server, Cell(server))

    def key_metric(self) -> Metric:
        return next(m for m in self.metrics if m.key == self.key)


@dataclass
class Run:
    meta: dict[str, Any]
    scenarios: list[ScenarioResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def from_json(data: dict[str, Any]) -> Run:
    run = Run(meta=data["meta"])
    for sc in data["scenarios"]:
        metrics = [Metric(**m) for m in sc["metrics"]]
        cells = {k: Cell(**c) for k, c in sc["cells"].items()}
        run.scenarios.append(
            ScenarioResult(sc["name"], sc["title"], sc["kind"], metrics, sc["key"], cells,
                           sc.get("description", ""))
        )
    return run


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (what wrk reports); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]
