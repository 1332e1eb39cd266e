"""The one report model every renderer reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from waypoint_doctor.checks.spec import Status, Target

SCHEMA_VERSION = "1"


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "status": self.status.value,
            "message": self.message,
            "evidence": [dict(e) for e in self.evidence],
            "remediation": self.remediation,
            "doc": self.doc,
        }


def count_statuses(results: tuple[CheckResult, ...] | list[CheckResult]) -> dict[str, int]:
    summary = {s.value: 0 for s in Status}
    for r in results:
        summary[r.status.value] += 1
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

    def as_dict(self) -> dict[str, Any]:
        return {
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


@dataclass(frozen=True)
class FleetReport:
    tool_version: str
    generated_at: str
    source: Mapping[str, str]
    scope: Mapping[str, Any]
    cluster_checks: tuple[CheckResult, ...]
    services: tuple[Report, ...]

    def as_dict(self) -> dict[str, Any]:
        grades = {g: 0 for g in "ABCDEF"}
        totals = {s.value: 0 for s in Status}
        for svc in self.services:
            grades[svc.grade] += 1
            for k, v in svc.summary.items():
                totals[k] += v
        return {
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
