"""Every renderer on the bundled demos, compared with tests/golden/ byte for byte.

A change to a renderer shows here as a diff; when it is intended, `pytest --update-golden`
rewrites the files (review them with `git diff tests/golden`). The reports come from the real
engine on the demo snapshots (examples/), with time and durations frozen (goldenlib.py)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from goldenlib import demo_fleet, demo_lint, demo_report, in_repo
from waypoint_doctor.gate.config import Gate
from waypoint_doctor.gate.rules import parse_suppression
from waypoint_doctor.render import get_renderer

GATE = Gate(
    suppressions=(
        parse_suppression(
            "WD405=AuthorizationPolicy kagenti-system/mlflow-api-access", by="config", reason="OPS-1"
        ),
    )
)
EXT = {"table": "txt", "json": "json", "yaml": "yaml", "markdown": "md", "junit": "xml", "sarif": "sarif"}
CASES: dict[str, Callable[[], Any]] = {
    "check-broken": lambda: demo_report(),
    "check-healthy": lambda: demo_report("kagenti-healthy"),
    "check-suppressed": lambda: demo_report(gate=GATE),
    "fleet-broken": lambda: demo_fleet(),
}
# Every format on the broken demo; the other cases in the formats where they differ.
MATRIX = [
    *(("check-broken", fmt) for fmt in sorted(EXT)),
    ("check-healthy", "table"),
    ("check-healthy", "json"),
    *(("check-suppressed", fmt) for fmt in ("table", "markdown", "json", "junit", "sarif")),
    *(("fleet-broken", fmt) for fmt in ("table", "markdown", "json", "junit")),
]


def _render(fmt: str, report: Any, **kw: Any) -> str:
    out = io.StringIO()
    with in_repo():
        get_renderer(fmt)(report, out, False, **kw)
    return out.getvalue()


@pytest.mark.parametrize(("case", "fmt"), MATRIX, ids=[f"{c}-{f}" for c, f in MATRIX])
def test_check_renderers(case: str, fmt: str, golden: Callable[[str, str], None]) -> None:
    kw = {"width": 100} if fmt == "table" else {}
    golden(f"{case}.{EXT[fmt]}", _render(fmt, CASES[case](), **kw))


def test_table_at_80_columns(golden: Callable[[str, str], None]) -> None:
    golden("check-broken.80.txt", _render("table", demo_report(), width=80))


@pytest.mark.parametrize("fmt", ["table", "markdown", "json", "junit", "sarif"])
def test_lint_renderers(fmt: str, golden: Callable[[str, str], None]) -> None:
    from waypoint_doctor.lint.render import render_lint_markdown, render_lint_table

    report = demo_lint("broken-spiffe-principal.yaml", "broken-waypoint-hop.yaml", gate=GATE)
    if fmt in ("table", "markdown"):
        out = io.StringIO()
        with in_repo():
            if fmt == "table":
                render_lint_table(report, out, False, width=120)
            else:
                render_lint_markdown(report, out, False)
        text = out.getvalue()
    else:
        text = _render(fmt, report)
    golden(f"lint.{EXT[fmt]}", text)


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_what_if_renderers(fmt: str, golden: Callable[[str, str], None]) -> None:
    from waypoint_doctor.checks.spec import Target
    from waypoint_doctor.collect.snapshot_dir import load_snapshot
    from waypoint_doctor.render.structured import render_json
    from waypoint_doctor.render.whatif import render_whatif_text
    from waypoint_doctor.whatif import WhatIfRequest, what_if

    with in_repo():
        view = load_snapshot("examples/kagenti-broken")
    request = WhatIfRequest(source="sa/kagenti-ui", method="GET", path="/api/2.0/mlflow/experiments/search")
    result = what_if(view, Target("kagenti-system", "mlflow"), request)
    out = io.StringIO()
    if fmt == "table":
        render_whatif_text(result, out, False, width=100)
    else:
        render_json(result, out)
    golden(f"what-if.{EXT[fmt]}", out.getvalue())
