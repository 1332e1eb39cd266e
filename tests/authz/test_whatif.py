"""what-if core on the healthy MLflow snapshot and scenario variants (spec/interface.md what-if)."""

from __future__ import annotations

from pathlib import Path

import pytest

from waypoint_doctor.checks.spec import Target
from waypoint_doctor.collect.snapshot_dir import load_snapshot
from waypoint_doctor.options import UsageError
from waypoint_doctor.whatif import WhatIfRequest, what_if

from scenariolib import HEALTHY, Cluster

TARGET = Target("kagenti-system", "mlflow")
OTEL = "cluster.local/ns/kagenti-system/sa/otel-collector"


@pytest.fixture(scope="module")
def healthy():
    return load_snapshot(str(HEALTHY))


@pytest.mark.parametrize(
    ("source", "method", "path", "verdict", "exit_code"),
    [
        ("sa/otel-collector", "POST", "/v1/traces", "ALLOW", 0),
        ("pod/otel-collector-6b8f9d7c5-m4n2p", "GET", "/v1/traces", "DENY", 1),
        ("spiffe://cluster.local/ns/kagenti-system/sa/kagenti-ui", "GET", "/api/2.0/experiments", "ALLOW", 0),
        ("sa/default/curl", "GET", "/", "DENY", 1),
    ],
)
def test_what_if_verdicts(healthy, source, method, path, verdict, exit_code):
    result = what_if(healthy, TARGET, WhatIfRequest(source, method, path))
    data = result.to_dict()
    assert data["schema_version"] == "1" and data["verdict"] == verdict and result.exit_code == exit_code
    assert data["target"] == {"kind": "Service", "namespace": "kagenti-system", "name": "mlflow"}
    assert data["request"]["port"] == 5000 and data["request"]["method"] == method
    assert [h["hop"] for h in data["hops"]] == ["client->waypoint", "waypoint->workload"]
    assert data["hops"][1]["identity_seen"] == "cluster.local/ns/kagenti-system/sa/mlflow-waypoint"


def test_nearest_miss_in_json(healthy):
    data = what_if(healthy, TARGET, WhatIfRequest(OTEL, "GET", "/v1/traces")).to_dict()
    assert data["hops"][0]["nearest_miss"] == {
        "policy": "kagenti-system/mlflow-api-access",
        "rule": 0,
        "attribute": "methods",
        "wanted": ["POST"],
        "got": "GET",
    }


def test_header_condition_not_given_is_unknown(tmp_path: Path):
    cluster = Cluster(HEALTHY)
    policy = cluster.get("AuthorizationPolicy", "kagenti-system", "mlflow-api-access")
    policy["spec"]["rules"][0]["when"] = [{"key": "request.headers[x-tenant]", "values": ["a"]}]
    view = load_snapshot(str(cluster.write(tmp_path / "snap")))
    result = what_if(view, TARGET, WhatIfRequest(OTEL, "POST", "/v1/traces"))
    assert result.verdict.value == "UNKNOWN" and result.exit_code == 4
    given = what_if(view, TARGET, WhatIfRequest(OTEL, "POST", "/v1/traces", headers=(("x-tenant", "a"),)))
    assert given.exit_code == 0


def test_allow_nothing_denies_on_the_second_hop(tmp_path: Path):
    cluster = Cluster(HEALTHY)
    cluster.add(
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "allow-nothing", "namespace": "kagenti-system"},
            "spec": {},
        }
    )
    view = load_snapshot(str(cluster.write(tmp_path / "snap")))
    data = what_if(view, TARGET, WhatIfRequest("sa/otel-collector", "POST", "/v1/traces")).to_dict()
    assert data["verdict"] == "DENY"
    assert data["hops"][0]["verdict"] == "ALLOW" and data["hops"][1]["verdict"] == "DENY"
    assert "waypoint->workload" in data["explanation"]


@pytest.mark.parametrize("source", ["pod/nope", "not-a-principal", "cluster.local/ns/x"])
def test_bad_from_is_a_usage_error(healthy, source):
    with pytest.raises(UsageError):
        what_if(healthy, TARGET, WhatIfRequest(source))


def test_unknown_service_is_a_usage_error(healthy):
    with pytest.raises(UsageError, match="mlfow"):
        what_if(healthy, Target("kagenti-system", "mlfow"), WhatIfRequest(OTEL))
