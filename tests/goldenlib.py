"""Reports from the bundled demos with the parts that change from run to run frozen (time,
durations), so that golden files and README excerpts compare byte for byte."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from waypoint_doctor.checks.spec import CheckOptions, Target
from waypoint_doctor.collect.snapshot_dir import load_snapshot
from waypoint_doctor.report.model import CheckResult, FleetReport, Report

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
GENERATED_AT = "2026-11-20T10:15:00Z"


@contextmanager
def in_repo() -> Iterator[None]:
    """Paths in reports (the snapshot's, lint's files, SARIF URIs) relative to the repository,
    as a user running from its root sees them."""
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        yield
    finally:
        os.chdir(cwd)


def _frozen_checks(checks: tuple[CheckResult, ...]) -> tuple[CheckResult, ...]:
    return tuple(dataclasses.replace(c, duration_ms=1.0) for c in checks)


def freeze(report: Any) -> Any:
    if isinstance(report, FleetReport):
        return dataclasses.replace(
            report,
            generated_at=GENERATED_AT,
            cluster_checks=_frozen_checks(report.cluster_checks),
            services=tuple(freeze(s) for s in report.services),
        )
    if isinstance(report, Report):
        return dataclasses.replace(report, generated_at=GENERATED_AT, checks=_frozen_checks(report.checks))
    return dataclasses.replace(report, generated_at=GENERATED_AT, checks=_frozen_checks(report.checks))


def _options(view: Any) -> CheckOptions:
    return CheckOptions(now=view.source.taken_at, log_window_applied=False)


def demo_report(demo: str = "kagenti-broken", gate: Any = None) -> Report:
    """`check mlflow -n kagenti-system --snapshot examples/<demo>`, as the CLI builds it."""
    from waypoint_doctor.engine import check_service

    with in_repo():
        view = load_snapshot(f"examples/{demo}")
    report = check_service(view, Target("kagenti-system", "mlflow"), _options(view), gate=gate)
    return freeze(report)


def demo_fleet(demo: str = "kagenti-broken", gate: Any = None) -> FleetReport:
    from waypoint_doctor.engine import check_fleet
    from waypoint_doctor.mesh.fleet import services_in_scope

    with in_repo():
        view = load_snapshot(f"examples/{demo}")
    targets = [Target(n, s) for n, s in services_in_scope(view, None)]
    return freeze(check_fleet(view, targets, {"namespaces": "all"}, _options(view), gate=gate))


def demo_lint(*names: str, gate: Any = None) -> Any:
    """`lint -f examples/manifests/<name>...`, with paths relative to the repository."""
    from waypoint_doctor.lint.run import lint_manifests

    with in_repo():
        report = lint_manifests(tuple(f"examples/manifests/{n}" for n in names), gate=gate)
    return freeze(report)
