"""Acceptance: the MLflow example of the kagenti skill, in kagenti-system behind mlflow-waypoint."""

from __future__ import annotations

from tests.authz.policies import (
    ALLOW_NOTHING,
    MLFLOW_API_ACCESS,
    NS,
    OTEL,
    STRANGER,
    TD,
    UI,
    WAYPOINT_IDENTITY,
)

from waypoint_doctor.authz import (
    Request,
    ServiceTarget,
    Verdict,
    WaypointRef,
    evaluate_hops,
    parse_policies,
)

TARGET = ServiceTarget(namespace=NS, name="mlflow", waypoint=WaypointRef("mlflow-waypoint", NS))


def ask(objects, principal, method, path):
    return evaluate_hops(
        parse_policies(objects), Request(principal, method, path, port=5000), TARGET, trust_domain=TD
    )


def test_otel_collector_may_post_traces():
    result = ask([MLFLOW_API_ACCESS], OTEL, "POST", "/v1/traces")
    assert result.verdict is Verdict.ALLOW
    first = result.hop("client->waypoint")
    assert first is not None and first.identity_seen == OTEL
    assert first.decided_by is not None
    assert (first.decided_by.policy, first.decided_by.rule) == (f"{NS}/mlflow-api-access", 0)
    assert first.decision.rule_id == "ns[kagenti-system]-policy[mlflow-api-access]-rule[0]"
    second = result.hop("waypoint->workload")
    assert second is not None and second.identity_seen == WAYPOINT_IDENTITY
    assert second.verdict is Verdict.ALLOW and second.decided_by is None  # no L4 policy: default allow


def test_otel_collector_get_is_denied_and_the_nearest_miss_names_methods():
    result = ask([MLFLOW_API_ACCESS], OTEL, "GET", "/v1/traces")
    assert result.verdict is Verdict.DENY
    first = result.hop("client->waypoint")
    assert first is not None and first.verdict is Verdict.DENY
    assert first.decided_by is None  # default deny: ALLOW policies exist and none matched
    miss = first.nearest_miss
    assert miss is not None
    assert miss.to_dict() == {
        "policy": f"{NS}/mlflow-api-access",
        "rule": 0,
        "attribute": "methods",
        "wanted": ["POST"],
        "got": "GET",
    }
    assert "matched the principal and path" in miss.explanation
    assert "methods" in result.to_dict()["hops"][0]["nearest_miss"]["attribute"]


def test_trailing_slash_is_a_near_miss_on_paths():
    result = ask([MLFLOW_API_ACCESS], OTEL, "POST", "/v1/traces/")
    miss = result.hops[0].nearest_miss
    assert miss is not None and (miss.attribute, miss.got, miss.wanted) == (
        "paths",
        "/v1/traces/",
        ("/v1/traces",),
    )
    assert "path `/v1/traces/` ≠ `/v1/traces`" in miss.explanation


def test_ui_may_read_experiments():
    result = ask([MLFLOW_API_ACCESS], UI, "GET", "/api/2.0/experiments")
    assert result.verdict is Verdict.ALLOW
    assert result.hops[0].decided_by is not None and result.hops[0].decided_by.rule == 1


def test_unknown_principal_is_denied_by_default():
    result = ask([MLFLOW_API_ACCESS], STRANGER, "GET", "/api/2.0/experiments")
    assert result.verdict is Verdict.DENY
    first = result.hops[0]
    assert first.decided_by is None
    assert first.nearest_miss is not None and first.nearest_miss.attribute == "principals"
    assert "none matched" in first.decision.reason
    assert result.hops[1].reached is False


def test_namespace_allow_nothing_denies_every_request_at_the_waypoint_to_workload_hop():
    for principal, method, path in ((OTEL, "POST", "/v1/traces"), (UI, "GET", "/api/2.0/experiments")):
        result = ask([MLFLOW_API_ACCESS, ALLOW_NOTHING], principal, method, path)
        assert result.verdict is Verdict.DENY
        first, second = result.hops
        assert first.verdict is Verdict.ALLOW
        assert second.hop == "waypoint->workload" and second.enforced_by.value == "ztunnel"
        assert second.identity_seen == WAYPOINT_IDENTITY
        assert second.verdict is Verdict.DENY and second.reached
        assert "allow-nothing" in second.decision.reason
        assert "waypoint->workload" in result.explanation
        assert WAYPOINT_IDENTITY in result.explanation


def test_what_if_dict_shape_matches_the_interface():
    data = ask([MLFLOW_API_ACCESS], OTEL, "POST", "/v1/traces").to_dict()
    assert data["verdict"] == "ALLOW"
    assert isinstance(data["explanation"], str) and data["explanation"]
    for hop in data["hops"]:
        assert {"hop", "enforced_by", "identity_seen", "verdict", "decided_by", "nearest_miss"} <= hop.keys()
    assert data["hops"][0]["decided_by"] == {
        "policy": f"{NS}/mlflow-api-access",
        "action": "ALLOW",
        "rule": 0,
    }
