"""The conformance corpus: loads tests/conformance/cases/*.yaml into typed cases.

Shared by the sans-I/O replay (tests/conformance/test_core.py) and the end-to-end
replay (tests/system/test_conformance.py).  See README.md for the format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from mpmd.config.model import RequestLimits

CASES_DIR = Path(__file__).parent / "cases"
#: The limits every case is judged under (and the end-to-end server is configured with).
LIMITS = RequestLimits(line=200, fields=10, field_size=200, body=1000)
LIMIT_DIRECTIVES = (
    "LimitRequestLine 200\nLimitRequestFieldSize 200\n"
    "LimitRequestFields 10\nLimitRequestBody 1000\n"
)
#: ``{text*N}``: ``text`` repeated N times, for long inputs.
_REPEAT = re.compile(r"\{([^{}*]+)\*(\d+)\}")


@dataclass(frozen=True)
class ExpectedRequest:
    """What one parsed request must look like; None/empty means "not checked"."""

    method: str
    target: bytes | None = None
    version: str = "1.1"
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytes | None = None
    trailers: dict[bytes, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """One corpus entry: bytes to send and the outcome RFC 9112 requires."""

    name: str
    rfc: str
    send: bytes
    requests: tuple[ExpectedRequest, ...]
    error: int | None  # the status answered after ``requests``; the connection then closes
    error_in_body: bool  # the error arises in the body of the last expected request
    closes: bool  # no error, but the connection must close after the last response
    xfail: str | None

    @property
    def responses(self) -> int:
        """Responses a server sends for this case (the error response included)."""
        served = len(self.requests) - (1 if self.error_in_body else 0)
        return served + (1 if self.error is not None else 0)


def raw(text: str) -> bytes:
    """A case's string as exact bytes: macros expanded, each char one byte (latin-1)."""
    return _REPEAT.sub(lambda m: m.group(1) * int(m.group(2)), text).encode("latin-1")


def _pairs(mapping: dict[str, Any] | None) -> dict[bytes, bytes]:
    return {raw(str(k)): raw(str(v)) for k, v in (mapping or {}).items()}


def _request(item: dict[str, Any]) -> ExpectedRequest:
    return ExpectedRequest(
        method=item["method"],
        target=raw(item["target"]) if "target" in item else None,
        version=item.get("version", "1.1"),
        headers=_pairs(item.get("headers")),
        body=raw(item["body"]) if "body" in item else None,
        trailers=_pairs(item.get("trailers")),
    )


def _case(prefix: str, item: dict[str, Any]) -> Case:
    return Case(
        name=f"{prefix}/{item['name']}",
        rfc=item["rfc"],
        send=raw(item["send"]),
        requests=tuple(_request(r) for r in item.get("requests", ())),
        error=item.get("error"),
        error_in_body=bool(item.get("error_in_body", False)),
        closes=bool(item.get("closes", False)),
        xfail=item.get("xfail"),
    )


def load_cases() -> list[Case]:
    """Every case of every file, in file order."""
    cases: list[Case] = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        items = yaml.safe_load(path.read_text(encoding="utf-8"))
        cases.extend(_case(path.stem, item) for item in items)
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return cases


def marks(case: Case) -> list[pytest.MarkDecorator]:
    """A strict xfail for a case whose RFC expectation mpmd does not meet yet."""
    return [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
