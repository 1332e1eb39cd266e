"""WD1xx scenarios: control-plane and prerequisite defects planted in the healthy MLflow setup."""

from __future__ import annotations

from scenariolib import Cluster, Scenario
from scenarios.edits import ISTIO_NS, NS, condition, forbid, gateway_conditions, remove_waypoint_workload

WAYPOINT_ENV = "PILOT_ENABLE_AMBIENT"


def _istiod(c: Cluster) -> dict:
    return c.get("Deployment", ISTIO_NS, "istiod")


def _discovery_env(c: Cluster) -> list[dict]:
    return _istiod(c)["spec"]["template"]["spec"]["containers"][0]["env"]


# -- WD101 ---------------------------------------------------------------------------------------
def gateways_forbidden(c: Cluster) -> None:
    forbid(c, verb="list", resource="gateways", group="gateway.networking.k8s.io")


def no_log_access(c: Cluster) -> None:
    # reading logs in istio-system refused (a SelfSubjectAccessReview says no): evidence thins out,
    # every verdict stands
    c.unreadable(verb="get", resource="pods", subresource="log", namespace=ISTIO_NS, reason="Forbidden")
    c.logs = {k: v for k, v in c.logs.items() if k[0] != ISTIO_NS}


def mesh_configmap_forbidden(c: Cluster) -> None:
    forbid(c, verb="list", resource="configmaps", namespace=ISTIO_NS)


# -- WD102 ---------------------------------------------------------------------------------------
def ambient_disabled(c: Cluster) -> None:
    # istiod re-installed with the default profile: the flag is gone; the statuses it wrote stay
    env = _discovery_env(c)
    env[:] = [e for e in env if e["name"] != WAYPOINT_ENV]


def ambient_flag_not_boolean(c: Cluster) -> None:
    for e in _discovery_env(c):
        if e["name"] == WAYPOINT_ENV:
            e["value"] = "yes"  # strconv.ParseBool rejects it; istiod keeps the default, false


def istiod_missing(c: Cluster) -> None:
    c.remove("Deployment", ISTIO_NS, "istiod")
    c.remove("Pod", ISTIO_NS, "istiod-6d9c7b8f5-q2x7m")


def istiod_not_ready(c: Cluster) -> None:
    _istiod(c)["status"] = {"replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1}
    pod = c.get("Pod", ISTIO_NS, "istiod-6d9c7b8f5-q2x7m")
    pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    pod["status"]["containerStatuses"][0].update(
        ready=False, restartCount=9, state={"waiting": {"reason": "CrashLoopBackOff"}}
    )


def istiod_revisioned(c: Cluster) -> None:
    # a revisioned install (istiod-1-28, ConfigMap istio-1-28): healthy, with other names
    istiod = _istiod(c)
    istiod["metadata"]["name"] = "istiod-1-28"
    for labels in (istiod["metadata"]["labels"], istiod["spec"]["selector"]["matchLabels"]):
        labels["istio.io/rev"] = "1-28"
    cm = c.get("ConfigMap", ISTIO_NS, "istio")
    cm["metadata"]["name"] = "istio-1-28"
    cm["metadata"]["labels"]["istio.io/rev"] = "1-28"


def waypoints_disabled_flag(c: Cluster) -> None:
    _discovery_env(c).append({"name": "PILOT_ENABLE_AMBIENT_WAYPOINTS", "value": "false"})


# -- WD103 ---------------------------------------------------------------------------------------
def gateway_api_absent(c: Cluster) -> None:
    c.remove_group("gateway.networking.k8s.io")


def gateway_api_v1beta1_only(c: Cluster) -> None:
    c.meta["apiGroups"]["gateway.networking.k8s.io"] = ["v1beta1"]


# -- WD104 ---------------------------------------------------------------------------------------
def gateway_class_missing(c: Cluster) -> None:
    c.remove("GatewayClass", None, "istio-waypoint")


def gateway_class_wrong_controller(c: Cluster) -> None:
    cls = c.get("GatewayClass", None, "istio-waypoint")
    cls["spec"]["controllerName"] = "example.com/gateway-controller"
    cls["status"]["conditions"] = [
        condition("Accepted", "Unknown", "Pending", "Waiting for controller"),
    ]


def gateway_class_pending(c: Cluster) -> None:
    c.set_condition(
        "GatewayClass",
        None,
        "istio-waypoint",
        condition("Accepted", "Unknown", "Pending", "Waiting for controller"),
    )


def ambient_profile_forgotten(c: Cluster) -> None:
    # istiod installed without the ambient profile: no waypoint class, nobody takes the Gateway, no
    # waypoint Deployment, and no ambient status is ever written
    ambient_disabled(c)
    gateway_class_missing(c)
    gateway_conditions(
        c,
        condition("Accepted", "Unknown", "Pending", "Waiting for controller"),
        condition("Programmed", "Unknown", "Pending", "Waiting for controller"),
    )
    c.get("Gateway", NS, "mlflow-waypoint")["status"].pop("listeners", None)
    remove_waypoint_workload(c)
    c.drop_status("Service", NS, "mlflow")
    c.drop_status("AuthorizationPolicy", NS, "mlflow-api-access")


# -- WD105 ---------------------------------------------------------------------------------------
def _ztunnel_ds(c: Cluster) -> dict:
    return c.get("DaemonSet", ISTIO_NS, "ztunnel")


def ztunnel_crashing_on_worker(c: Cluster) -> None:
    _ztunnel_ds(c)["status"].update(numberReady=1, numberAvailable=1, numberUnavailable=1)
    pod = c.get("Pod", ISTIO_NS, "ztunnel-9wd2s")
    pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    pod["status"]["containerStatuses"][0].update(
        ready=False, restartCount=14, state={"waiting": {"reason": "CrashLoopBackOff"}}
    )


def ztunnel_not_scheduled_on_tainted_node(c: Cluster) -> None:
    # the worker carries a taint that mlflow tolerates and ztunnel does not: no ztunnel there, so
    # the CNI leaves mlflow half-enrolled ("pending")
    c.add(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "kagenti-control-plane"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "kagenti-worker"},
            "spec": {"taints": [{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        },
    )
    c.meta["collected"].append("nodes")
    _ztunnel_ds(c)["status"].update(
        desiredNumberScheduled=1,
        currentNumberScheduled=1,
        numberReady=1,
        numberAvailable=1,
        updatedNumberScheduled=1,
    )
    c.remove("Pod", ISTIO_NS, "ztunnel-9wd2s")
    for key in [k for k in c.logs if k[1] == "ztunnel-9wd2s"]:
        del c.logs[key]
    c.annotate("Pod", NS, "mlflow-5f7d9c8b7d-x2k9q", "ambient.istio.io/redirection", "pending")


def ztunnel_missing(c: Cluster) -> None:
    c.remove("DaemonSet", ISTIO_NS, "ztunnel")
    for name in ("ztunnel-4kq7p", "ztunnel-9wd2s"):
        c.remove("Pod", ISTIO_NS, name)
    c.logs = {k: v for k, v in c.logs.items() if not k[1].startswith("ztunnel-")}


# -- WD106 ---------------------------------------------------------------------------------------
def cni_missing(c: Cluster) -> None:
    c.remove("DaemonSet", ISTIO_NS, "istio-cni-node")
    for name in ("istio-cni-node-7xk2d", "istio-cni-node-b5r8n"):
        c.remove("Pod", ISTIO_NS, name)


def cni_not_ready_on_worker(c: Cluster) -> None:
    c.get("DaemonSet", ISTIO_NS, "istio-cni-node")["status"].update(
        numberReady=1, numberAvailable=1, numberUnavailable=1
    )
    c.get("Pod", ISTIO_NS, "istio-cni-node-b5r8n")["status"]["conditions"] = [
        {"type": "Ready", "status": "False"}
    ]


def cni_without_ambient(c: Cluster) -> None:
    # a 1.22-style chart: the DaemonSet says whether ambient is on
    ds = c.get("DaemonSet", ISTIO_NS, "istio-cni-node")
    ds["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "AMBIENT_ENABLED", "value": "false"}]


# -- WD107 ---------------------------------------------------------------------------------------
def mesh_configmap_absent(c: Cluster) -> None:
    c.remove("ConfigMap", ISTIO_NS, "istio")


def mesh_config_unparsable(c: Cluster) -> None:
    c.get("ConfigMap", ISTIO_NS, "istio")["data"]["mesh"] = (
        "trustDomain: [cluster.local\nrootNamespace: istio-system"
    )


SCENARIOS = [
    Scenario(
        "gateways-forbidden",
        "the caller may not list Gateways: the waypoint checks skip, the permission is named",
        gateways_forbidden,
        fails={"WD101"},
        skips={"WD303", "WD304", "WD305", "WD306", "WD307"},
    ),
    Scenario(
        "rbac-no-log-access",
        "the caller may not read pod logs in istio-system: a warning, no verdict changes",
        no_log_access,
        fails=set(),
    ),
    Scenario(
        "mesh-configmap-forbidden",
        "the caller may not read ConfigMaps in istio-system: the trust domain is assumed",
        mesh_configmap_forbidden,
        fails={"WD101"},
    ),
    Scenario(
        "istiod-ambient-disabled",
        "istiod runs without PILOT_ENABLE_AMBIENT",
        ambient_disabled,
        fails={"WD102"},
    ),
    Scenario(
        "istiod-ambient-not-boolean",
        "PILOT_ENABLE_AMBIENT=yes, which Go's ParseBool rejects",
        ambient_flag_not_boolean,
        fails={"WD102"},
    ),
    Scenario("istiod-missing", "no istiod Deployment at all", istiod_missing, fails={"WD102"}),
    Scenario("istiod-not-ready", "istiod crash-loops: 0/1 ready", istiod_not_ready, fails={"WD102"}),
    Scenario(
        "istiod-revisioned",
        "a revisioned istiod (istiod-1-28, ConfigMap istio-1-28)",
        istiod_revisioned,
        fails=set(),
    ),
    Scenario(
        "istiod-waypoints-flag-off",
        "ambient on, but PILOT_ENABLE_AMBIENT_WAYPOINTS=false",
        waypoints_disabled_flag,
        fails={"WD102"},
    ),
    Scenario(
        "gateway-api-crds-absent",
        "the Gateway API CRDs are not installed: the gateway checks skip, no traceback",
        gateway_api_absent,
        fails={"WD103"},
        skips={"WD104", "WD303", "WD304", "WD305", "WD306", "WD307"},
    ),
    Scenario(
        "gateway-api-v1beta1-only",
        "old Gateway API CRDs that serve only v1beta1",
        gateway_api_v1beta1_only,
        fails={"WD103"},
        live=False,  # discovery edited in snapshot.yaml only
    ),
    Scenario(
        "gatewayclass-missing",
        "GatewayClass istio-waypoint deleted; istiod falls back to its built-in class",
        gateway_class_missing,
        fails=set(),
    ),
    Scenario(
        "gatewayclass-wrong-controller",
        "GatewayClass istio-waypoint names another controller",
        gateway_class_wrong_controller,
        fails={"WD104"},
    ),
    Scenario(
        "gatewayclass-pending",
        "GatewayClass istio-waypoint accepted by no controller",
        gateway_class_pending,
        fails={"WD104"},
    ),
    Scenario(
        "ambient-profile-forgotten",
        "istiod without ambient: no class, the waypoint Gateway Pending, no status anywhere",
        ambient_profile_forgotten,
        fails={"WD102", "WD306"},
        skips={"WD307", "WD308"},
    ),
    Scenario(
        "ztunnel-crashing-on-worker",
        "the ztunnel on the node of mlflow and its waypoint crash-loops",
        ztunnel_crashing_on_worker,
        fails={"WD105"},
    ),
    Scenario(
        "ztunnel-not-scheduled-tainted-node",
        "a taint keeps ztunnel off mlflow's node; mlflow is left pending",
        ztunnel_not_scheduled_on_tainted_node,
        fails={"WD105", "WD204"},
    ),
    Scenario("ztunnel-missing", "no ztunnel DaemonSet", ztunnel_missing, fails={"WD105"}),
    Scenario("istio-cni-missing", "no istio-cni DaemonSet", cni_missing, fails={"WD106"}),
    Scenario(
        "istio-cni-not-ready", "istio-cni not ready on the worker", cni_not_ready_on_worker, fails={"WD106"}
    ),
    Scenario(
        "istio-cni-without-ambient",
        "istio-cni installed with AMBIENT_ENABLED=false",
        cni_without_ambient,
        fails={"WD106"},
    ),
    Scenario(
        "mesh-configmap-absent",
        "no ConfigMap istio: the default trust domain is assumed",
        mesh_configmap_absent,
        fails=set(),
    ),
    Scenario(
        "mesh-config-unparsable",
        "the mesh key of ConfigMap istio is broken YAML",
        mesh_config_unparsable,
        fails=set(),
    ),
]
