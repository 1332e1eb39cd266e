"""JUnit XML for CI systems: one test case per check, a suite per service (and one for the
cluster-wide checks of a fleet scan, or one for a lint run).

The document is valid against both schemas CI tools validate with: the strict Apache Ant one
(every suite has `id`, `package`, `timestamp`, `hostname`, `properties`, `system-out` and
`system-err`; a test case holds at most one of failure/error/skipped and nothing else;
`testsuites` has no attributes) and Jenkins' xunit junit-10.xsd. Both are vendored in
tests/schemas and checked by tests/test_render_schemas.py.

- fail (and warn with `--fail-on warn`): `<failure type="fail|warn">`, the message, the
  evidence and the fix as text;
- error (the check crashed): `<error type="error">`;
- skip, and a suppressed finding: `<skipped message="…">` (who suppressed it, and why);
- pass and info: a bare test case; their one-line results are in the suite's `<system-out>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import IO, Any
from urllib.parse import urlparse

from waypoint_doctor import __version__
from waypoint_doctor.checks.spec import Status
from waypoint_doctor.render.evidence import evidence_line
from waypoint_doctor.render.safe import clean_text
from waypoint_doctor.report.model import CheckResult, FleetReport

_COUNTS = ("tests", "failures", "errors", "skipped")


def _xml_safe(text: str) -> str:
    # XML 1.0 forbids most control characters even escaped; clean_text drops them.
    return clean_text(text)


def _one_line(text: str) -> str:
    return clean_text(text, keep_newlines=False)


def _seconds(ms: float) -> str:
    return f"{max(ms, 0.0) / 1000:.3f}"


def _timestamp(generated_at: str | None) -> str:
    """Ant's pattern: `YYYY-MM-DDTHH:MM:SS`, no zone (it is UTC) and no fraction."""
    if generated_at and len(generated_at) >= 19:
        return generated_at[:19]
    from waypoint_doctor.engine import now_rfc3339

    return now_rfc3339()[:19]


def _hostname(source: Mapping[str, Any]) -> str:
    """The cluster the checks ran against: its API server's host, else `localhost` (Ant's word
    for "unknown"), for a snapshot or a lint run."""
    server = source.get("server")
    host = urlparse(str(server)).hostname if server else None
    return _one_line(host) if host else "localhost"


def _detail(r: CheckResult) -> str:
    detail = "\n".join([_xml_safe(r.message), *(_xml_safe(evidence_line(e, r.message)) for e in r.evidence)])
    if r.remediation:
        detail += "\n\nFix:\n" + _xml_safe(r.remediation)
    return detail


def _case(r: CheckResult, suite_name: str, fail_on_warn: bool) -> tuple[ET.Element, str | None]:
    """The test case and the counter it adds to (failures/errors/skipped, None for a pass)."""
    case = ET.Element(
        "testcase",
        name=f"{r.id} {_one_line(r.title)}",
        classname=_one_line(f"{suite_name}.{r.category}"),
        time=_seconds(r.duration_ms),
    )
    message = _one_line(r.message)
    if r.suppressed is not None:
        why = _one_line(r.suppressed.describe())
        ET.SubElement(case, "skipped", message=why).text = f"{r.status.value}: {_detail(r)}"
        return case, "skipped"
    if r.status is Status.FAIL or (r.status is Status.WARN and fail_on_warn):
        ET.SubElement(case, "failure", message=message, type=r.status.value).text = _detail(r)
        return case, "failures"
    if r.status is Status.ERROR:
        ET.SubElement(case, "error", message=message, type="error").text = _detail(r)
        return case, "errors"
    if r.status is Status.SKIP:
        ET.SubElement(case, "skipped", message=message)
        return case, "skipped"
    return case, None


def _suite(
    suite_id: int,
    name: str,
    checks: Sequence[CheckResult],
    fail_on_warn: bool,
    timestamp: str,
    hostname: str,
    properties: Mapping[str, str],
) -> ET.Element:
    ordered = sorted(checks, key=lambda r: r.id)
    counts = dict.fromkeys(_COUNTS, 0)
    cases = []
    for r in ordered:
        case, counter = _case(r, name, fail_on_warn)
        counts["tests"] += 1
        if counter:
            counts[counter] += 1
        cases.append(case)
    # Attribute order as Ant writes them; `id` and `package` are required inside <testsuites>.
    suite = ET.Element(
        "testsuite",
        name=_one_line(name) or "waypoint-doctor",
        id=str(suite_id),
        package="waypoint-doctor",
        timestamp=timestamp,
        hostname=hostname,
        **{k: str(v) for k, v in counts.items()},
        time=_seconds(sum(r.duration_ms for r in ordered)),
    )
    props = ET.SubElement(suite, "properties")
    for key, value in properties.items():
        ET.SubElement(props, "property", name=key, value=_one_line(value))
    suite.extend(cases)
    passed = [
        f"{r.status.value.upper()} {r.id} {_one_line(r.title)}: {_one_line(r.message)}"
        for r, case in zip(ordered, cases, strict=True)
        if len(case) == 0
    ]
    ET.SubElement(suite, "system-out").text = "\n".join(passed)
    ET.SubElement(suite, "system-err")
    return suite


def _source_properties(report: Any) -> dict[str, str]:
    props = {"waypoint-doctor.version": getattr(report, "tool_version", __version__)}
    source = getattr(report, "source", None) or {}
    for key in ("kind", "context", "server", "path"):
        if source.get(key):
            props[f"source.{key}"] = str(source[key])
    return props


def render_junit(report: Any, out: IO[str], color: bool = False, fail_on_warn: bool = False) -> None:
    root = ET.Element("testsuites")
    stamp = _timestamp(getattr(report, "generated_at", None))
    host = _hostname(getattr(report, "source", None) or {})
    base = _source_properties(report)
    suites: list[tuple[str, Sequence[CheckResult], dict[str, str]]] = []
    if isinstance(report, FleetReport):
        suites.append(("cluster", report.cluster_checks, base))
        for s in report.services:
            graded = {**base, "score": str(s.score), "grade": s.grade}
            suites.append((f"{s.target.namespace}/{s.target.name}", s.checks, graded))
    elif hasattr(report, "target"):
        graded = {**base, "score": str(report.score), "grade": report.grade}
        suites.append((f"{report.target.namespace}/{report.target.name}", report.checks, graded))
    else:  # lint results carry their own suite name
        files = {**base, "files": ", ".join(getattr(report, "files", ()))}
        suites.append((getattr(report, "suite_name", "lint"), report.checks, files))
    for i, (name, checks, props) in enumerate(suites):
        root.append(_suite(i, name, checks, fail_on_warn, stamp, host, props))
    ET.indent(root)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")
