"""WD4xx scenarios: AuthorizationPolicy defects planted in the healthy MLflow setup."""

from __future__ import annotations

from scenariolib import Cluster, Scenario

NS = "kagenti-system"
OTEL = "cluster.local/ns/kagenti-system/sa/otel-collector"


def _api_access(c: Cluster) -> dict:
    return c.get("AuthorizationPolicy", NS, "mlflow-api-access")


def _selector_policy(name: str, labels: dict, action: str, rules: list) -> dict:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": {"matchLabels": labels}, "action": action, "rules": rules},
    }


def selector_on_waypoint_pods(c: Cluster) -> None:
    # The pre-1.22 docs' way: a selector on the waypoint's pods. Waypoints ignore it.
    c.add(
        _selector_policy(
            "mlflow-l7-on-waypoint",
            {"gateway.networking.k8s.io/gateway-name": "mlflow-waypoint"},
            "DENY",
            [{"to": [{"operation": {"paths": ["/admin*"], "ports": ["5000"]}}]}],
        )
    )


def selector_l7_allow(c: Cluster) -> None:
    c.add(
        _selector_policy(
            "mlflow-l7-selector",
            {"app": "mlflow"},
            "ALLOW",
            [{"from": [{"source": {"principals": [OTEL]}}], "to": [{"operation": {"methods": ["POST"]}}]}],
        )
    )


def selector_l7_deny_void(c: Cluster) -> None:
    policy = _selector_policy(
        "mlflow-deny-admin", {"app": "mlflow"}, "DENY", [{"to": [{"operation": {"paths": ["/admin*"]}}]}]
    )
    policy["status"] = {
        "conditions": [
            {
                "type": "ZtunnelAccepted",
                "status": "True",
                "reason": "UnsupportedValue",
                "message": "ztunnel does not support HTTP attributes (found: paths). In ambient mode you must use a waypoint "
                "proxy to enforce HTTP rules. DENY policy with HTTP attributes is enforced without the HTTP rules. "
                "This will be more restrictive than requested.",
            }
        ]
    }
    c.add(policy)


def target_ref_wrong_group(c: Cluster) -> None:
    _api_access(c)["spec"]["targetRefs"] = [{"kind": "Service", "group": "apps", "name": "mlflow"}]


def target_ref_typo(c: Cluster) -> None:
    _api_access(c)["spec"]["targetRefs"] = [{"kind": "Service", "group": "", "name": "mlfow"}]


def policy_in_wrong_namespace(c: Cluster) -> None:
    _api_access(c)["metadata"]["namespace"] = "default"


def spiffe_prefix(c: Cluster) -> None:
    _api_access(c)["spec"]["rules"][0]["from"][0]["source"]["principals"] = ["spiffe://" + OTEL]


def service_account_typo(c: Cluster) -> None:
    _api_access(c)["spec"]["rules"][0]["from"][0]["source"]["principals"] = [
        "cluster.local/ns/kagenti-system/sa/otel-colector"
    ]


def lower_case_method(c: Cluster) -> None:
    _api_access(c)["spec"]["rules"][0]["to"][0]["operation"]["methods"] = ["post"]


def waypoint_not_accepted(c: Cluster) -> None:
    c.set_condition(
        "AuthorizationPolicy",
        NS,
        "mlflow-api-access",
        {
            "type": "WaypointAccepted",
            "status": "False",
            "reason": "AncestorNotBound",
            "message": "Service kagenti-system/mlflow is not bound to a waypoint",
        },
    )


def namespace_allow_nothing(c: Cluster) -> None:
    c.add(
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "allow-nothing", "namespace": NS},
            "spec": {},
        }
    )


def deny_shadows_allow(c: Cluster) -> None:
    c.add(
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "no-posts", "namespace": NS},
            "spec": {
                "targetRefs": [{"kind": "Service", "group": "", "name": "mlflow"}],
                "action": "DENY",
                "rules": [{"to": [{"operation": {"methods": ["POST"]}}]}],
            },
        }
    )


SCENARIOS = [
    Scenario(
        "ap-selector-on-waypoint-pods",
        "an L7 policy selects the waypoint's pods instead of targetRefs",
        selector_on_waypoint_pods,
        fails={"WD401"},
    ),
    Scenario(
        "ap-selector-l7-allow",
        "an ALLOW policy with methods attaches by selector to mlflow's pods",
        selector_l7_allow,
        fails={"WD401", "WD404", "WD409"},
        warns={"WD410"},
    ),
    Scenario(
        "ap-selector-l7-deny-void",
        "a DENY on paths attaches by selector: no effect at ztunnel",
        selector_l7_deny_void,
        fails={"WD401", "WD404"},
        warns={"WD407"},
    ),
    Scenario(
        "ap-target-ref-wrong-group",
        "targetRef kind Service with group apps",
        target_ref_wrong_group,
        fails={"WD402"},
    ),
    Scenario("ap-target-ref-typo", "targetRef names Service mlfow", target_ref_typo, fails={"WD402"}),
    Scenario(
        "ap-wrong-namespace",
        "the policy lives in default, the Service in kagenti-system",
        policy_in_wrong_namespace,
        fails={"WD403"},
    ),
    Scenario(
        "ap-spiffe-prefix",
        "a principal written with spiffe://",
        spiffe_prefix,
        fails={"WD405"},
        warns={"WD410"},
    ),
    Scenario(
        "ap-service-account-typo",
        "a principal names service account otel-colector",
        service_account_typo,
        fails={"WD406"},
    ),
    Scenario("ap-lower-case-method", "methods: [post]", lower_case_method, fails={"WD407"}, warns={"WD410"}),
    Scenario(
        "ap-waypoint-not-accepted",
        "WaypointAccepted False/AncestorNotBound",
        waypoint_not_accepted,
        fails={"WD408"},
    ),
    Scenario(
        "ap-namespace-allow-nothing",
        "spec: {} in kagenti-system blocks the waypoint-to-pod hop",
        namespace_allow_nothing,
        fails={"WD409"},
        warns={"WD410"},
    ),
    Scenario(
        "ap-deny-shadows-allow",
        "a DENY on POST shadows the otel collector's ALLOW",
        deny_shadows_allow,
        fails=set(),
        warns={"WD407", "WD410"},
    ),
]
