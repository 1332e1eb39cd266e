"""The lint report: one CheckResult per finding, then a pass or skip for each quiet check.

It reuses :class:`~waypoint_doctor.report.model.CheckResult`, so the shared JSON, YAML, JUnit
and SARIF renderers take it as it is (SARIF gets a physical location from each finding's
`file`/`line` evidence; JUnit names the suite with `suite_name`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from waypoint_doctor.checks.spec import Status
from waypoint_doctor.gate.rules import Selection
from waypoint_doctor.lint.rules import LINT_CHECKS, Finding
from waypoint_doctor.report.model import SCHEMA_VERSION, CheckResult, count_statuses


def _title_and_category(check_id: str) -> tuple[str, str]:
    """The live check's title when it is registered, so lint and check name things alike."""
    try:
        from waypoint_doctor.checks.registry import BY_ID

        spec = BY_ID.get(check_id)
    except Exception:  # a check module that fails to import must not break lint
        spec = None
    if spec is not None:
        return spec.title, spec.category
    return LINT_CHECKS[check_id]


def result_of(finding: Finding) -> CheckResult:
    title, category = _title_and_category(finding.check_id)
    return CheckResult(
        id=finding.check_id,
        title=title,
        category=category,
        status=finding.status,
        message=finding.message,
        evidence=(finding.evidence(),),
        remediation=finding.remediation,
        doc=f"docs/checks/{finding.check_id}.md",
    )


@dataclass(frozen=True)
class LintReport:
    tool_version: str
    generated_at: str
    files: tuple[str, ...]
    objects: Mapping[str, int]  # kind -> count of the objects lint judged
    ignored: int  # documents of kinds lint does not judge
    checks: tuple[CheckResult, ...]
    suite_name: str = "lint"
    summary: Mapping[str, int] = field(default_factory=dict)
    selection: Mapping[str, Any] | None = None  # as in the check report

    @property
    def findings(self) -> tuple[CheckResult, ...]:
        return tuple(
            c for c in self.checks if c.status in (Status.FAIL, Status.WARN, Status.ERROR, Status.INFO)
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "kind": "lint",
            "tool": {"name": "waypoint-doctor", "version": self.tool_version},
            "generated_at": self.generated_at,
            "files": list(self.files),
            "objects": dict(self.objects),
            "ignored_documents": self.ignored,
            "summary": dict(self.summary),
            "checks": [c.as_dict() for c in self.checks],
        }
        if self.selection is not None:
            out["selection"] = dict(self.selection)
        return out


def build_report(
    *,
    tool_version: str,
    generated_at: str,
    files: Sequence[str],
    objects: Mapping[str, int],
    ignored: int,
    findings: Sequence[Finding],
    not_applicable: Mapping[str, str | None],
    selection: Selection | None = None,
) -> LintReport:
    """`selection` (--select/--ignore): the checks left out are neither reported nor listed."""
    wanted = selection.wants if selection is not None else (lambda _id: True)
    findings = [f for f in findings if wanted(f.check_id)]
    results = [result_of(f) for f in findings]
    reported = {f.check_id for f in findings if f.status is not Status.INFO}
    for check_id in sorted(LINT_CHECKS):
        if check_id in reported or not wanted(check_id):
            continue
        title, category = _title_and_category(check_id)
        why_not = not_applicable.get(check_id)
        status = Status.SKIP if why_not else Status.PASS
        message = why_not or "no problem found in the files"
        results.append(
            CheckResult(
                id=check_id,
                title=title,
                category=category,
                status=status,
                message=message,
                doc=f"docs/checks/{check_id}.md",
            )
        )
    name = files[0] if len(files) == 1 else f"{len(files)} files"
    not_run = sorted(c for c in LINT_CHECKS if not wanted(c))
    return LintReport(
        tool_version=tool_version,
        generated_at=generated_at,
        files=tuple(files),
        objects=dict(objects),
        ignored=ignored,
        checks=tuple(results),
        suite_name=f"lint {name}",
        summary=count_statuses(results),
        selection={**selection.as_dict(), "not_run": not_run}
        if selection is not None and selection.active
        else None,
    )
