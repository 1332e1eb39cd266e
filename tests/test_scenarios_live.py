"""The same scenarios, live: the real CLI and `kubernetes` client against the fake API server.

Each scenario must fail exactly the checks its defect breaks, as offline; the request log must
show only reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from test_scenarios_offline import assert_expected

from clihelpers import run_cli
from scenariolib import Scenario
from scenarios import all_scenarios

SCENARIOS = [s for s in all_scenarios() if s.live]
REPORT_SCHEMA = json.loads(
    (Path(__file__).resolve().parent.parent / "src/waypoint_doctor/schema/report.schema.json").read_text()
)


def server_overrides(snapshot_dir: Path) -> dict[str, Any]:
    """What snapshot.yaml says could not be read becomes the fake server's RBAC."""
    meta = yaml.safe_load((snapshot_dir / "snapshot.yaml").read_text()) or {}
    forbid = []
    for entry in meta.get("unreadable") or []:
        if entry.get("reason") == "Forbidden":
            rule = {
                k: entry[k] for k in ("verb", "resource", "group", "subresource", "namespace") if entry.get(k)
            }
            forbid.append(rule)
    return {"forbid": forbid} if forbid else {}


def run_live(server: Any, scenario: Scenario, tmp_path: Path, *extra: str) -> tuple[int, dict, str]:
    ns, name = scenario.target
    res = run_cli(
        "check",
        name,
        "-n",
        ns,
        "--kubeconfig",
        str(server.kubeconfig_path),
        "-o",
        "json",
        *extra,
        home=tmp_path,
    )
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode in (0, 1), res.stderr
    return res.returncode, json.loads(res.stdout), res.stderr


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_live(scenario: Scenario, tmp_path: Path, fake_cluster: Any) -> None:
    snap = scenario.build(tmp_path / "scenario")
    server = fake_cluster(snap, **server_overrides(snap))
    code, report, _ = run_live(server, scenario, tmp_path)
    jsonschema.validate(report, REPORT_SCHEMA)
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert_expected(scenario, statuses)
    assert code == (1 if scenario.fails else 0)
    assert report["source"]["kind"] == "live"
    mutations = [r for r in server.requests if r.is_mutation]
    assert not mutations, f"the tool must be read-only, saw {mutations}"
    assert all(r.has_bearer_token for r in server.requests if r.path != "/version")
