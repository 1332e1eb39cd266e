"""Run the registered checks over a collected view and assemble the report."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from waypoint_doctor import __version__
from waypoint_doctor.checks.spec import (
    CheckContext,
    CheckOptions,
    CheckSpec,
    Outcome,
    SkipCheck,
    Status,
    Target,
    skipped,
)
from waypoint_doctor.collect.view import ClusterView
from waypoint_doctor.mesh.facts import Facts
from waypoint_doctor.render.safe import clean_data, clean_text
from waypoint_doctor.report.model import CheckResult, FleetReport, Report, count_statuses
from waypoint_doctor.report.scoring import grade_of, headline_of, score_of

if TYPE_CHECKING:
    from waypoint_doctor.gate.config import Gate

PSEUDO_READS = frozenset({"discovery", "logs", "istioctl"})


def _unavailable_input(spec: CheckSpec, view: ClusterView) -> Outcome | None:
    for resource in spec.reads:
        if resource in PSEUDO_READS:
            continue
        entry = view.unreadable_for(resource)
        if entry is not None and entry.namespace is None:
            return skipped(entry.describe())
        missing = view.missing(resource)
        if missing is not None and missing.reason == "NotCollected":
            return skipped(missing.describe())
    return None


def run_one(spec: CheckSpec, ctx: CheckContext) -> CheckResult:
    started = time.perf_counter()
    outcome = _unavailable_input(spec, ctx.view)
    if outcome is None:
        try:
            outcome = spec.run(ctx)
        except SkipCheck as skip:
            outcome = skipped(skip.reason)
        except Exception as exc:  # one check's crash must not stop the run
            outcome = Outcome(Status.ERROR, f"the check itself failed: {type(exc).__name__}: {exc}")
    # Every output format gets the same clean text: no terminal controls, no credentials.
    return CheckResult(
        id=spec.id,
        title=spec.title,
        category=spec.category,
        status=outcome.status,
        message=clean_text(outcome.message, keep_newlines=False),
        evidence=tuple(clean_data(dict(e)) for e in outcome.evidence),
        remediation=clean_text(outcome.remediation),
        doc=spec.doc,
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def run_checks(
    view: ClusterView,
    target: Target,
    specs: Iterable[CheckSpec],
    options: CheckOptions | None = None,
    facts: Facts | None = None,
) -> tuple[CheckResult, ...]:
    ctx = CheckContext(
        view=view,
        target=target,
        facts=facts or Facts(view, target.namespace, target.name),
        options=options or CheckOptions(),
    )
    return tuple(run_one(spec, ctx) for spec in sorted(specs, key=lambda s: s.id))


def now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def assemble_report(
    view: ClusterView, target: Target, results: Sequence[CheckResult], selection: dict | None = None
) -> Report:
    counted = [r for r in results if r.suppressed is None]  # a suppressed finding does not score
    score = score_of(counted)
    return Report(
        tool_version=__version__,
        generated_at=now_rfc3339(),
        source=view.source.as_dict(),
        target=target,
        checks=tuple(results),
        score=score,
        grade=grade_of(score),
        headline=headline_of(counted),
        summary=count_statuses(list(results)),
        selection=selection,
    )


def _selected(specs: Iterable[CheckSpec], gate: Gate | None) -> tuple[list[CheckSpec], dict | None]:
    """The specs `--select`/`--ignore` keep, and what the report says about it (None: all ran)."""
    specs = list(specs)
    if gate is None or not gate.selection.active:
        return specs, None
    kept = [s for s in specs if gate.selection.wants(s.id)]
    not_run = sorted(s.id for s in specs if not gate.selection.wants(s.id))
    return kept, {**gate.selection.as_dict(), "not_run": not_run}


def _suppressed(
    results: Sequence[CheckResult], view: ClusterView, target: Target | None, gate: Gate | None
) -> tuple[CheckResult, ...]:
    if gate is None:
        return tuple(results)
    from waypoint_doctor.checks.registry import BY_ID
    from waypoint_doctor.gate.apply import apply_suppressions, view_annotations

    return apply_suppressions(
        results,
        target=target,
        suppressions=gate.suppressions,
        annotations_of=view_annotations(view),
        cluster_scoped=lambda check_id: check_id in BY_ID and BY_ID[check_id].scope == "cluster",
    )


def check_service(
    view: ClusterView,
    target: Target,
    options: CheckOptions | None = None,
    specs: Iterable[CheckSpec] | None = None,
    gate: Gate | None = None,
) -> Report:
    """`gate`: --select/--ignore (which checks run) and the suppressions (which findings count)."""
    from waypoint_doctor.checks.registry import ALL_CHECKS

    chosen, selection = _selected(specs if specs is not None else ALL_CHECKS, gate)
    results = _suppressed(run_checks(view, target, chosen, options), view, target, gate)
    return assemble_report(view, target, results, selection)


def check_fleet(
    view: ClusterView,
    targets: Sequence[Target],
    scope: dict,
    options: CheckOptions | None = None,
    gate: Gate | None = None,
) -> FleetReport:
    """Cluster-wide checks once, then the service checks per target, worst first."""
    from waypoint_doctor.checks.registry import ALL_CHECKS

    chosen, selection = _selected(ALL_CHECKS, gate)
    cluster_specs = [s for s in chosen if s.scope == "cluster"]
    service_specs = [s for s in chosen if s.scope == "service"]
    anchor = targets[0] if targets else Target(namespace="default", name="")
    cluster_results = _suppressed(run_checks(view, anchor, cluster_specs, options), view, None, gate)
    reports = [
        assemble_report(
            view, t, _suppressed(run_checks(view, t, service_specs, options), view, t, gate), selection
        )
        for t in targets
    ]
    reports.sort(key=lambda r: (r.score, r.target.namespace, r.target.name))
    return FleetReport(
        tool_version=__version__,
        generated_at=now_rfc3339(),
        source=view.source.as_dict(),
        scope=scope,
        cluster_checks=cluster_results,
        services=tuple(reports),
        selection=selection,
    )
