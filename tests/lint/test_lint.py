"""`waypoint-doctor lint`: the how-to passes, each broken variant is reported at the right place.

The broken manifests in examples/manifests mark the lines where a finding is expected with a
trailing `# expect: WDnnn [WDnnn…]` comment; the test compares the fail/warn findings with those
marks exactly (check ID, file and line), so the examples and the tests cannot drift apart.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from waypoint_doctor.authz.model import parse_policy
from waypoint_doctor.lint.rules import _PROBLEM_CHECKS, LINT_CHECKS
from waypoint_doctor.lint.run import lint_manifests
from waypoint_doctor.lint.source import ManifestError, parse_text

from clihelpers import REPO, run_cli

MANIFESTS = REPO / "examples" / "manifests"
HOWTO = MANIFESTS / "howto-complete.yaml"
BROKEN = sorted(MANIFESTS.glob("broken-*.yaml"))
_EXPECT = re.compile(r"#\s*expect:\s*((?:WD\d{3}\s*)+)")


def expected_marks(path: Path) -> set[tuple[str, int]]:
    marks = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        m = _EXPECT.search(line)
        if m:
            marks |= {(check_id, number) for check_id in m.group(1).split()}
    return marks


def reported(report) -> set[tuple[str, int]]:
    return {
        (c.id, c.evidence[0]["line"])
        for c in report.checks
        if c.status.value in ("fail", "warn", "error") and c.evidence
    }


def test_howto_complete_example_passes() -> None:
    report = lint_manifests((str(HOWTO),))
    statuses = {c.id: c.status.value for c in report.checks}
    assert not [c for c in report.checks if c.status.value in ("fail", "warn", "error")], report.checks
    # every lint check had something to judge in the how-to, and passed
    assert statuses == dict.fromkeys(LINT_CHECKS, "pass")


def test_howto_complete_example_exits_zero_through_the_cli() -> None:
    res = run_cli("lint", "-f", str(HOWTO))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{len(LINT_CHECKS)} pass" in res.stdout


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_variant_reports_the_right_check_file_and_line(path: Path) -> None:
    marks = expected_marks(path)
    assert marks, f"{path.name} has no `# expect:` marks"
    report = lint_manifests((str(path),))
    assert reported(report) == marks
    for c in report.checks:
        if c.evidence:
            assert c.evidence[0]["file"] == str(path)
            assert c.id not in c.message  # the ID is a field, never in the text


def test_every_broken_variant_fails_the_cli() -> None:
    for path in BROKEN:
        res = run_cli("lint", "-f", str(path), "-o", "json")
        assert res.returncode == 1, path.name
        data = json.loads(res.stdout)
        assert data["kind"] == "lint" and data["summary"]["fail"] >= 1


def test_a_directory_is_read_recursively(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "p.yml").write_text((MANIFESTS / "broken-spiffe-principal.yaml").read_text())
    (tmp_path / "notes.txt").write_text("not yaml: [")
    report = lint_manifests((str(tmp_path),))
    assert {c.id for c in report.checks if c.status.value == "fail"} == {"WD405"}
    assert report.files == (str(nested / "p.yml"),)


def test_invalid_yaml_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n   labels: {a: b}\n")
    with pytest.raises(ManifestError, match=r"bad\.yaml:5:\d+: invalid YAML"):
        lint_manifests((str(bad),))
    res = run_cli("lint", "-f", str(bad))
    assert res.returncode == 2
    assert f"{bad}:5:" in res.stderr and "Traceback" not in res.stderr


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    res = run_cli("lint", "-f", str(tmp_path / "nope.yaml"))
    assert res.returncode == 2
    assert "no such file" in res.stderr


def test_unknown_documents_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(
        """
apiVersion: apps/v1
kind: Deployment
metadata: {name: mlflow, namespace: kagenti-system}
spec: {replicas: 1}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec: {selector: {matchLabels: {app: x}}, rules: [{to: [{operation: {methods: [get]}}]}]}
---
# an Istio (not Gateway API) Gateway: not a waypoint, not judged
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress}
spec: {servers: []}
---
just a string
---
"""
    )
    report = lint_manifests((str(path),))
    assert report.objects == {}
    assert report.ignored == 3
    assert {c.status.value for c in report.checks} == {"skip"}


def test_list_items_and_stdin(tmp_path: Path) -> None:
    text = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                yaml.safe_load((MANIFESTS / "broken-spiffe-principal.yaml").read_text()),
            ],
        },
        sort_keys=False,
    )
    report = lint_manifests(("-",), stdin_text=text)
    failing = [c for c in report.checks if c.status.value == "fail"]
    assert [c.id for c in failing] == ["WD405"]
    ev = failing[0].evidence[0]
    assert ev["file"] == "<stdin>"
    line = text.splitlines()[ev["line"] - 1]
    assert "spiffe://cluster.local/ns/kagenti-system/sa/kagenti-ui" in line


def test_default_namespace_from_the_command_line(tmp_path: Path) -> None:
    # Objects without metadata.namespace land in -n: here the policy and the Service agree.
    docs = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}},
        },
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "p"},
            "spec": {"targetRefs": [{"kind": "Service", "group": "", "name": "web"}]},
        },
    ]
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    report = lint_manifests((str(path),), namespace="shop")
    statuses = {c.id: c.status.value for c in report.checks if not c.evidence}
    assert "WD403" in statuses and statuses["WD403"] == "pass"
    # the unlabelled Service: the targetRefs policy is enforced nowhere (namespace not in files: warn)
    warn = [c for c in report.checks if c.id == "WD302"]
    assert [c.status.value for c in warn] == ["warn"]


def test_fail_on_warn(tmp_path: Path) -> None:
    path = tmp_path / "warn.yaml"
    path.write_text(
        """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: ns}
spec:
  targetRefs: [{kind: Service, group: "", name: web}]
  rules:
  - to: [{operation: {methods: [FETCH]}}]
"""
    )
    assert run_cli("lint", "-f", str(path)).returncode == 0
    assert run_cli("lint", "-f", str(path), "--fail-on", "warn").returncode == 1


def test_sarif_is_structurally_valid() -> None:
    res = run_cli("lint", "-f", str(MANIFESTS / "broken-operations.yaml"), "-o", "sarif")
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    run = doc["runs"][0]
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert run["results"], "no results"
    for result in run["results"]:
        assert result["ruleId"] in rule_ids
        assert result["level"] in ("error", "warning", "note")
        assert result["message"]["text"]
        loc = result["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"].endswith("broken-operations.yaml")
        assert loc["region"]["startLine"] >= 1
    lines = {r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in run["results"]}
    assert {line for _, line in expected_marks(MANIFESTS / "broken-operations.yaml")} <= lines


def test_junit_parses_as_xml() -> None:
    res = run_cli("lint", "-f", str(MANIFESTS), "-o", "junit")
    assert res.returncode == 1
    root = ET.fromstring(res.stdout)
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name", "").startswith("lint")
    failures = root.findall(".//failure")
    assert failures and int(suite.get("failures", "0")) == len(failures)
    assert any("broken-spiffe-principal.yaml" in (f.text or "") for f in failures)


@pytest.mark.parametrize("fmt", ["table", "markdown", "yaml"])
def test_other_formats_render(fmt: str) -> None:
    res = run_cli("lint", "-f", str(MANIFESTS / "broken-selector-policy.yaml"), "-o", fmt)
    assert res.returncode == 1
    assert "WD401" in res.stdout and "broken-selector-policy.yaml" in res.stdout


def test_line_resolution_follows_keys_indexes_and_dotted_keys() -> None:
    text = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: p
  annotations:
    istio.io/dry-run: "maybe"
spec:
  rules:
  - from:
    - source:
        principals:
        - a
        - b
"""
    (doc,) = parse_text(text, "t.yaml")
    assert doc.line_of("spec.rules[0].from[0].source.principals[1]") == 13
    assert doc.line_of("metadata.annotations.istio.io/dry-run") == 6
    assert doc.line_of("spec.rules[0].to") == 9  # absent: the nearest existing ancestor
    assert doc.line_of("") == 1


def test_every_engine_problem_code_maps_to_a_lint_check() -> None:
    assert {check_id for check_id, _ in _PROBLEM_CHECKS.values()} <= set(LINT_CHECKS)
    # a policy full of problems: every code the engine reports lands on a lint check
    policy = parse_policy(
        yaml.safe_load(
            """
apiVersion: security.istio.io/v1beta2
kind: AuthorizationPolicy
metadata: {name: p, namespace: ns, annotations: {istio.io/dry-run: maybe}}
spec:
  selector: {matchLabels: {"": x}}
  targetRefs: [{kind: Pod, name: "", namespace: other}]
  action: DENY
  provider: {name: x}
  bogus: 1
  rules:
  - from: [{source: {principals: ["spiffe://a/ns/b/sa/c", "x"], serviceAccounts: ["a/b/c"], ipBlocks: [nope]}}]
    to: [{operation: {methods: [get], paths: ["v1", "/a/{*}.txt"], ports: ["x"]}}]
    when: [{key: nope, values: [a]}]
  - from: []
  - null
"""
        )
    )
    from waypoint_doctor.lint.rules import _problem_check

    for problem in policy.problems:
        check_id, _status = _problem_check(problem)
        assert check_id in LINT_CHECKS, problem


def test_the_waypoint_hop_fix_resolves_wd409(tmp_path: Path) -> None:
    broken = MANIFESTS / "broken-waypoint-hop.yaml"
    report = lint_manifests((str(broken),))
    (finding,) = [c for c in report.checks if c.id == "WD409" and c.status.value == "fail"]
    assert "cluster.local/ns/kagenti-system/sa/mlflow-waypoint" in finding.message
    fix = finding.remediation.split("\n", 1)[1]  # the policy after the one-line explanation
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(broken.read_text() + "---\n" + fix + "\n")
    statuses = {c.id: c.status.value for c in lint_manifests((str(fixed),)).checks}
    assert statuses["WD409"] == "pass"


def test_wd409_follows_the_gateway_service_account_override(tmp_path: Path) -> None:
    text = (MANIFESTS / "broken-waypoint-hop.yaml").read_text()
    text = text.replace(
        "  labels:\n    istio.io/waypoint-for: service\n",
        "  labels:\n    istio.io/waypoint-for: service\n  annotations:\n    gateway.istio.io/service-account: wp-sa\n",
        1,
    )
    text = text.replace(
        'principals: ["cluster.local/ns/kagenti-system/sa/otel-collector"]',
        'principals: ["cluster.local/ns/kagenti-system/sa/otel-collector", "cluster.local/ns/kagenti-system/sa/wp-sa"]',
    )
    path = tmp_path / "override.yaml"
    path.write_text(text)
    statuses = {c.id: c.status.value for c in lint_manifests((str(path),)).checks}
    assert statuses["WD409"] == "pass"


def test_json_manifests_with_tab_indentation(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(
        '{\n\t"apiVersion": "security.istio.io/v1",\n\t"kind": "AuthorizationPolicy",\n'
        '\t"metadata": {"name": "p", "namespace": "ns"},\n\t"spec": {\n'
        '\t\t"targetRefs": [{"kind": "Service", "group": "", "name": "web"}],\n'
        '\t\t"rules": [{"to": [{"operation": {"methods": ["get"]}}]}]\n\t}\n}\n'
    )
    report = lint_manifests((str(path),))
    assert [(c.id, c.evidence[0]["line"]) for c in report.checks if c.status.value == "fail"] == [
        ("WD407", 7)
    ]
