"""WD3xx scenarios: Service, binding and waypoint defects planted in the healthy MLflow setup.

Each edit also plants what istiod would write back (the Service's WaypointBound condition, the
policy's WaypointAccepted, the Gateway's status) and what Kubernetes would garbage-collect, so
the expected failures are the ones a person would really see on such a cluster.
"""

from __future__ import annotations

import copy
from typing import Any

from scenariolib import Cluster, Scenario
from scenarios.edits import (
    GW,
    NS,
    POLICY,
    SVC,
    WAYPOINT_POD,
    condition,
    gateway,
    gateway_conditions,
    pod,
    policy_ancestor_not_bound,
    remove_waypoint_workload,
    service_bound,
    service_unbound_by_istiod,
    set_images,
    waypoint_not_ready,
)

USE_WAYPOINT = "istio.io/use-waypoint"
SHARED_NS = "waypoints"
SHARED_GW = "shared-waypoint"
ACCEPTED = condition("Accepted", "True", "Accepted", "Resource accepted")
PENDING_ACCEPTED = condition("Accepted", "Unknown", "Pending", "Waiting for controller")
PENDING_PROGRAMMED = condition("Programmed", "Unknown", "Pending", "Waiting for controller")
HOSTNAME = f"{GW}.{NS}.svc.cluster.local"
ADDRESSES = [{"type": "IPAddress", "value": "10.96.112.40"}, {"type": "Hostname", "value": HOSTNAME}]


def _svc(c: Cluster) -> dict[str, Any]:
    return c.get("Service", NS, SVC)


# -- WD301 ---------------------------------------------------------------------------------------
def selector_matches_nothing(c: Cluster) -> None:
    _svc(c)["spec"]["selector"] = {"app": "mlflow-server"}


def pods_not_ready(c: Cluster) -> None:
    p = pod(c)
    p["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    p["status"]["containerStatuses"][0].update(
        ready=False, restartCount=12, state={"waiting": {"reason": "CrashLoopBackOff"}}
    )


def no_selector(c: Cluster) -> None:
    del _svc(c)["spec"]["selector"]


# -- WD302 ---------------------------------------------------------------------------------------
def missing_use_waypoint(c: Cluster) -> None:
    c.unlabel("Service", NS, SVC, USE_WAYPOINT)
    service_unbound_by_istiod(c)


def opted_out(c: Cluster) -> None:
    c.label("Service", NS, SVC, USE_WAYPOINT, "none")
    service_unbound_by_istiod(c)


def bound_by_namespace(c: Cluster) -> None:
    c.unlabel("Service", NS, SVC, USE_WAYPOINT)
    c.label("Namespace", None, NS, USE_WAYPOINT, GW)


def service_label_beats_namespace_none(c: Cluster) -> None:
    c.label("Namespace", None, NS, USE_WAYPOINT, "none")


# -- WD303 ---------------------------------------------------------------------------------------
def waypoint_name_typo(c: Cluster) -> None:
    c.label("Service", NS, SVC, USE_WAYPOINT, "mlflow-waypiont")
    waypoint_not_ready(c, f"{NS}/mlflow-waypiont")


def waypoint_deleted(c: Cluster) -> None:
    # the Gateway deleted: its Deployment, Service and pods are garbage-collected with it
    c.remove("Gateway", NS, GW)
    remove_waypoint_workload(c)
    waypoint_not_ready(c)


def _shared_waypoint(c: Cluster, allowed: dict[str, Any] | None) -> None:
    """Move the waypoint to namespace `waypoints` as `shared-waypoint`, programmed and running."""
    c.add(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": SHARED_NS, "labels": {"kubernetes.io/metadata.name": SHARED_NS}},
        }
    )
    gw = copy.deepcopy(gateway(c))
    gw["metadata"].update(name=SHARED_GW, namespace=SHARED_NS)
    if allowed is not None:
        gw["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": allowed}
    host = f"{SHARED_GW}.{SHARED_NS}.svc.cluster.local"
    gw["status"]["addresses"] = [
        {"type": "IPAddress", "value": "10.96.200.7"},
        {"type": "Hostname", "value": host},
    ]
    gw["status"]["conditions"][1]["message"] = f"Resource programmed, assigned to service(s) {host}:15008"
    c.add(gw)
    for kind, name in (("Service", GW), ("Deployment", GW), ("ServiceAccount", GW), ("Pod", WAYPOINT_POD)):
        obj = copy.deepcopy(c.get(kind, NS, name))
        obj["metadata"]["namespace"] = SHARED_NS
        obj["metadata"]["name"] = obj["metadata"]["name"].replace(GW, SHARED_GW)
        for labels in (obj["metadata"].get("labels", {}), obj.get("spec", {}).get("selector", {}) or {}):
            for key in ("gateway.networking.k8s.io/gateway-name", "service.istio.io/canonical-name"):
                if key in labels:
                    labels[key] = SHARED_GW
        if kind == "Pod":
            obj["spec"]["serviceAccountName"] = SHARED_GW
        c.add(obj)
    c.remove("Gateway", NS, GW)
    remove_waypoint_workload(c)
    c.label("Service", NS, SVC, USE_WAYPOINT, SHARED_GW)
    c.label("Service", NS, SVC, "istio.io/use-waypoint-namespace", SHARED_NS)


def cross_namespace_denied(c: Cluster) -> None:
    _shared_waypoint(c, allowed=None)
    service_bound(
        c,
        "False",
        "AttachmentDenied",
        f'we are not permitted to attach to waypoint "{SHARED_NS}/{SHARED_GW}" (missing allowedRoutes?)',
    )
    policy_ancestor_not_bound(c)


def cross_namespace_allowed(c: Cluster) -> None:
    _shared_waypoint(c, allowed={"from": "All"})
    service_bound(c, "True", "WaypointAccepted", f"Successfully attached to waypoint {SHARED_NS}/{SHARED_GW}")
    c.set_condition(
        "AuthorizationPolicy",
        NS,
        POLICY,
        condition("WaypointAccepted", "True", "Accepted", f"bound to {SHARED_NS}/{SHARED_GW}"),
    )


def cross_namespace_selector_mismatch(c: Cluster) -> None:
    _shared_waypoint(
        c,
        allowed={
            "from": "Selector",
            "selector": {"matchLabels": {"mesh.example.com/waypoint-clients": "true"}},
        },
    )
    service_bound(
        c,
        "False",
        "AttachmentDenied",
        f'we are not permitted to attach to waypoint "{SHARED_NS}/{SHARED_GW}" (missing allowedRoutes?)',
    )
    policy_ancestor_not_bound(c)


# -- WD304 ---------------------------------------------------------------------------------------
def wrong_class(c: Cluster) -> None:
    # created with a typo: no controller takes it, so istiod never deploys it
    gateway(c)["spec"]["gatewayClassName"] = "istio-waypont"
    gateway_conditions(c, PENDING_ACCEPTED, PENDING_PROGRAMMED)
    gateway(c)["status"].pop("listeners", None)
    remove_waypoint_workload(c)
    waypoint_not_ready(c)


def listener_wrong_port(c: Cluster) -> None:
    # 1.24-1.28: only the listener condition says so; the Gateway stays Accepted and Programmed
    gw = gateway(c)
    gw["spec"]["listeners"][0]["port"] = 15009
    gw["status"]["listeners"][0]["conditions"][0] = {
        "type": "Accepted",
        "status": "False",
        "reason": "UnsupportedProtocol",
        "message": 'Expected a single listener on port 15008 with protocol "HBONE"',
        "lastTransitionTime": "2026-11-20T10:00:00Z",
    }


def extra_http_listener(c: Cluster) -> None:
    gw = gateway(c)
    gw["spec"]["listeners"].append({"name": "http", "port": 80, "protocol": "HTTP"})


# -- WD305 ---------------------------------------------------------------------------------------
def waypoint_for_workload(c: Cluster) -> None:
    c.label("Gateway", NS, GW, "istio.io/waypoint-for", "workload")
    service_bound(
        c,
        "False",
        "UnsupportedTrafficType",
        f'attempting to bind to traffic type "service" which the waypoint "{NS}/{GW}" does not support',
    )
    policy_ancestor_not_bound(c)


def gateway_class_says_none(c: Cluster) -> None:
    c.unlabel("Gateway", NS, GW, "istio.io/waypoint-for")
    c.label("GatewayClass", None, "istio-waypoint", "istio.io/waypoint-for", "none")
    service_bound(
        c,
        "False",
        "UnsupportedTrafficType",
        f'attempting to bind to traffic type "service" which the waypoint "{NS}/{GW}" does not support',
    )
    policy_ancestor_not_bound(c)


def waypoint_for_all(c: Cluster) -> None:
    c.label("Gateway", NS, GW, "istio.io/waypoint-for", "all")


# -- WD306 ---------------------------------------------------------------------------------------
def address_not_usable(c: Cluster) -> None:
    # the waypoint's Service was deleted (and blocked from coming back): no address for the Gateway
    c.remove("Service", NS, GW)
    gateway_conditions(
        c,
        ACCEPTED,
        condition(
            "Programmed",
            "False",
            "AddressNotUsable",
            f'Failed to assign to any requested addresses: hostname "{HOSTNAME}" not found',
        ),
    )
    waypoint_not_ready(c)


def no_ready_waypoint_pods(c: Cluster) -> None:
    # never became ready: no address was ever assigned
    p = pod(c, WAYPOINT_POD)
    p["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    p["status"]["containerStatuses"][0].update(
        ready=False, restartCount=6, state={"waiting": {"reason": "CrashLoopBackOff"}}
    )
    gateway_conditions(
        c,
        ACCEPTED,
        condition(
            "Programmed",
            "False",
            "AddressNotAssigned",
            f'Failed to assign to any requested addresses: no instances found for hostname "{HOSTNAME}"',
        ),
    )
    waypoint_not_ready(c)


def crashloop_after_ready(c: Cluster) -> None:
    # was ready once: the addresses stay, the Service stays bound, requests through it fail
    p = pod(c, WAYPOINT_POD)
    p["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    p["status"]["containerStatuses"][0].update(
        ready=False,
        restartCount=7,
        state={"waiting": {"reason": "CrashLoopBackOff"}},
        lastState={"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-11-20T10:12:00Z"}},
    )
    gateway_conditions(
        c,
        ACCEPTED,
        condition(
            "Programmed",
            "False",
            "AddressNotAssigned",
            f'Failed to assign to any requested addresses: no instances found for hostname "{HOSTNAME}"',
        ),
        addresses=ADDRESSES,
    )


def no_addresses(c: Cluster) -> None:
    gateway(c)["status"].pop("addresses")
    waypoint_not_ready(c)


def gateway_status_stripped(c: Cluster) -> None:
    # a hand-assembled snapshot from manifests: the Gateway has no status at all
    c.drop_status("Gateway", NS, GW)


# -- WD307 ---------------------------------------------------------------------------------------
def waypoint_restarting(c: Cluster) -> None:
    p = pod(c, WAYPOINT_POD)
    p["status"]["containerStatuses"][0].update(
        restartCount=3,
        lastState={
            "terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-11-20T10:09:30Z"}
        },
    )


def waypoint_pods_gone(c: Cluster) -> None:
    # e.g. scaled to zero by hand; the address stays once assigned
    c.remove("Pod", NS, WAYPOINT_POD)
    c.get("Deployment", NS, GW)["spec"]["replicas"] = 0
    c.get("Deployment", NS, GW)["status"] = {"replicas": 0}
    gateway_conditions(
        c,
        ACCEPTED,
        condition(
            "Programmed",
            "False",
            "AddressNotAssigned",
            f'Failed to assign to any requested addresses: no instances found for hostname "{HOSTNAME}"',
        ),
        addresses=ADDRESSES,
    )
    c.logs = {k: v for k, v in c.logs.items() if k[1] != WAYPOINT_POD}


# -- WD308 ---------------------------------------------------------------------------------------
def pre_124_cluster(c: Cluster) -> None:
    # Istio 1.23: no ambient status conditions anywhere; waypoint pods still carry the legacy label
    set_images(c, "1.23.3")
    svc = _svc(c)
    svc.pop("status", None)
    c.drop_status("AuthorizationPolicy", NS, POLICY)
    c.label("Pod", NS, WAYPOINT_POD, "istio.io/gateway-name", GW)


def status_writing_off(c: Cluster) -> None:
    env = c.get("Deployment", "istio-system", "istiod")["spec"]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": "AMBIENT_ENABLE_STATUS", "value": "false"})
    _svc(c).pop("status", None)
    c.drop_status("AuthorizationPolicy", NS, POLICY)


def canary_invalid_weight(c: Cluster) -> None:
    # 1.31 canary: the primary binds, the canary does not; the condition stays True with a suffix
    set_images(c, "1.31.0")
    c.label("Service", NS, SVC, "istio.io/use-waypoint-canary", GW + "-canary")
    _svc(c)["metadata"].setdefault("annotations", {})["istio.io/use-waypoint-canary-weight"] = "150"
    service_bound(
        c,
        "True",
        "WaypointAccepted",
        f"Successfully attached to waypoint {NS}/{GW}. Canary waypoint not attached: canary waypoint "
        f'"{NS}/{GW}-canary" has an invalid weight; must be an integer in [0,100]',
    )


# -- WD309 ---------------------------------------------------------------------------------------
INGRESS_NS = "istio-ingress"


def _ingress_gateway(c: Cluster) -> None:
    c.add(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": INGRESS_NS, "labels": {"kubernetes.io/metadata.name": INGRESS_NS}},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "public", "namespace": INGRESS_NS},
            "spec": {
                "gatewayClassName": "istio",
                "listeners": [
                    {
                        "name": "http",
                        "port": 80,
                        "protocol": "HTTP",
                        "allowedRoutes": {"namespaces": {"from": "All"}},
                    }
                ],
            },
            "status": {
                "addresses": [{"type": "IPAddress", "value": "172.18.255.200"}],
                "conditions": [
                    ACCEPTED,
                    condition("Programmed", "True", "Programmed", "Resource programmed"),
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "public-istio-6f8d9c7b5-k2m4n",
                "namespace": INGRESS_NS,
                "labels": {
                    "gateway.networking.k8s.io/gateway-name": "public",
                    "gateway.networking.k8s.io/gateway-class-name": "istio",
                    "gateway.istio.io/managed": "istio.io-gateway-controller",
                },
            },
            "spec": {
                "nodeName": "kagenti-control-plane",
                "serviceAccountName": "public-istio",
                "containers": [{"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.28.1"}],
            },
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        },
    )


def ingress_bypasses_waypoint(c: Cluster) -> None:
    _ingress_gateway(c)


def ingress_uses_waypoint(c: Cluster) -> None:
    _ingress_gateway(c)
    c.label("Service", NS, SVC, "istio.io/ingress-use-waypoint", "true")
    service_bound(
        c,
        "True",
        "WaypointAccepted",
        f"Successfully attached to waypoint {NS}/{GW}. Ingress traffic will traverse the waypoint",
    )


def ingress_label_not_boolean(c: Cluster) -> None:
    _ingress_gateway(c)
    c.label("Service", NS, SVC, "istio.io/ingress-use-waypoint", "yes")
    service_bound(
        c,
        "True",
        "WaypointAccepted",
        f"Successfully attached to waypoint {NS}/{GW}. Ingress traffic is not using the waypoint, set the "
        "istio.io/ingress-use-waypoint label to true if desired.",
    )


SCENARIOS = [
    Scenario(
        "service-typo",
        "the service asked for does not exist (mlfow)",
        lambda c: None,
        fails={"WD301"},
        skips={"WD204", "WD302", "WD303", "WD308", "WD309"},
        target=(NS, "mlfow"),
    ),
    Scenario(
        "service-selector-matches-nothing",
        "the Service selects app=mlflow-server, the pods are app=mlflow",
        selector_matches_nothing,
        fails={"WD301"},
        skips={"WD204"},
    ),
    Scenario(
        "service-pods-not-ready", "mlflow crash-loops: no ready endpoint", pods_not_ready, fails={"WD301"}
    ),
    Scenario(
        "service-without-selector", "endpoints managed by hand", no_selector, fails=set(), skips={"WD204"}
    ),
    Scenario(
        "service-missing-use-waypoint",
        "the Service lost its istio.io/use-waypoint label; istiod unbinds it",
        missing_use_waypoint,
        fails={"WD302", "WD408"},
        skips={"WD303", "WD304", "WD305", "WD306", "WD307", "WD308", "WD309"},
    ),
    Scenario(
        "service-opted-out",
        "istio.io/use-waypoint=none on the Service",
        opted_out,
        fails={"WD302", "WD408"},
        skips={"WD303", "WD308"},
    ),
    Scenario(
        "bound-by-namespace",
        "the namespace names the waypoint, the Service inherits",
        bound_by_namespace,
        fails=set(),
    ),
    Scenario(
        "service-label-beats-namespace-none",
        "the namespace says none, the Service names the waypoint: the Service wins",
        service_label_beats_namespace_none,
        fails=set(),
    ),
    Scenario(
        "waypoint-name-typo",
        "istio.io/use-waypoint=mlflow-waypiont: no such Gateway",
        waypoint_name_typo,
        fails={"WD303", "WD308", "WD408"},
        skips={"WD304", "WD305", "WD306", "WD307"},
    ),
    Scenario(
        "waypoint-gateway-deleted",
        "the waypoint Gateway (and with it its Deployment) was deleted",
        waypoint_deleted,
        fails={"WD303", "WD308", "WD408"},
        skips={"WD304", "WD305", "WD306", "WD307"},
    ),
    Scenario(
        "cross-namespace-not-allowed",
        "a shared waypoint in namespace waypoints without allowedRoutes (Same)",
        cross_namespace_denied,
        fails={"WD303", "WD308", "WD408"},
    ),
    Scenario(
        "cross-namespace-allowed",
        "a shared waypoint in namespace waypoints admitting all namespaces",
        cross_namespace_allowed,
        fails=set(),
    ),
    Scenario(
        "cross-namespace-selector-mismatch",
        "a shared waypoint admitting namespaces by a label kagenti-system lacks",
        cross_namespace_selector_mismatch,
        fails={"WD303", "WD308", "WD408"},
    ),
    Scenario(
        "waypoint-wrong-class",
        "gatewayClassName istio-waypont: no controller, no Deployment",
        wrong_class,
        fails={"WD304", "WD308", "WD408"},
        skips={"WD305", "WD306", "WD307"},
    ),
    Scenario(
        "waypoint-listener-wrong-port",
        "the listener is on 15009; only the listener status says so",
        listener_wrong_port,
        fails={"WD304"},
    ),
    Scenario(
        "waypoint-extra-http-listener",
        "an extra HTTP listener on port 80",
        extra_http_listener,
        fails={"WD304"},
    ),
    Scenario(
        "waypoint-for-workload",
        "istio.io/waypoint-for=workload on the Gateway",
        waypoint_for_workload,
        fails={"WD305", "WD308", "WD408"},
    ),
    Scenario(
        "waypoint-for-none-from-class",
        "no label on the Gateway, istio.io/waypoint-for=none on its GatewayClass",
        gateway_class_says_none,
        fails={"WD305", "WD308", "WD408"},
    ),
    Scenario("waypoint-for-all", "istio.io/waypoint-for=all", waypoint_for_all, fails=set()),
    Scenario(
        "waypoint-address-not-usable",
        "Programmed=False AddressNotUsable: the waypoint's Service is gone",
        address_not_usable,
        fails={"WD306", "WD308", "WD408"},
    ),
    Scenario(
        "waypoint-never-ready",
        "the waypoint pod crash-loops from the start: AddressNotAssigned, no address",
        no_ready_waypoint_pods,
        fails={"WD306", "WD307", "WD308", "WD408"},
    ),
    Scenario(
        "waypoint-crashloop-after-ready",
        "the waypoint pod crash-loops after it was ready: addresses kept, Service still bound",
        crashloop_after_ready,
        fails={"WD306", "WD307"},
    ),
    Scenario(
        "waypoint-no-addresses",
        "Accepted and Programmed but no status.addresses",
        no_addresses,
        fails={"WD306", "WD308", "WD408"},
    ),
    Scenario(
        "waypoint-status-stripped",
        "a hand-made snapshot whose Gateway has no status",
        gateway_status_stripped,
        fails=set(),
        skips={"WD306"},
    ),
    Scenario(
        "waypoint-restarting", "the waypoint pod was OOM-killed minutes ago", waypoint_restarting, fails=set()
    ),
    Scenario(
        "waypoint-scaled-to-zero",
        "no waypoint pod at all (Deployment scaled to 0)",
        waypoint_pods_gone,
        fails={"WD306", "WD307"},
    ),
    Scenario(
        "pre-1.24-cluster",
        "Istio 1.23: no status conditions anywhere, legacy waypoint pod label",
        pre_124_cluster,
        fails=set(),
        skips={"WD308"},
    ),
    Scenario(
        "ambient-status-off",
        "istiod with AMBIENT_ENABLE_STATUS=false: no conditions written",
        status_writing_off,
        fails=set(),
        skips={"WD308"},
    ),
    Scenario(
        "waypoint-canary-invalid-weight",
        "1.31 canary with weight 150: bound, canary not attached",
        canary_invalid_weight,
        fails=set(),
    ),
    Scenario(
        "ingress-bypasses-waypoint",
        "an Istio ingress Gateway exists and mlflow lacks istio.io/ingress-use-waypoint",
        ingress_bypasses_waypoint,
        fails=set(),
    ),
    Scenario(
        "ingress-uses-waypoint",
        "istio.io/ingress-use-waypoint=true with an ingress Gateway",
        ingress_uses_waypoint,
        fails=set(),
    ),
    Scenario(
        "ingress-label-not-boolean",
        "istio.io/ingress-use-waypoint=yes: not a boolean, read as false",
        ingress_label_not_boolean,
        fails=set(),
    ),
]


# -- WD310: can callers skip the waypoint? --------------------------------------------------------
REQUIRE_WAYPOINT = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mlflow-require-waypoint, namespace: kagenti-system}
spec:
  selector: {matchLabels: {app: mlflow}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/kagenti-system/sa/mlflow-waypoint]}}]
"""
ALLOW_NOTHING = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: kagenti-system}
spec: {}
"""


def require_waypoint(c: Cluster) -> None:
    c.add(REQUIRE_WAYPOINT)


def auto_allow_waypoint(c: Cluster) -> None:
    """istiod synthesises the waypoint's ALLOW at ztunnel; a namespace allow-nothing then
    shuts everything else out, and the waypoint hop still works (reference 4, 5.4)."""
    istiod = c.get("Deployment", "istio-system", "istiod")
    istiod["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "PILOT_AUTO_ALLOW_WAYPOINT_POLICY", "value": "true"}
    )
    c.add(ALLOW_NOTHING)


SCENARIOS += [
    Scenario(
        "require-waypoint-policy",
        "a selector ALLOW admits only the waypoint at mlflow's pods: nothing can skip the waypoint",
        require_waypoint,
        fails=set(),
    ),
    Scenario(
        "auto-allow-waypoint-with-allow-nothing",
        "PILOT_AUTO_ALLOW_WAYPOINT_POLICY=true and a namespace allow-nothing: the waypoint hop is allowed",
        auto_allow_waypoint,
        fails=set(),
    ),
]
