"""What CI systems accept: our JUnit against the strict Apache Ant schema and Jenkins' xUnit
schema (xmlschema, a pure-Python XSD 1.0/1.1 validator), our SARIF against the SARIF 2.1.0
JSON schema (jsonschema). The schemas are vendored in tests/schemas (SOURCES.md says whence)."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xmlschema

from goldenlib import demo_fleet, demo_lint, demo_report
from waypoint_doctor.checks.spec import Status
from waypoint_doctor.gate.config import Gate
from waypoint_doctor.gate.rules import parse_suppression
from waypoint_doctor.render.junit import render_junit
from waypoint_doctor.render.sarif import render_sarif
from waypoint_doctor.report.model import CheckResult

SCHEMAS = Path(__file__).parent / "schemas"
JUNIT_SCHEMAS = {
    "ant-strict": SCHEMAS / "junit-ant-windyroad.xsd",
    "jenkins-xunit": SCHEMAS / "junit-jenkins-xunit-10.xsd",
}
SARIF = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
GATE = Gate(
    suppressions=(
        parse_suppression("WD409"),
        parse_suppression("WD405=AuthorizationPolicy kagenti-system/*", by="config", reason="OPS-1"),
    )
)


def _hostile(report: Any) -> Any:
    """Cluster text with control characters, markup and XML specials must still validate."""
    nasty = CheckResult(
        "WD307",
        'Waypoint pods <running> & "ready"',
        "waypoint",
        Status.ERROR,
        "pod \x1b[31mred\x1b[0m\x07 <b>&amp; ]]> \x00 crashed",
        evidence=({"kind": "Pod", "namespace": "ns", "name": "p\x08od"},),
        remediation="kubectl delete pod 'p' # \x0b",
    )
    return dataclasses.replace(report, checks=(*report.checks, nasty))


REPORTS = {
    "single": lambda: demo_report(),
    "single-suppressed": lambda: demo_report(gate=GATE),
    "healthy": lambda: demo_report("kagenti-healthy"),
    "fleet": lambda: demo_fleet(gate=GATE),
    "lint": lambda: demo_lint("broken-spiffe-principal.yaml", "broken-selector-policy.yaml", gate=GATE),
    "hostile": lambda: _hostile(demo_report()),
}


def _render(fn: Any, report: Any, **kw: Any) -> str:
    out = io.StringIO()
    fn(report, out, **kw)
    return out.getvalue()


@pytest.fixture(scope="module", params=sorted(JUNIT_SCHEMAS))
def junit_schema(request: pytest.FixtureRequest) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(JUNIT_SCHEMAS[request.param]))


@pytest.mark.parametrize("fail_on_warn", [False, True])
@pytest.mark.parametrize("name", sorted(REPORTS))
def test_junit_validates(junit_schema: xmlschema.XMLSchema, name: str, fail_on_warn: bool) -> None:
    xml = _render(render_junit, REPORTS[name](), fail_on_warn=fail_on_warn)
    errors = list(junit_schema.iter_errors(xml))
    assert not errors, f"{name}: {errors[0]}"


def test_the_strict_schema_rejects_what_we_used_to_write() -> None:
    """The validator is really strict: the attributes on <testsuites> and the per-case
    <system-out> of waypoint-doctor 0.1.0 are refused."""
    strict = xmlschema.XMLSchema(str(JUNIT_SCHEMAS["ant-strict"]))
    good = _render(render_junit, demo_report())
    assert strict.is_valid(good)
    assert not strict.is_valid(good.replace("<testsuites>", '<testsuites tests="1">', 1))
    assert not strict.is_valid(good.replace("</testcase>", "<system-out>x</system-out></testcase>", 1))


def test_junit_counts_add_up() -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(_render(render_junit, demo_fleet(gate=GATE)))
    for i, suite in enumerate(root.findall("testsuite")):
        cases = suite.findall("testcase")
        assert suite.get("id") == str(i) and int(suite.get("tests")) == len(cases)
        for tag, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            assert int(suite.get(attr)) == sum(1 for c in cases if c.find(tag) is not None), attr


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_sarif_validates(name: str) -> None:
    doc = json.loads(_render(render_sarif, REPORTS[name]()))
    jsonschema.validate(doc, SARIF, cls=jsonschema.Draft4Validator)


def test_sarif_schema_is_enforced() -> None:
    doc = json.loads(_render(render_sarif, demo_report(gate=GATE)))
    doc["runs"][0]["results"][0]["suppressions"] = [{"kind": "byFlag"}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SARIF, cls=jsonschema.Draft4Validator)
