"""Parsing: shapes Istio gives meaning to, and malformed input turned into problems (ref 5.1, 5.3)."""

from __future__ import annotations

import pytest
from tests.authz.policies import MLFLOW_API_ACCESS, policy, service_target_ref

from waypoint_doctor.authz import Action, Severity, parse_policy


def codes(obj) -> dict[str, str]:
    return {p.code: p.location for p in parse_policy(obj).problems}


def test_mlflow_policy_parses_cleanly():
    p = parse_policy(MLFLOW_API_ACCESS)
    assert p.problems == ()
    assert p.key == "kagenti-system/mlflow-api-access"
    assert p.action is Action.ALLOW and p.target_ref_field == "targetRefs"
    assert p.target_refs[0].canonical_group == "core"
    assert p.rules[0].sources[0].principals == ("cluster.local/ns/kagenti-system/sa/otel-collector",)
    assert p.rules[1].operations[0].paths == ("/*",)


def test_v1beta1_and_defaults():
    p = parse_policy(policy("x", {"rules": [{}]}, api_version="security.istio.io/v1beta1"))
    assert p.action is Action.ALLOW and p.is_namespace_wide and p.rules[0].is_match_all  # ref 5.3
    assert p.problems == ()


def test_spec_empty_is_allow_nothing():  # ref 5.3
    p = parse_policy(policy("x", {}))
    assert p.is_allow_nothing and not p.rules_present


def test_singular_target_ref_is_honoured():  # ref 5.1
    p = parse_policy(
        policy("x", {"targetRef": {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "w"}})
    )
    assert p.target_ref_field == "targetRef" and p.target_refs[0].kind == "Gateway"


def test_target_refs_win_over_target_ref():  # ref 5.1: model.GetTargetRefs
    p = parse_policy(
        policy("x", {"targetRefs": service_target_ref(), "targetRef": {"kind": "Gateway", "name": "w"}})
    )
    assert p.target_ref_field == "targetRefs"


@pytest.mark.parametrize(
    ("spec", "code", "location"),
    [
        ({"action": "DENY"}, "deny-without-rules", "spec.rules"),  # ref 5.3
        ({"rules": [{"from": []}]}, "empty-from", "spec.rules[0].from"),  # ref 5.3
        ({"rules": [{"to": [{"operation": {}}]}]}, "empty-operation", "spec.rules[0].to[0].operation"),
        ({"rules": [{"from": [{"source": {}}]}]}, "empty-source", "spec.rules[0].from[0].source"),
        ({"rules": [{"from": [{}]}]}, "missing-source", "spec.rules[0].from[0]"),
        (
            {"rules": [{"to": [{"operation": {"paths": ["/a", "/b", "/{**}/{*}"]}}]}]},
            "path-template-invalid",
            "spec.rules[0].to[0].operation.paths[2]",
        ),
        (
            {"rules": [{"to": [{"operation": {"methods": ["get"]}}]}]},
            "method-not-uppercase",
            "spec.rules[0].to[0].operation.methods[0]",
        ),
        (
            {"rules": [{"from": [{"source": {"principals": ["spiffe://cluster.local/ns/a/sa/b"]}}]}]},
            "principal-spiffe-prefix",
            "spec.rules[0].from[0].source.principals[0]",
        ),  # ref 5.3
        (
            {"rules": [{"from": [{"source": {"principals": ["ns/a/sa/b"]}}]}]},
            "principal-format",
            "spec.rules[0].from[0].source.principals[0]",
        ),
        (
            {"rules": [{"to": [{"operation": {"ports": ["http"]}}]}]},
            "invalid-port",
            "spec.rules[0].to[0].operation.ports[0]",
        ),
        (
            {"rules": [{"from": [{"source": {"ipBlocks": ["10.0.0.0/33"]}}]}]},
            "invalid-ip",
            "spec.rules[0].from[0].source.ipBlocks[0]",
        ),
        (
            {"rules": [{"from": [{"source": {"serviceAccounts": ["a"], "principals": ["x/ns/a/sa/b"]}}]}]},
            "service-accounts-with-principals",
            "spec.rules[0].from[0].source",
        ),
        (
            {"rules": [{"from": [{"source": {"serviceAccounts": ["a/b/c"]}}]}]},
            "service-account-format",
            "spec.rules[0].from[0].source.serviceAccounts[0]",
        ),
        (
            {"rules": [{"when": [{"key": "request.headers[x]"}]}]},
            "when-without-values",
            "spec.rules[0].when[0]",
        ),
        (
            {"rules": [{"when": [{"key": "destination.name", "values": ["x"]}]}]},
            "when-unknown-key",
            "spec.rules[0].when[0].key",
        ),
        (
            {"selector": {"matchLabels": {"a": "b"}}, "targetRefs": service_target_ref()},
            "selector-and-target-ref",
            "spec",
        ),  # ref 5.1
        (
            {"targetRefs": [{"kind": "Service", "group": "", "name": "m", "namespace": "x"}]},
            "target-ref-namespace-set",
            "spec.targetRefs[0].namespace",
        ),  # ref 5.1
        (
            {"targetRefs": [{"kind": "Service", "group": "apps", "name": "m"}]},
            "target-ref-kind-not-allowed",
            "spec.targetRefs[0]",
        ),
        ({"targetRefs": [{"kind": "Service", "group": ""}]}, "target-ref-missing-name", "spec.targetRefs[0]"),
        ({"action": "CUSTOM", "rules": [{}]}, "custom-without-provider", "spec.provider.name"),
        ({"action": "allow"}, "invalid-action", "spec.action"),
        (
            {"rules": [{"to": [{"operation": {"methods": "GET"}}]}]},
            "wrong-type",
            "spec.rules[0].to[0].operation.methods",
        ),
        ({"rules": [{"form": []}]}, "unknown-field", "spec.rules[0].form"),
        (
            {"action": "DENY", "rules": [{"to": [{"operation": {"methods": ["POST"]}}]}]},
            "deny-http-only",
            "spec.rules[0]",
        ),
    ],
)
def test_problem_codes_and_locations(spec, code, location):
    found = codes(policy("x", spec))
    assert code in found, found
    assert found[code] == location


def test_rule_with_unknown_when_key_is_skipped():  # ref 5.3: istiod skips rules it cannot build
    p = parse_policy(policy("x", {"rules": [{"when": [{"key": "foo", "values": ["1"]}]}]}))
    assert p.rules[0].skipped


def test_status_conditions_and_dry_run():
    p = parse_policy(
        policy(
            "x",
            {"rules": [{}]},
            annotations={"istio.io/dry-run": "true"},
            status={
                "conditions": [
                    {
                        "type": "ZtunnelAccepted",
                        "status": "True",
                        "reason": "Accepted",
                        "message": "attached to ztunnel",
                    }
                ]
            },
        )
    )
    assert p.dry_run
    condition = p.condition("ZtunnelAccepted")
    assert condition is not None and condition.reason == "Accepted"


@pytest.mark.parametrize(
    "obj", [None, 3, "x", [], {"spec": 5}, {"metadata": []}, {"spec": {"rules": {"a": 1}}}]
)
def test_garbage_never_raises(obj):
    p = parse_policy(obj)
    assert p.problems and all(x.severity in (Severity.ERROR, Severity.WARNING) for x in p.problems)
