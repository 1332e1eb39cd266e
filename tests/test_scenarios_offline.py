"""Each scenario's report, read from its snapshot, fails exactly the checks its defect breaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from waypoint_doctor.checks.spec import CheckOptions, Target
from waypoint_doctor.collect.snapshot_dir import load_snapshot
from waypoint_doctor.engine import check_service

from scenariolib import Scenario
from scenarios import all_scenarios

SCENARIOS = all_scenarios()


def statuses_of(report) -> dict[str, str]:
    return {c.id: c.status.value for c in report.checks}


def assert_expected(scenario: Scenario, statuses: dict[str, str]) -> None:
    failing = {cid for cid, st in statuses.items() if st == "fail"}
    errors = {cid for cid, st in statuses.items() if st == "error"}
    assert not errors, f"checks crashed: {errors}"
    assert failing == set(scenario.fails), f"{scenario.name}: {scenario.doc}"
    if scenario.warns is not None:
        assert {cid for cid, st in statuses.items() if st == "warn"} == set(scenario.warns), scenario.name
    for cid in scenario.skips:
        assert statuses.get(cid) == "skip", f"{scenario.name}: {cid} should skip, got {statuses.get(cid)}"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_offline(scenario: Scenario, tmp_path: Path) -> None:
    snap = scenario.build(tmp_path / scenario.name)
    view = load_snapshot(snap)
    ns, name = scenario.target
    report = check_service(view, Target(namespace=ns, name=name), CheckOptions())
    assert_expected(scenario, statuses_of(report))
