"""docs/logging.md lists every event the source emits (an event name is an interface).

The names are found in the source itself with ``ast``: calls of a logger's level
methods (``log.info("name", ...)``), of ``getattr(log, level)("name", ...)``
and ``LogEvent("name", ...)`` (events the pure maintenance policy returns).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
LEVELS = {"debug", "info", "warning", "error", "critical", "exception"}
NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")  # snake_case with at least one "_"


def _event_name(call: ast.Call) -> str | None:
    func = call.func
    is_level = isinstance(func, ast.Attribute) and func.attr in LEVELS
    is_getattr = (isinstance(func, ast.Call) and isinstance(func.func, ast.Name)
                  and func.func.id == "getattr")
    is_event = isinstance(func, ast.Name) and func.id == "LogEvent"
    if not (is_level or is_getattr or is_event) or not call.args:
        return None
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value if NAME.match(first.value) else None
    return None


def emitted_events() -> dict[str, str]:
    """Every event name in mpmd/, with one place that emits it."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "mpmd").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and (name := _event_name(node)):
                found.setdefault(name, f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_the_scan_finds_events_of_each_shape() -> None:
    # Known emitters of each shape (so an empty scan cannot pass the test below).
    events = emitted_events()
    for name in ("child_started", "child_exited", "maintenance_spawning", "request_rejected"):
        assert name in events


def test_every_emitted_event_is_in_the_catalogue() -> None:
    catalogue = (REPO / "docs" / "logging.md").read_text(encoding="utf-8")
    missing = {name: where for name, where in emitted_events().items()
               if f"`{name}`" not in catalogue}
    assert not missing, f"events missing from docs/logging.md: {missing}"
