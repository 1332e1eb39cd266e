"""The demo clusters in examples/ diagnose as their expected.yaml says.

Each demo keeps an `expected.yaml` (the checks that must fail, and warn). The comparison is
exact for every check that is registered; an expected check that is not registered yet (its
family still being written) is reported as a skipped, pending expectation with the reason,
never silently passed.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import yaml

from waypoint_doctor.checks.registry import BY_ID
from waypoint_doctor.checks.spec import CheckOptions, Target
from waypoint_doctor.collect.snapshot_dir import load_snapshot
from waypoint_doctor.collect.snapshot_write import export_snapshot
from waypoint_doctor.engine import check_service

from clihelpers import REPO, run_cli

EXAMPLES = REPO / "examples"
DEMOS = sorted(p.parent.name for p in EXAMPLES.glob("*/expected.yaml"))
FAMILIES = {"1": "controlplane", "2": "enrollment", "3": "binding", "4": "policy", "5": "evidence"}


def expected(demo: str) -> dict:
    return yaml.safe_load((EXAMPLES / demo / "expected.yaml").read_text())


def target_of(demo: str) -> Target:
    t = expected(demo)["target"]
    return Target(namespace=t["namespace"], name=t["name"])


_REPORTS: dict[str, dict[str, str]] = {}


def statuses(demo: str) -> dict[str, str]:
    if demo not in _REPORTS:
        report = check_service(load_snapshot(EXAMPLES / demo), target_of(demo), CheckOptions())
        _REPORTS[demo] = {c.id: c.status.value for c in report.checks}
    return _REPORTS[demo]


def family_module(family: str) -> str:
    return f"waypoint_doctor/checks/{FAMILIES[family]}.py"


def family_is_empty(family: str) -> bool:
    module = importlib.import_module(f"waypoint_doctor.checks.{FAMILIES[family]}")
    return not getattr(module, "CHECKS", ())


def test_there_are_demos() -> None:
    assert {"kagenti-broken", "kagenti-selector-policy", "kagenti-spiffe-principal"} <= set(DEMOS)


@pytest.mark.parametrize(
    ("demo", "family"),
    [(d, f) for d in DEMOS for f in FAMILIES],
    ids=[f"{d}-WD{f}xx" for d in DEMOS for f in FAMILIES],
)
def test_demo_fails_exactly_the_expected_checks(demo: str, family: str) -> None:
    exp = expected(demo)
    fails = {i for i in exp.get("fail") or {} if i[2] == family}
    warns = {i for i in exp.get("warn") or {} if i[2] == family}
    if family_is_empty(family):
        pytest.skip(
            f"pending: {family_module(family)} still has CHECKS = (); "
            f"{demo} expects to fail {sorted(fails) or 'none'} and warn {sorted(warns) or 'none'} there"
        )
    got = statuses(demo)
    registered = {i for i in BY_ID if i[2] == family}
    in_family = {i: s for i, s in got.items() if i[2] == family}
    assert {i for i, s in in_family.items() if s == "fail"} == fails & registered, expected(demo)
    assert {i for i, s in in_family.items() if s == "warn"} == warns & registered
    assert not {i for i, s in in_family.items() if s == "error"}, "a check crashed"


EXPECTED_IDS = [(d, i) for d in DEMOS for section in ("fail", "warn") for i in expected(d).get(section) or {}]


@pytest.mark.parametrize(("demo", "check_id"), EXPECTED_IDS, ids=[f"{d}-{i}" for d, i in EXPECTED_IDS])
def test_each_expected_finding(demo: str, check_id: str) -> None:
    exp = expected(demo)
    want = "fail" if check_id in (exp.get("fail") or {}) else "warn"
    why = (exp.get(want) or {})[check_id]
    if check_id not in BY_ID:
        pytest.skip(
            f"pending: {check_id} is not registered yet ({family_module(check_id[2])}); expected {want}: {why}"
        )
    assert statuses(demo).get(check_id) == want, f"{check_id}: {why}"


def test_readme_first_command_shows_the_broken_demo() -> None:
    fails = set(expected("kagenti-broken")["fail"]) & set(BY_ID)
    if not fails:
        pytest.skip("pending: none of the checks kagenti-broken fails is registered yet")
    res = run_cli("check", "mlflow", "-n", "kagenti-system", "--snapshot", "examples/kagenti-broken")
    assert res.returncode == 1, res.stderr
    for check_id in fails:
        assert check_id in res.stdout
    res = run_cli(
        "check", "mlflow", "-n", "kagenti-system", "--snapshot", "examples/kagenti-broken", "-o", "json"
    )
    assert {c["id"] for c in json.loads(res.stdout)["checks"] if c["status"] == "fail"} == fails


@pytest.mark.parametrize("demo", DEMOS)
def test_demo_diagnoses_the_same_once_anonymised(demo: str, tmp_path: Path) -> None:
    view = load_snapshot(EXAMPLES / demo)
    target = target_of(demo)
    written = export_snapshot(view, tmp_path / "a.tar.gz", anonymize=True, target=target)
    assert written.target is not None and written.target != target
    masked = check_service(load_snapshot(written.path), written.target, CheckOptions())
    assert {c.id: c.status.value for c in masked.checks} == statuses(demo)


def test_readme_lists_every_demo_and_manifest() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for demo in [*DEMOS, "kagenti-healthy"]:
        assert f"`{demo}`" in readme or f"{demo}/" in readme, demo
    for manifest in sorted((EXAMPLES / "manifests").glob("*.yaml")):
        assert manifest.name in readme, manifest.name
    assert "waypoint-doctor check mlflow -n kagenti-system --snapshot examples/kagenti-broken" in readme


@pytest.mark.parametrize("demo", DEMOS)
def test_demo_logs_fall_in_the_default_window(demo: str) -> None:
    # The demos' evidence must count with the default --since 15m, counted back from takenAt.
    from datetime import datetime, timedelta

    meta = yaml.safe_load((EXAMPLES / demo / "snapshot.yaml").read_text())
    taken = datetime.fromisoformat(meta["takenAt"].replace("Z", "+00:00"))
    for log in (EXAMPLES / demo / "logs").rglob("*.log"):
        stamps = [line.split("\t")[0].lstrip("[").split("]")[0] for line in log.read_text().splitlines()]
        times = [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps if s.startswith("2026-")]
        assert times and max(times) <= taken, log
        assert sum(taken - timedelta(minutes=15) <= t for t in times) >= 5, log
