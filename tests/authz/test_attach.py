"""Where each policy is enforced for a Service (ref 5.1, 5.2, 5.6)."""

from __future__ import annotations

import pytest
from tests.authz.policies import NS, policy

from waypoint_doctor.authz import Enforcer, RuleFate, ServiceTarget, WaypointRef, attach_policy, parse_policy
from waypoint_doctor.authz.attach import Scope, convert_for_ztunnel

BOUND = ServiceTarget(
    namespace=NS,
    name="mlflow",
    waypoint=WaypointRef("mlflow-waypoint", NS),
    workload_labels=((("app", "mlflow"),),),
)
UNBOUND = ServiceTarget(namespace=NS, name="mlflow", workload_labels=((("app", "mlflow"),),))
GW = "gateway.networking.k8s.io"


def attach(spec, *, namespace=NS, target=BOUND):
    return attach_policy(parse_policy(policy("p", spec, namespace=namespace)), target)


@pytest.mark.parametrize(
    ("spec", "namespace", "target", "enforced_by", "scope"),
    [
        # ref 5.1: targetRefs to the Service, same namespace -> waypoint
        (
            {"targetRefs": [{"kind": "Service", "group": "", "name": "mlflow"}]},
            NS,
            BOUND,
            Enforcer.WAYPOINT,
            Scope.TARGET_SERVICE,
        ),
        (
            {"targetRefs": [{"kind": "Service", "group": "core", "name": "mlflow"}]},
            NS,
            BOUND,
            Enforcer.WAYPOINT,
            Scope.TARGET_SERVICE,
        ),
        (
            {"targetRef": {"kind": "Service", "group": "", "name": "mlflow"}},
            NS,
            BOUND,
            Enforcer.WAYPOINT,
            Scope.TARGET_SERVICE,
        ),
        # ref 5.6: kind Service with another group is ignored
        ({"targetRefs": [{"kind": "Service", "group": "v1", "name": "mlflow"}]}, NS, BOUND, None, None),
        # ref 5.1: Service targetRef from another namespace never applies
        ({"targetRefs": [{"kind": "Service", "group": "", "name": "mlflow"}]}, "other", BOUND, None, None),
        # ref 5.1: not bound to a waypoint -> nowhere (ztunnel ignores targetRef policies)
        ({"targetRefs": [{"kind": "Service", "group": "", "name": "mlflow"}]}, NS, UNBOUND, None, None),
        # ref 5.1: Gateway targetRef = the waypoint, same namespace
        (
            {"targetRefs": [{"kind": "Gateway", "group": GW, "name": "mlflow-waypoint"}]},
            NS,
            BOUND,
            Enforcer.WAYPOINT,
            Scope.TARGET_GATEWAY,
        ),
        ({"targetRefs": [{"kind": "Gateway", "group": GW, "name": "other-waypoint"}]}, NS, BOUND, None, None),
        (
            {"targetRefs": [{"kind": "Gateway", "group": "", "name": "mlflow-waypoint"}]},
            NS,
            BOUND,
            None,
            None,
        ),
        # ref 5.1: GatewayClass istio-waypoint from the root namespace only
        (
            {"targetRefs": [{"kind": "GatewayClass", "group": GW, "name": "istio-waypoint"}]},
            "istio-system",
            BOUND,
            Enforcer.WAYPOINT,
            Scope.TARGET_GATEWAY_CLASS,
        ),
        (
            {"targetRefs": [{"kind": "GatewayClass", "group": GW, "name": "istio-waypoint"}]},
            NS,
            BOUND,
            None,
            None,
        ),
        # ref 5.1: selector, namespace-wide and global -> destination ztunnel
        ({"selector": {"matchLabels": {"app": "mlflow"}}}, NS, BOUND, Enforcer.ZTUNNEL, Scope.SELECTOR),
        ({"selector": {"matchLabels": {"app": "other"}}}, NS, BOUND, None, Scope.SELECTOR),
        (
            {"selector": {"matchLabels": {"app": "mlflow"}}},
            "istio-system",
            BOUND,
            Enforcer.ZTUNNEL,
            Scope.SELECTOR,
        ),
        ({}, NS, BOUND, Enforcer.ZTUNNEL, Scope.NAMESPACE),
        ({}, "istio-system", BOUND, Enforcer.ZTUNNEL, Scope.GLOBAL),
        ({}, "elsewhere", BOUND, None, None),
        # ref 5.2: CUSTOM and AUDIT are not supported by ztunnel
        ({"action": "AUDIT", "rules": [{}]}, NS, BOUND, None, Scope.NAMESPACE),
    ],
)
def test_attachment(spec, namespace, target, enforced_by, scope):
    attachment = attach(spec, namespace=namespace, target=target)
    assert attachment.enforced_by is enforced_by, attachment.reason
    if scope is not None:
        assert attachment.scope is scope
    assert attachment.reason


def test_reason_explains_the_wrong_namespace():
    a = attach({"targetRefs": [{"kind": "Service", "group": "", "name": "mlflow"}]}, namespace="other")
    assert "policy's own namespace" in a.reason


def test_partial_target_refs_are_reported():
    a = attach(
        {
            "targetRefs": [
                {"kind": "Service", "group": "", "name": "mlflow"},
                {"kind": "Service", "group": "", "name": "nope"},
            ]
        }
    )
    assert a.enforced_by is Enforcer.WAYPOINT
    assert [r.name for r, _ in a.unattached_refs] == ["nope"]


def test_selector_judged_against_service_selector_when_pods_unknown():
    target = ServiceTarget(namespace=NS, name="mlflow", waypoint=None, service_selector=(("app", "mlflow"),))
    assert (
        attach({"selector": {"matchLabels": {"app": "mlflow"}}}, target=target).enforced_by
        is Enforcer.ZTUNNEL
    )


# ref 5.2 / 5.6: istiod's conversion and the ZtunnelAccepted status it writes
def test_conversion_allow_with_http_drops_rule_and_says_so():
    p = parse_policy(
        policy(
            "p",
            {
                "selector": {"matchLabels": {"app": "mlflow"}},
                "rules": [
                    {
                        "from": [{"source": {"principals": ["a/ns/b/sa/c"]}}],
                        "to": [{"operation": {"methods": ["GET"]}}],
                    },
                    {"from": [{"source": {"principals": ["a/ns/b/sa/c"]}}]},
                ],
            },
        )
    )
    c = convert_for_ztunnel(p)
    assert [r.fate for r in c.rules] == [RuleFate.DROPPED, RuleFate.KEPT]
    assert c.expected_reason == "UnsupportedValue" and c.expected_status == "True"
    assert c.expected_message.startswith("ztunnel does not support HTTP attributes (found: methods).")
    assert "Within an ALLOW policy" in c.expected_message


def test_conversion_deny_void_and_stripped():
    void = convert_for_ztunnel(
        parse_policy(
            policy("p", {"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin"]}}]}]})
        )
    )
    assert void.rules[0].fate is RuleFate.VOID and "will have no effect" in void.expected_message
    stripped = convert_for_ztunnel(
        parse_policy(
            policy(
                "p",
                {
                    "action": "DENY",
                    "rules": [{"to": [{"operation": {"paths": ["/admin"], "ports": ["80"]}}]}],
                },
            )
        )
    )
    assert (
        stripped.rules[0].fate is RuleFate.STRIPPED
        and "enforced without the HTTP rules" in stripped.expected_message
    )


def test_conversion_custom_and_dry_run_unsupported():
    custom = convert_for_ztunnel(
        parse_policy(policy("p", {"action": "CUSTOM", "provider": {"name": "x"}, "rules": [{}]}))
    )
    assert not custom.supported and custom.expected_message == "ztunnel does not support the CUSTOM action"
    dry = convert_for_ztunnel(
        parse_policy(policy("p", {"rules": [{}]}, annotations={"istio.io/dry-run": "true"}))
    )
    assert not dry.supported and "dry-run" in dry.expected_message
