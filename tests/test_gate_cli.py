"""CI gates end to end through the real CLI: --fail-on, --select/--ignore, suppressions by flag,
config file and annotation (offline, live through the fake API server, and after a snapshot
round trip), and --output-file for every command that renders."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from clihelpers import REPO, run_cli
from scenariolib import Cluster

BROKEN = REPO / "examples" / "kagenti-broken"
SCHEMA = json.loads((REPO / "src/waypoint_doctor/schema/report.schema.json").read_text())
TARGET = ("check", "mlflow", "-n", "kagenti-system")


def _check(*extra: str, snapshot: Path = BROKEN, cwd: Path | None = None) -> tuple[int, dict[str, Any], str]:
    res = run_cli(*TARGET, "--snapshot", str(snapshot), "-o", "json", *extra, cwd=cwd)
    assert "Traceback" not in res.stderr
    assert res.returncode in (0, 1), res.stderr
    report = json.loads(res.stdout)
    jsonschema.validate(report, SCHEMA)
    return res.returncode, report, res.stderr


def _by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["checks"]}


def test_baseline_broken_demo_fails(tmp_path: Path) -> None:
    code, report, _ = _check("--no-config")
    assert code == 1
    assert not any("suppressed" in c for c in report["checks"])
    assert "suppressed" not in report["summary"] and "selection" not in report


def test_suppressing_every_failure_by_flag_passes_the_gate_but_lists_them() -> None:
    _, before, _ = _check()
    failing = sorted(c["id"] for c in before["checks"] if c["status"] in ("fail", "error"))
    assert failing, "the broken demo has failures"
    code, report, _ = _check("--suppress", "WD4", "--suppress", "WD5")
    assert code == 0
    checks = _by_id(report)
    for check_id in failing:
        assert checks[check_id]["status"] in ("fail", "error"), "status is kept"
        assert checks[check_id]["suppressed"]["by"] == "flag"
    assert report["summary"]["fail"] == 0
    assert report["summary"]["suppressed"] == sum(1 for c in report["checks"] if "suppressed" in c)
    assert report["score"] > before["score"] and not report["headline"].startswith("Fix first: WD4")


def test_suppression_naming_an_object_only_silences_findings_about_it() -> None:
    code, report, _ = _check("--suppress", "WD405=AuthorizationPolicy kagenti-system/mlflow-api-access")
    checks = _by_id(report)
    assert checks["WD405"]["suppressed"] == {
        "by": "flag",
        "rule": "WD405=AuthorizationPolicy kagenti-system/mlflow-api-access",
        "reason": None,
    }
    assert "suppressed" not in checks["WD401"]
    _, report, _ = _check("--suppress", "WD405=AuthorizationPolicy kagenti-system/other-*")
    assert "suppressed" not in _by_id(report)["WD405"]
    assert code == 1


def test_select_and_ignore_choose_the_checks_that_run() -> None:
    _, report, _ = _check("--select", "WD4", "--ignore", "WD41")
    ids = set(_by_id(report))
    assert ids and all(i.startswith("WD4") and not i.startswith("WD41") for i in ids)
    assert report["selection"]["select"] == ["WD4"] and "WD410" in report["selection"]["not_run"]
    assert set(report["selection"]["not_run"]) | ids >= {"WD101", "WD409", "WD505"}


def test_fail_on_levels() -> None:
    warn_only = ("--select", "WD410")  # the broken demo's WD410 warns
    assert _check(*warn_only)[0] == 0
    assert _check(*warn_only, "--fail-on", "warn")[0] == 1
    assert _check("--fail-on", "never")[0] == 0
    res = run_cli(*TARGET, "--snapshot", str(BROKEN), "--fail-on", "sometimes")
    assert res.returncode == 2 and "--fail-on must be one of fail, warn, never" in res.stderr


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--select", "WD9x", "--select: invalid check 'WD9x'"),
        ("--suppress", "WD409=a b c", "--suppress: 'WD409=a b c'"),
        ("--config", "/nonexistent/gate.yaml", "--config /nonexistent/gate.yaml: no such file"),
    ],
)
def test_bad_gate_flags_are_usage_errors(flag: str, value: str, message: str) -> None:
    res = run_cli(*TARGET, "--snapshot", str(BROKEN), flag, value)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_config_file_from_the_current_directory_upward_and_flags_win(tmp_path: Path) -> None:
    (tmp_path / ".waypoint-doctor.yaml").write_text(
        "fail-on: warn\n"
        "ignore: [WD5]\n"
        "suppress:\n"
        "  - check: WD40\n"
        "    object: Service kagenti-system/mlflow\n"
        "    reason: policies under review (OPS-7)\n"
    )
    sub = tmp_path / "deploy" / "k8s"
    sub.mkdir(parents=True)
    code, report, _ = _check(cwd=sub)
    checks = _by_id(report)
    assert not any(i.startswith("WD5") for i in checks)
    assert checks["WD409"]["suppressed"] == {
        "by": "config",
        "rule": "WD40=Service kagenti-system/mlflow",
        "reason": "policies under review (OPS-7)",
    }
    assert checks["WD410"]["status"] == "warn" and "suppressed" not in checks["WD410"]
    assert code == 1  # fail-on warn from the file: WD410 warns
    assert _check("--fail-on", "fail", cwd=sub)[0] == 0  # the flag wins
    assert _check("--no-config", cwd=sub)[0] == 1
    _, report, _ = _check("--ignore", "WD3", cwd=sub)  # --ignore replaces the file's
    assert any(i.startswith("WD5") for i in _by_id(report)) and "WD301" not in _by_id(report)
    (tmp_path / ".waypoint-doctor.yaml").write_text("fail_on: warn\n")
    res = run_cli(*TARGET, "--snapshot", str(BROKEN), cwd=sub)
    assert res.returncode == 2 and ".waypoint-doctor.yaml: unknown key 'fail_on'" in res.stderr


def _annotated(dest: Path) -> Path:
    cluster = Cluster(BROKEN)
    cluster.annotate(
        "AuthorizationPolicy",
        "kagenti-system",
        "mlflow-api-access",
        "waypoint-doctor.io/ignore",
        "WD405, WD50",
    )
    cluster.annotate(
        "AuthorizationPolicy",
        "kagenti-system",
        "mlflow-api-access",
        "waypoint-doctor.io/ignore-reason",
        "principals fixed in the next release",
    )
    return cluster.write(dest)


ANNOTATION_RULE = {
    "by": "annotation",
    "rule": "waypoint-doctor.io/ignore: WD405, WD50 on AuthorizationPolicy kagenti-system/mlflow-api-access",
    "reason": "principals fixed in the next release",
}


def test_annotation_on_the_object_suppresses_offline(tmp_path: Path) -> None:
    _, report, _ = _check(snapshot=_annotated(tmp_path / "snap"))
    checks = _by_id(report)
    assert checks["WD405"]["suppressed"] == ANNOTATION_RULE
    # WD504's nearest miss names the annotated policy, so WD50x findings about it are silenced too
    assert checks["WD504"]["suppressed"]["by"] == "annotation"
    assert "suppressed" not in checks["WD401"]


def test_annotation_survives_the_live_collector_and_a_snapshot(tmp_path: Path, fake_cluster: Any) -> None:
    server = fake_cluster(_annotated(tmp_path / "scenario"))
    live = run_cli(*TARGET, "--kubeconfig", str(server.kubeconfig_path), "-o", "json", home=tmp_path)
    assert live.returncode == 1, live.stderr
    assert _by_id(json.loads(live.stdout))["WD405"]["suppressed"] == ANNOTATION_RULE
    for extra in ((), ("--anonymize",)):
        dest = tmp_path / f"snap{len(extra)}.tar.gz"
        snap = run_cli(
            "snapshot",
            "mlflow",
            "-n",
            "kagenti-system",
            "--kubeconfig",
            str(server.kubeconfig_path),
            "-o",
            str(dest),
            *extra,
            home=tmp_path,
        )
        assert snap.returncode == 0, snap.stderr
        res = run_cli("check", "-A", "--snapshot", str(dest), "-o", "json", home=tmp_path)
        assert res.returncode in (0, 1), res.stderr
        fleet = json.loads(res.stdout)
        suppressed = [
            c["suppressed"]
            for s in fleet["services"]
            for c in s["checks"]
            if c["id"] == "WD405" and "suppressed" in c
        ]
        assert suppressed and suppressed[0]["by"] == "annotation", extra
        assert suppressed[0]["reason"] == ANNOTATION_RULE["reason"]


def test_junit_and_sarif_carry_the_suppression() -> None:
    rule = "WD405=AuthorizationPolicy kagenti-system/mlflow-api-access"
    res = run_cli(*TARGET, "--snapshot", str(BROKEN), "-o", "junit", "--suppress", rule)
    case = next(
        c for c in ET.fromstring(res.stdout).iter("testcase") if c.get("name", "").startswith("WD405")
    )
    skipped = case.find("skipped")
    assert skipped is not None and skipped.get("message") == f"suppressed by flag {rule}"
    assert skipped.text and skipped.text.startswith("fail: ")
    res = run_cli(*TARGET, "--snapshot", str(BROKEN), "-o", "sarif", "--suppress", rule)
    results = json.loads(res.stdout)["runs"][0]["results"]
    wd405 = next(r for r in results if r["ruleId"] == "WD405")
    assert wd405["suppressions"] == [
        {"kind": "external", "status": "accepted", "properties": {"by": "flag", "rule": rule}}
    ]
    assert all("suppressions" not in r for r in results if r["ruleId"] != "WD405")


def test_table_and_markdown_mark_suppressed_findings() -> None:
    rule = "WD405=AuthorizationPolicy kagenti-system/mlflow-api-access"
    table = run_cli(*TARGET, "--snapshot", str(BROKEN), "--suppress", rule, env={"COLUMNS": "200"}).stdout
    row = next(line for line in table.splitlines() if " WD405 " in line)
    assert f"(suppressed by flag {rule})" in row
    assert "FAIL WD405" not in table  # not in the detail of what needs action
    assert "1 suppressed" in table
    md = run_cli(*TARGET, "--snapshot", str(BROKEN), "--suppress", rule, "-o", "markdown").stdout
    assert "## WD405" not in md and "fail (suppressed) | WD405" in md


def test_output_file_for_check_lint_and_what_if(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    res = run_cli(*TARGET, "--snapshot", str(BROKEN), "-o", "json", "--output-file", str(out))
    assert res.returncode == 1 and res.stdout == ""
    jsonschema.validate(json.loads(out.read_text()), SCHEMA)
    table = tmp_path / "report.txt"
    res = run_cli(*TARGET, "--snapshot", str(BROKEN), "--output-file", str(table), env={"COLUMNS": "80"})
    assert res.returncode == 1 and "\x1b[" not in table.read_text() and "Grade" in table.read_text()
    lint = tmp_path / "lint.sarif"
    res = run_cli(
        "lint", "-f", str(REPO / "examples/manifests/broken-spiffe-principal.yaml"), "-o", "sarif",
        "--output-file", str(lint),
    )  # fmt: skip
    assert res.returncode == 1 and res.stdout == "" and json.loads(lint.read_text())["version"] == "2.1.0"
    whatif = tmp_path / "whatif.yaml"
    res = run_cli(
        "what-if", "mlflow", "-n", "kagenti-system", "--snapshot", str(BROKEN), "--from", "sa/kagenti-ui",
        "-o", "yaml", "--output-file", str(whatif),
    )  # fmt: skip
    assert res.returncode in (0, 1, 4) and res.stdout == "" and "verdict:" in whatif.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "lint.sarif",
        "report.json",
        "report.txt",
        "whatif.yaml",
    ]


def test_output_file_refusals_leave_nothing_behind(tmp_path: Path) -> None:
    res = run_cli(*TARGET, "--snapshot", str(BROKEN), "--output-file", str(tmp_path))
    assert res.returncode == 2 and "is a directory" in res.stderr
    res = run_cli(*TARGET, "--snapshot", str(BROKEN), "--output-file", str(tmp_path / "no" / "r.json"))
    assert res.returncode == 2 and "no directory" in res.stderr
    existing = tmp_path / "r.json"
    existing.write_text("previous\n")
    res = run_cli(*TARGET, "--snapshot", str(tmp_path / "missing"), "--output-file", str(existing))
    assert res.returncode == 2 and existing.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_lint_gate_and_annotation_in_the_manifest(tmp_path: Path) -> None:
    text = (REPO / "examples/manifests/broken-spiffe-principal.yaml").read_text()
    src = tmp_path / "p.yaml"
    src.write_text(text)
    res = run_cli("lint", "-f", str(src), "-o", "json", "--no-config")
    assert res.returncode == 1
    failing = {c["id"] for c in json.loads(res.stdout)["checks"] if c["status"] == "fail"}
    assert failing
    annotated = text.replace(
        "metadata:\n",
        "metadata:\n  annotations:\n    waypoint-doctor.io/ignore: " + ",".join(sorted(failing)) + "\n",
        1,
    )
    src.write_text(annotated)
    res = run_cli("lint", "-f", str(src), "-o", "json", "--no-config")
    report = json.loads(res.stdout)
    assert {c["id"] for c in report["checks"] if "suppressed" in c} == failing
    assert all(c["suppressed"]["by"] == "annotation" for c in report["checks"] if "suppressed" in c)
    assert res.returncode == 0
    src.write_text(text)
    res = run_cli(
        "lint", "-f", str(src), "-o", "json", "--no-config", "--suppress", "WD4", "--suppress", "WD3"
    )
    assert res.returncode == 0
    res = run_cli("lint", "-f", str(src), "-o", "json", "--no-config", "--select", "WD405")
    assert {c["id"] for c in json.loads(res.stdout)["checks"]} == {"WD405"}
