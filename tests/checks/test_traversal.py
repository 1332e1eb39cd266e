"""WD310 decides from the policies the destination ztunnel enforces."""

from __future__ import annotations

from pathlib import Path

from waypoint_doctor.checks.spec import CheckOptions, Target
from waypoint_doctor.checks.traversal import waypoint_traversal_required
from waypoint_doctor.collect.snapshot_dir import load_snapshot
from waypoint_doctor.engine import run_checks

from scenariolib import HEALTHY, Cluster
from scenarios.wd3 import auto_allow_waypoint, require_waypoint

TARGET = Target("kagenti-system", "mlflow")


def result(tmp_path: Path, mutate=None):
    c = Cluster(HEALTHY)
    if mutate:
        mutate(c)
    view = load_snapshot(c.write(tmp_path / "s"))
    (res,) = run_checks(view, TARGET, [waypoint_traversal_required], CheckOptions())
    return res


def test_open_pods_are_reported_with_the_require_waypoint_policy(tmp_path: Path) -> None:
    res = result(tmp_path)
    assert res.status.value == "info"
    assert "plaintext clients" in res.message
    assert "cluster.local/ns/kagenti-system/sa/mlflow-waypoint" in res.remediation
    assert "app: mlflow" in res.remediation


def test_require_waypoint_policy_passes(tmp_path: Path) -> None:
    assert result(tmp_path, require_waypoint).status.value == "pass"


def test_auto_allow_with_allow_nothing_passes(tmp_path: Path) -> None:
    assert result(tmp_path, auto_allow_waypoint).status.value == "pass"


def test_unbound_service_skips(tmp_path: Path) -> None:
    res = result(
        tmp_path, lambda c: c.unlabel("Service", "kagenti-system", "mlflow", "istio.io/use-waypoint")
    )
    assert res.status.value == "skip" and "WD302" in res.message
