"""The one report model every renderer reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from waypoint_doctor.checks.spec import Status, Target

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class Suppressed:
    """Why a finding does not count: who silenced it (a flag, the config file, an annotation on
    the object), the rule as written, and the reason given (None when none was)."""

    by: str  # "flag", "config" or "annotation"
    rule: str
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"by": self.by, "rule": self.rule, "reason": self.reason}

    def describe(self) -> str:
        """`suppressed by flag WD409=AuthorizationPolicy ns/*: reason`, for text renderers."""
        return f"suppressed by {self.by} {self.rule}" + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    category: str
    status: Status
    message: str
    evidence: tuple[Mapping[str, Any], ...] = ()
    remediation: str = ""
    doc: str = ""
    duration_ms: float = 0.0
    suppressed: Suppressed | None = None  # still listed, but counts toward neither exit code nor score

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "status": self.status.value,
            "message": self.message,
            "evidence": [dict(e) for e in self.evidence],
            "remediation": self.remediation,
            "doc": self.doc,
        }
        if self.suppressed is not None:
            out["suppressed"] = self.suppressed.as_dict()
        return out


def count_statuses(results: tuple[CheckResult, ...] | list[CheckResult]) -> dict[str, int]:
    """Checks by status; a suppressed finding counts under `suppressed` instead of its status
    (that key only appears when something was suppressed)."""
    summary = {s.value: 0 for s in Status}
    suppressed = 0
    for r in results:
        if r.suppressed is not None:
            suppressed += 1
        else:
            summary[r.status.value] += 1
    if suppressed:
        summary["suppressed"] = suppressed
    return summary


@dataclass(frozen=True)
class Report:
    tool_version: str
    generated_at: str
    source: Mapping[str, str]
    target: Target
    checks: tuple[CheckResult, ...]
    score: int
    grade: str
    headline: str  # what to fix first, one line
    summary: Mapping[str, int] = field(default_factory=dict)
    # --select/--ignore when given: {"select": [...], "ignore": [...], "not_run": [check IDs]}
    selection: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "waypoint-doctor", "version": self.tool_version},
            "generated_at": self.generated_at,
            "source": dict(self.source),
            "target": self.target.as_dict(),
            "score": self.score,
            "grade": self.grade,
            "summary": dict(self.summary),
            "headline": self.headline,
            "checks": [c.as_dict() for c in self.checks],
        }
        if self.selection is not None:
            out["selection"] = dict(self.selection)
        return out


@dataclass(frozen=True)
class FleetReport:
    tool_version: str
    generated_at: str
    source: Mapping[str, str]
    scope: Mapping[str, Any]
    cluster_checks: tuple[CheckResult, ...]
    services: tuple[Report, ...]
    selection: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        grades = {g: 0 for g in "ABCDEF"}
        totals = {s.value: 0 for s in Status}
        for svc in self.services:
            grades[svc.grade] += 1
            for k, v in svc.summary.items():
                totals[k] = totals.get(k, 0) + v
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "waypoint-doctor", "version": self.tool_version},
            "generated_at": self.generated_at,
            "source": dict(self.source),
            "scope": dict(self.scope),
            "cluster_checks": [c.as_dict() for c in self.cluster_checks],
            "summary": {"services": len(self.services), "grades": grades, **totals},
            "services": [
                {
                    "target": s.target.as_dict(),
                    "score": s.score,
                    "grade": s.grade,
                    "summary": dict(s.summary),
                    "headline": s.headline,
                    "checks": [c.as_dict() for c in s.checks],
                }
                for s in self.services
            ],
        }
        if self.selection is not None:
            out["selection"] = dict(self.selection)
        return out
