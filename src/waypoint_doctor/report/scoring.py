"""Score and grade: one formula, documented in docs/scoring.md.

points = pass × 1 + warn × 0.5        (fail and error score 0)
scored = pass + warn + fail + error   (skip and info are not verdicts and do not count)
score  = round(100 × points / scored), or 100 when nothing was scored
a single fail or error caps the score at 69: a report that says "your policy is not doing
what you expect" must never read as a B.
grade  = A ≥ 90, B ≥ 80, C ≥ 70, D ≥ 60, E ≥ 50, else F  (popeye's bands)
"""

from __future__ import annotations

from collections.abc import Iterable

from waypoint_doctor.checks.spec import Status
from waypoint_doctor.report.model import CheckResult

FAIL_CAP = 69
_BANDS = ((90, "A"), (80, "B"), (70, "C"), (60, "D"), (50, "E"))


def score_of(results: Iterable[CheckResult]) -> int:
    points = 0.0
    scored = 0
    broken = False
    for r in results:
        if r.status is Status.PASS:
            points += 1
        elif r.status is Status.WARN:
            points += 0.5
        elif r.status in (Status.FAIL, Status.ERROR):
            broken = True
        else:
            continue
        scored += 1
    score = 100 if scored == 0 else round(100 * points / scored)
    return min(score, FAIL_CAP) if broken else score


def grade_of(score: int) -> str:
    for floor, grade in _BANDS:
        if score >= floor:
            return grade
    return "F"


def headline_of(results: Iterable[CheckResult]) -> str:
    """What to fix first: the earliest failing check in catalog order (upstream causes first)."""
    ordered = sorted(results, key=lambda r: r.id)
    for wanted in (Status.FAIL, Status.ERROR, Status.WARN):
        for r in ordered:
            if r.status is wanted:
                verb = {Status.FAIL: "Fix first", Status.ERROR: "Could not evaluate", Status.WARN: "Look at"}[
                    wanted
                ]
                return f"{verb}: {r.id} {r.title}: {r.message}"
    return "All checks passed: nothing to fix."
