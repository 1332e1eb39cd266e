"""JUnit XML for CI systems: one test case per check, grouped in a suite per family."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import IO, Any

from waypoint_doctor.checks.spec import Status
from waypoint_doctor.render.evidence import evidence_line
from waypoint_doctor.render.safe import clean_text
from waypoint_doctor.report.model import CheckResult, FleetReport


def _xml_safe(text: str) -> str:
    # XML 1.0 forbids most control characters even escaped; clean_text drops them.
    return clean_text(text)


_COUNTS = ("tests", "failures", "errors", "skipped")


def _seconds(ms: float) -> str:
    return f"{max(ms, 0.0) / 1000:.3f}"


def _add_suite(
    root: ET.Element,
    name: str,
    checks: tuple[CheckResult, ...],
    fail_on_warn: bool,
    timestamp: str | None = None,
) -> dict[str, float]:
    """One <testsuite>; returns its counts and time for the <testsuites> totals."""
    suite = ET.SubElement(root, "testsuite", name=_xml_safe(name))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_ms = 0.0
    for r in sorted(checks, key=lambda r: r.id):
        counts["tests"] += 1
        total_ms += r.duration_ms
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_xml_safe(f"{name}.{r.category}"),
            name=f"{r.id} {_xml_safe(r.title)}",
            time=_seconds(r.duration_ms),
        )
        detail = "\n".join(
            [_xml_safe(r.message), *(_xml_safe(evidence_line(e, r.message)) for e in r.evidence)]
        )
        if r.remediation:
            detail += "\n\nFix:\n" + _xml_safe(r.remediation)
        if r.status is Status.FAIL or (r.status is Status.WARN and fail_on_warn):
            counts["failures"] += 1
            ET.SubElement(case, "failure", message=_xml_safe(r.message), type=r.status.value).text = detail
        elif r.status is Status.ERROR:
            counts["errors"] += 1
            ET.SubElement(case, "error", message=_xml_safe(r.message)).text = detail
        elif r.status is Status.SKIP:
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=_xml_safe(r.message))
        else:
            ET.SubElement(case, "system-out").text = f"{r.status.value}: {detail}"
    for k, v in counts.items():
        suite.set(k, str(v))
    # Consumers with a strict schema (Jenkins xunit, some GitLab versions) want time and timestamp.
    suite.set("time", _seconds(total_ms))
    if timestamp:
        suite.set("timestamp", timestamp.removesuffix("Z"))
    return {**counts, "time": total_ms}


def render_junit(report: Any, out: IO[str], color: bool = False, fail_on_warn: bool = False) -> None:
    root = ET.Element("testsuites", name="waypoint-doctor")
    stamp = getattr(report, "generated_at", None)
    if isinstance(report, FleetReport):
        suites = [_add_suite(root, "cluster", report.cluster_checks, fail_on_warn, stamp)]
        for s in report.services:
            name = f"{s.target.namespace}/{s.target.name}"
            suites.append(_add_suite(root, name, s.checks, fail_on_warn, stamp))
    elif hasattr(report, "target"):
        name = f"{report.target.namespace}/{report.target.name}"
        suites = [_add_suite(root, name, report.checks, fail_on_warn, stamp)]
    else:  # lint results carry their own suite name
        suites = [_add_suite(root, getattr(report, "suite_name", "lint"), report.checks, fail_on_warn, stamp)]
    for k in _COUNTS:
        root.set(k, str(int(sum(s[k] for s in suites))))
    root.set("time", _seconds(sum(s["time"] for s in suites)))
    ET.indent(root)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")
