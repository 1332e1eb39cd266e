"""End to end through the waypoint (ref 5.4) and the decision table (ref 5.3)."""

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
    policy,
)

from waypoint_doctor.authz import (
    Request,
    ServiceTarget,
    Verdict,
    WaypointRef,
    decision_table,
    evaluate_hops,
    parse_policies,
)

BOUND = ServiceTarget(
    NS, "mlflow", waypoint=WaypointRef("mlflow-waypoint", NS), workload_labels=((("app", "mlflow"),),)
)
UNBOUND = ServiceTarget(NS, "mlflow", workload_labels=((("app", "mlflow"),),))
CLIENTS_ONLY = policy(
    "mlflow-l4",
    {
        "selector": {"matchLabels": {"app": "mlflow"}},
        "rules": [{"from": [{"source": {"principals": [OTEL, UI]}}]}],
    },
)


def test_without_a_waypoint_there_is_one_ztunnel_hop_and_targetref_policies_do_nothing():  # ref 5.1
    result = evaluate_hops(parse_policies([MLFLOW_API_ACCESS]), Request(STRANGER, "DELETE", "/"), UNBOUND)
    assert [h.hop for h in result.hops] == ["client->workload"]
    assert result.verdict is Verdict.ALLOW
    assert "not bound to a waypoint" in result.explanation


def test_selector_allow_of_clients_denies_the_waypoint_hop():  # ref 5.4 (a)
    result = evaluate_hops(
        parse_policies([MLFLOW_API_ACCESS, CLIENTS_ONLY]), Request(OTEL, "POST", "/v1/traces"), BOUND
    )
    assert result.verdict is Verdict.DENY
    second = result.hop("waypoint->workload")
    assert second is not None and second.verdict is Verdict.DENY and second.identity_seen == WAYPOINT_IDENTITY
    assert second.nearest_miss is not None and second.nearest_miss.attribute == "principals"
    assert second.nearest_miss.got == WAYPOINT_IDENTITY


def test_the_same_policy_works_without_a_waypoint():  # ref 5.4: the client identity reaches ztunnel
    result = evaluate_hops(parse_policies([CLIENTS_ONLY]), Request(OTEL, "POST", "/v1/traces"), UNBOUND)
    assert result.verdict is Verdict.ALLOW


def test_auto_allow_waypoint_policy_lets_the_waypoint_through():  # ref 4: PILOT_AUTO_ALLOW_WAYPOINT_POLICY
    result = evaluate_hops(
        parse_policies([ALLOW_NOTHING]), Request(OTEL, "POST", "/v1/traces"), BOUND, auto_allow_waypoint=True
    )
    assert result.verdict is Verdict.ALLOW


def test_decision_table_for_mlflow():
    table = decision_table(
        parse_policies([MLFLOW_API_ACCESS]), BOUND, known_principals=[OTEL, UI], trust_domain=TD
    )
    assert table.cell(OTEL, "POST", "/v1/traces").verdict is Verdict.ALLOW
    assert table.cell(OTEL, "GET", "/v1/traces").verdict is Verdict.DENY
    assert table.cell(UI, "GET", "/probe").verdict is Verdict.ALLOW
    other = [p for p in table.probes if p.label == "other"]
    assert len(other) == 1
    unlisted = table.principals[-1]
    assert all(c.verdict is Verdict.DENY for c in table.cells if c.principal == unlisted)
    assert table.allow_nothing == () and table.dead_rules == ()


def test_decision_table_reports_shadows_allow_nothing_and_dead_rules():
    deny_posts = policy(
        "no-posts",
        {
            "targetRefs": [{"kind": "Service", "group": "", "name": "mlflow"}],
            "action": "DENY",
            "rules": [{"to": [{"operation": {"methods": ["POST"]}}]}],
        },
    )
    dead = policy(
        "dead",
        {
            "targetRefs": [{"kind": "Service", "group": "", "name": "mlflow"}],
            "rules": [{"from": [{"source": {"principals": ["spiffe://" + OTEL]}}]}],
        },
    )
    table = decision_table(
        parse_policies([MLFLOW_API_ACCESS, deny_posts, dead, ALLOW_NOTHING]),
        BOUND,
        known_principals=[OTEL],
        trust_domain=TD,
    )
    shadow = next(
        s for s in table.shadows if s.allow_policy.endswith("mlflow-api-access") and s.allow_rule == 0
    )
    assert shadow.deny_policy == f"{NS}/no-posts" and shadow.complete
    assert f"{NS}/allow-nothing" in table.allow_nothing
    assert f"{NS}/dead" in table.allow_nothing
    assert any(d.policy == f"{NS}/dead" and "spiffe://" in d.reason for d in table.dead_rules)
    # allow-nothing in the namespace: everything is denied on the waypoint->workload hop
    assert all(c.verdict is Verdict.DENY for c in table.cells)
