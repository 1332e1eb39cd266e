"""Generalisation scenarios: clusters that differ from the kagenti MLflow base along realistic axes.

Most start from `tests/bases/bookinfo` (the istio.io docs setup: bookinfo in `default`, a
namespace-wide waypoint named `waypoint` bound by the Namespace label, an L7 policy attached to
the waypoint Gateway, a "require the waypoint" selector policy on productpage's pods, Istio 1.26,
three nodes). Each mutation plants what the cluster itself would show (istiod's status
conditions, the log lines the defect produces), and the expected statuses come from the
reference (`../shared/reference/istio-ambient.md`, section numbers in the comments).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import yaml

from scenariolib import REPO, Cluster, Scenario, no_change
from scenarios.edits import set_images

BOOKINFO = REPO / "tests" / "bases" / "bookinfo"
NS = "default"
SVC = "productpage"
GW = "waypoint"
ISTIO_NS = "istio-system"
WAYPOINT_POD = "waypoint-6f5c7d9b8d-tw4kx"
PRODUCTPAGE_POD = "productpage-v1-d5789fdfb-5cqxl"
CURL_POD = "curl-5b549b49b8-9vm7q"
L7_POLICY = "productpage-viewer"
L4_POLICY = "productpage-ztunnel"
ZTUNNEL_WORKER = "ztunnel-2mf8c"  # ambient-worker: curl, productpage
T0 = "2026-11-21T09:10:00Z"
TARGET = (NS, SVC)


def cond(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": T0}


def set_cond(c: Cluster, kind: str, ns: str, name: str, *conds: dict[str, Any]) -> None:
    for x in conds:
        c.set_condition(kind, ns, name, x)


def _ztunnel_line(
    minute: int,
    src: tuple[str, str, str, str],
    dst: tuple[str, str, str, str],
    *,
    direction: str,
    hbone: str,
    error: str | None = None,
    td: str = "cluster.local",
    extra_src: str = "",
    extra_dst: str = "",
) -> str:
    """One ztunnel access line: src/dst = (workload, namespace, ip, service account)."""
    level = "error" if error else "info"
    err = f' error="{error}"' if error else ""
    return (
        f"2026-11-21T14:{minute:02d}:07.{minute:06d}Z\t{level}\taccess\tconnection complete\t"
        f'src.addr={src[2]}:4{minute:04d} src.workload="{src[0]}" src.namespace="{src[1]}" '
        f'src.identity="spiffe://{td}/ns/{src[1]}/sa/{src[3]}"{extra_src} '
        f'dst.addr={dst[2]}:15008 dst.hbone_addr={hbone} dst.service="{SVC}.{NS}.svc.cluster.local" '
        f'dst.workload="{dst[0]}" dst.namespace="{dst[1]}" dst.identity="spiffe://{td}/ns/{dst[1]}/sa/{dst[3]}"'
        f'{extra_dst} direction="{direction}" bytes_sent=0 bytes_recv=0 duration="1ms"{err}'
    )


WAYPOINT_W = (WAYPOINT_POD, NS, "10.244.2.9", GW)
PRODUCTPAGE_W = (PRODUCTPAGE_POD, NS, "10.244.1.7", "bookinfo-productpage")
CURL_W = (CURL_POD, NS, "10.244.1.5", "curl")


def _rewrite_logs(c: Cluster, old: str, new: str) -> None:
    for key, text in list(c.logs.items()):
        c.logs[key] = text.replace(old, new)


def _l4_principals(c: Cluster, *principals: str) -> None:
    c.get("AuthorizationPolicy", NS, L4_POLICY)["spec"]["rules"] = [
        {"from": [{"source": {"principals": list(principals)}}]}
    ]


def _waypoint_hop_rejected(
    c: Cluster, reason: str | None = "allow policies exist, but none allowed", **kw
) -> None:
    """productpage's ztunnel refuses the waypoint's connection (reference 5.4, 6.1)."""
    error = "connection closed due to policy rejection" + (f": {reason}" if reason else "")
    c.append_log(
        ISTIO_NS,
        ZTUNNEL_WORKER,
        "istio-proxy",
        _ztunnel_line(
            24, WAYPOINT_W, PRODUCTPAGE_W, direction="inbound", hbone="10.244.1.7:9080", error=error, **kw
        ),
    )


# -- the docs' bookinfo setup ------------------------------------------------------------------
def bookinfo_l4_forgets_waypoint(c: Cluster) -> None:
    # the L4 policy from the "secure application access" doc, before the waypoint was added
    _l4_principals(c, "cluster.local/ns/default/sa/bookinfo-gateway-istio")
    _waypoint_hop_rejected(c)


def bookinfo_service_opted_out(c: Cluster) -> None:
    # productpage opts out of the namespace waypoint: istiod drops its WaypointBound condition
    c.label("Service", NS, SVC, "istio.io/use-waypoint", "none")
    c.get("Service", NS, SVC).pop("status", None)


def bookinfo_gateway_ref_core_group(c: Cluster) -> None:
    # kind Gateway with group "": the webhook refuses it; if it got in, the waypoint ignores it
    # while WaypointAccepted (which checks the kind only) still says True (reference 5.6)
    ref = c.get("AuthorizationPolicy", NS, L7_POLICY)["spec"]["targetRefs"][0]
    ref["group"] = ""


def bookinfo_ingress_gateway(c: Cluster) -> None:
    # the docs' bookinfo-gateway (class istio) in front of productpage, ingress-use-waypoint unset
    c.add(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "bookinfo-gateway", "namespace": NS},
            "spec": {
                "gatewayClassName": "istio",
                "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
            },
        }
    )


# -- cross-namespace waypoint (reference 2.1, 5.1) ---------------------------------------------
XNS = "istio-waypoints"


def _move_waypoint(c: Cluster, ns: str = XNS, allowed: dict[str, Any] | None = None) -> None:
    """The waypoint lives in `ns`; productpage binds with use-waypoint + use-waypoint-namespace."""
    c.add(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
        }
    )
    for kind in ("Gateway", "Service", "Deployment", "ServiceAccount"):
        obj = c.get(kind, NS, GW)
        obj["metadata"]["namespace"] = ns
    c.get("Pod", NS, WAYPOINT_POD)["metadata"]["namespace"] = ns
    gw = c.get("Gateway", ns, GW)
    if allowed is not None:
        gw["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": allowed}
    host = f"{GW}.{ns}.svc.cluster.local"
    gw["status"]["addresses"][1]["value"] = host
    gw["status"]["conditions"][1]["message"] = f"Resource programmed, assigned to service(s) {host}:15008"
    c.unlabel("Namespace", None, NS, "istio.io/use-waypoint")
    for svc in list(c.find_all("Service", NS)):
        if svc.get("status"):
            svc.pop("status")
    c.label("Service", NS, SVC, "istio.io/use-waypoint", GW)
    c.label("Service", NS, SVC, "istio.io/use-waypoint-namespace", ns)
    set_cond(
        c,
        "Service",
        NS,
        SVC,
        cond(
            "istio.io/WaypointBound",
            "True",
            "WaypointAccepted",
            f"Successfully attached to waypoint {ns}/{GW}",
        ),
    )
    # the L7 policy lives with the Service (a Gateway targetRef would have to live in `ns`)
    pol = c.get("AuthorizationPolicy", NS, L7_POLICY)
    pol["spec"]["targetRefs"] = [{"kind": "Service", "group": "", "name": SVC}]
    set_cond(
        c,
        "AuthorizationPolicy",
        NS,
        L7_POLICY,
        cond("WaypointAccepted", "True", "Accepted", f"bound to {ns}/{GW}"),
    )
    _l4_principals(c, f"cluster.local/ns/{ns}/sa/{GW}")
    # logs: the waypoint's identity and namespace change
    old_key = (NS, WAYPOINT_POD, "istio-proxy")
    c.logs[(ns, WAYPOINT_POD, "istio-proxy")] = c.logs.pop(old_key)
    for key, text in list(c.logs.items()):
        c.logs[key] = text.replace(
            f'src.namespace="{NS}" src.identity="spiffe://cluster.local/ns/{NS}/sa/{GW}"',
            f'src.namespace="{ns}" src.identity="spiffe://cluster.local/ns/{ns}/sa/{GW}"',
        ).replace(
            f'dst.namespace="{NS}" dst.identity="spiffe://cluster.local/ns/{NS}/sa/{GW}"',
            f'dst.namespace="{ns}" dst.identity="spiffe://cluster.local/ns/{ns}/sa/{GW}"',
        )


def xns_healthy(c: Cluster) -> None:
    _move_waypoint(c, allowed={"from": "All"})


def xns_same_only(c: Cluster) -> None:
    _move_waypoint(c, allowed=None)
    set_cond(
        c,
        "Service",
        NS,
        SVC,
        cond(
            "istio.io/WaypointBound",
            "False",
            "AttachmentDenied",
            f'we are not permitted to attach to waypoint "{XNS}/{GW}" (missing allowedRoutes?)',
        ),
    )
    set_cond(
        c,
        "AuthorizationPolicy",
        NS,
        L7_POLICY,
        cond(
            "WaypointAccepted", "False", "AncestorNotBound", f"Service {NS}/{SVC} is not bound to a waypoint"
        ),
    )


def xns_l4_admits_wrong_namespace(c: Cluster) -> None:
    # the "require waypoint" policy still names the waypoint as if it lived in `default`
    _move_waypoint(c, allowed={"from": "All"})
    _l4_principals(c, f"cluster.local/ns/{NS}/sa/{GW}")
    line = _ztunnel_line(
        24,
        (WAYPOINT_POD, XNS, "10.244.2.9", GW),
        PRODUCTPAGE_W,
        direction="inbound",
        hbone="10.244.1.7:9080",
        error="connection closed due to policy rejection: allow policies exist, but none allowed",
    )
    c.append_log(ISTIO_NS, ZTUNNEL_WORKER, "istio-proxy", line)


def xns_gateway_ref_from_service_ns(c: Cluster) -> None:
    # the policy targets the Gateway by name from the Service's namespace: no such Gateway there
    _move_waypoint(c, allowed={"from": "All"})
    pol = c.get("AuthorizationPolicy", NS, L7_POLICY)
    pol["spec"]["targetRefs"] = [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": GW}]
    set_cond(
        c,
        "AuthorizationPolicy",
        NS,
        L7_POLICY,
        cond("WaypointAccepted", "False", "TargetNotFound", "not bound"),
    )


# -- custom trust domain (reference 4, 5.3, 5.6) -----------------------------------------------
TD = "prod.example.com"


def _custom_trust_domain(c: Cluster) -> None:
    cm = c.get("ConfigMap", ISTIO_NS, "istio")
    cm["data"]["mesh"] = (
        "defaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\n"
        f"rootNamespace: istio-system\ntrustDomain: {TD}\n"
        "trustDomainAliases:\n- old.example.com\n- cluster.local\n"
    )
    _rewrite_logs(c, "spiffe://cluster.local/", f"spiffe://{TD}/")


def custom_td_healthy(c: Cluster) -> None:
    # the L7 policy keeps cluster.local principals: the waypoint treats them as the local trust
    # domain (reference 5.6); the ztunnel policy is written in the real trust domain
    _custom_trust_domain(c)
    _l4_principals(c, f"{TD}/ns/{NS}/sa/{GW}")


def custom_td_ztunnel_cluster_local(c: Cluster) -> None:
    # ztunnel compares principals literally: cluster.local never matches prod.example.com
    _custom_trust_domain(c)
    _waypoint_hop_rejected(c, td=TD)


def custom_td_alias_principals(c: Cluster) -> None:
    # principals in an alias trust domain: rewritten at the waypoint, healthy there
    _custom_trust_domain(c)
    _l4_principals(c, f"{TD}/ns/{NS}/sa/{GW}")
    rules = c.get("AuthorizationPolicy", NS, L7_POLICY)["spec"]["rules"]
    rules[0]["from"][0]["source"]["principals"] = ["old.example.com/ns/default/sa/curl"]


# -- Istio 1.23 (reference 0, 1.3, 2.2, 6.1) ---------------------------------------------------
def _istio_123(c: Cluster) -> None:
    """No ambient status conditions; legacy waypoint pod label; pre-1.24 rejection format."""
    set_images(c, "1.23.4")
    for svc in c.find_all("Service"):
        svc.pop("status", None)
    for pol in c.find_all("AuthorizationPolicy"):
        pol.pop("status", None)
    for pod in c.find_all("Pod"):
        labels = pod["metadata"].get("labels", {})
        if "gateway.networking.k8s.io/gateway-name" in labels:
            labels["istio.io/gateway-name"] = labels["gateway.networking.k8s.io/gateway-name"]


def istio_123_healthy(c: Cluster) -> None:
    _istio_123(c)


def istio_123_legacy_label_only(c: Cluster) -> None:
    # a waypoint pod labelled only with istio.io/gateway-name (hand-built or trimmed snapshot)
    _istio_123(c)
    c.unlabel("Pod", NS, WAYPOINT_POD, "gateway.networking.k8s.io/gateway-name")


def istio_123_hop_rejected(c: Cluster) -> None:
    _istio_123(c)
    _l4_principals(c, "cluster.local/ns/default/sa/bookinfo-gateway-istio")
    _waypoint_hop_rejected(c, reason=None)


def istio_123_gatewayclass_policy(c: Cluster) -> None:
    # a GatewayClass targetRef needs 1.25 (reference 0, 5.1): on 1.23 the webhook refuses it
    _istio_123(c)
    c.add(_gatewayclass_policy(ISTIO_NS))


# -- Istio 1.31 (reference 0, 2.1, 6.1) --------------------------------------------------------
CLUSTER_FIELDS = (' src.cluster="Kubernetes"', ' dst.cluster="Kubernetes"')


def istio_131_healthy(c: Cluster) -> None:
    set_images(c, "1.31.0")
    for key, text in list(c.logs.items()):
        if key[0] == ISTIO_NS:
            c.logs[key] = text.replace(" dst.addr=", CLUSTER_FIELDS[0] + " dst.addr=").replace(
                " direction=", CLUSTER_FIELDS[1] + " direction="
            )
    # a canary waypoint on the namespace: 10% of productpage's traffic
    c.label("Namespace", None, NS, "istio.io/use-waypoint-canary", "waypoint-canary")
    ns = c.get("Namespace", None, NS)
    ns["metadata"].setdefault("annotations", {})["istio.io/use-waypoint-canary-weight"] = "10"
    gw = copy.deepcopy(c.get("Gateway", NS, GW))
    gw["metadata"]["name"] = "waypoint-canary"
    gw["status"]["addresses"] = [
        {"type": "IPAddress", "value": "10.96.172.240"},
        {"type": "Hostname", "value": "waypoint-canary.default.svc.cluster.local"},
    ]
    c.add(gw)


def istio_131_hop_rejected(c: Cluster) -> None:
    istio_131_healthy(c)
    _l4_principals(c, "cluster.local/ns/default/sa/bookinfo-gateway-istio")
    _waypoint_hop_rejected(c, extra_src=CLUSTER_FIELDS[0], extra_dst=CLUSTER_FIELDS[1])


# -- revisioned control plane (reference 3, 4) -------------------------------------------------
def _revisioned(c: Cluster) -> None:
    istiod = c.get("Deployment", ISTIO_NS, "istiod")
    istiod["metadata"]["name"] = "istiod-1-28"
    for labels in (
        istiod["metadata"]["labels"],
        istiod["spec"]["selector"]["matchLabels"],
        istiod["spec"]["template"]["metadata"]["labels"],
    ):
        labels["istio.io/rev"] = "1-28"
    for env in istiod["spec"]["template"]["spec"]["containers"][0]["env"]:
        if env["name"] == "REVISION":
            env["value"] = "1-28"
    for p in c.find_all("Pod", ISTIO_NS):
        if p["metadata"]["labels"].get("app") == "istiod":
            p["metadata"]["labels"]["istio.io/rev"] = "1-28"
            p["metadata"]["name"] = "istiod-1-28-7b9f6d5c4-k8z2p"
    cm = c.get("ConfigMap", ISTIO_NS, "istio")
    cm["metadata"]["name"] = "istio-1-28"
    cm["metadata"]["labels"]["istio.io/rev"] = "1-28"
    cm["data"]["mesh"] = cm["data"]["mesh"].replace("istiod.istio-system", "istiod-1-28.istio-system")
    c.annotate("Pod", NS, WAYPOINT_POD, "istio.io/rev", "1-28")
    set_images(c, "1.28.2")


def revisioned_healthy(c: Cluster) -> None:
    _revisioned(c)


def revisioned_namespace_rev_label(c: Cluster) -> None:
    # istio.io/rev on an ambient namespace: the 1-28 injector adds sidecars (reference 3)
    _revisioned(c)
    c.label("Namespace", None, NS, "istio.io/rev", "1-28")


# -- service shapes ----------------------------------------------------------------------------
def multi_port_named_target(c: Cluster) -> None:
    svc = c.get("Service", NS, SVC)
    svc["spec"]["ports"] = [
        {"name": "http", "port": 9080, "protocol": "TCP", "targetPort": "http-web"},
        {"name": "grpc-api", "port": 9090, "protocol": "TCP", "targetPort": 9090, "appProtocol": "grpc"},
        {"name": "metrics", "port": 15020, "protocol": "TCP", "targetPort": 15020},
    ]
    p = c.get("Pod", NS, PRODUCTPAGE_POD)
    p["spec"]["containers"][0]["ports"] = [
        {"name": "http-web", "containerPort": 9080},
        {"name": "grpc", "containerPort": 9090},
    ]


def headless_service(c: Cluster) -> None:
    c.get("Service", NS, SVC)["spec"]["clusterIP"] = "None"


def _more_productpage_pods(c: Cluster) -> list[dict[str, Any]]:
    base = c.get("Pod", NS, PRODUCTPAGE_POD)
    out = []
    for suffix, node, ip in (
        ("7kqzt", "ambient-worker2", "10.244.2.17"),
        ("m2xwd", "ambient-control-plane", "10.244.0.30"),
    ):
        p = copy.deepcopy(base)
        p["metadata"]["name"] = f"productpage-v1-d5789fdfb-{suffix}"
        p["spec"]["nodeName"] = node
        p["status"]["podIP"] = ip
        c.add(p)
        out.append(p)
    return out


def _quiet_ztunnel_logs(c: Cluster, *pods: str) -> None:
    for name in pods:
        c.append_log(
            ISTIO_NS,
            name,
            "istio-proxy",
            "2026-11-21T14:10:00.000000Z\tinfo\tproxy::inbound\tlistener established\t"
            'address=[::]:15008 component="inbound" transparent=true',
        )


def pods_on_three_nodes(c: Cluster) -> None:
    _more_productpage_pods(c)
    _quiet_ztunnel_logs(c, "ztunnel-h7tqn", "ztunnel-x9l4r")


def pods_on_three_nodes_ztunnel_down(c: Cluster) -> None:
    # the ztunnel on the control-plane node (which now hosts a productpage pod) crash-loops
    _more_productpage_pods(c)
    _quiet_ztunnel_logs(c, "ztunnel-x9l4r")
    zt = c.get("Pod", ISTIO_NS, "ztunnel-h7tqn")
    zt["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    zt["status"]["containerStatuses"][0].update(
        ready=False, restartCount=9, state={"waiting": {"reason": "CrashLoopBackOff"}}
    )
    ds = c.get("DaemonSet", ISTIO_NS, "ztunnel")
    ds["status"].update(numberReady=2, numberAvailable=2, numberUnavailable=1)


def waypoint_two_replicas_one_crashing(c: Cluster) -> None:
    # two replicas; one crash-loops, the other serves: the address stays, binding holds
    p = copy.deepcopy(c.get("Pod", NS, WAYPOINT_POD))
    p["metadata"]["name"] = "waypoint-6f5c7d9b8d-zq8lc"
    p["spec"]["nodeName"] = "ambient-worker"
    p["status"]["podIP"] = "10.244.1.31"
    p["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    p["status"]["containerStatuses"][0].update(
        ready=False,
        restartCount=7,
        state={"waiting": {"reason": "CrashLoopBackOff"}},
        lastState={"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-11-21T14:27:00Z"}},
    )
    c.add(p)
    dep = c.get("Deployment", NS, GW)
    dep["spec"]["replicas"] = 2
    dep["status"] = {"replicas": 2, "readyReplicas": 1, "availableReplicas": 1, "unavailableReplicas": 1}


# -- root namespace policies (reference 5.1, 5.3, 5.4) -----------------------------------------
def _mesh_allow_nothing() -> dict[str, Any]:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "allow-nothing", "namespace": ISTIO_NS},
        "spec": {},
        "status": {"conditions": [cond("ZtunnelAccepted", "True", "Accepted", "attached to ztunnel")]},
    }


def _gatewayclass_policy(ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "waypoint-default-allow-nothing", "namespace": ns},
        # a mesh-wide default on every waypoint: allow nothing unless another ALLOW matches
        "spec": {
            "targetRefs": [
                {"kind": "GatewayClass", "group": "gateway.networking.k8s.io", "name": "istio-waypoint"}
            ]
        },
    }


def mesh_allow_nothing_with_waypoint_allow(c: Cluster) -> None:
    # the mesh-wide allow-nothing applies at productpage's ztunnel; the selector ALLOW for the
    # waypoint identity still admits the hop (ALLOW policies are ORed, reference 5.3)
    c.add(_mesh_allow_nothing())


def mesh_allow_nothing_blocks_hop(c: Cluster) -> None:
    c.add(_mesh_allow_nothing())
    c.remove("AuthorizationPolicy", NS, L4_POLICY)
    _waypoint_hop_rejected(c)


def gatewayclass_policy_root(c: Cluster) -> None:
    pol = _gatewayclass_policy(ISTIO_NS)
    pol["status"] = {"conditions": [cond("WaypointAccepted", "True", "Accepted", "bound to istio-waypoint")]}
    c.add(pol)


def gatewayclass_policy_not_root(c: Cluster) -> None:
    pol = _gatewayclass_policy(NS)
    pol["status"] = {
        "conditions": [
            cond(
                "WaypointAccepted",
                "False",
                "Invalid",
                "AuthorizationPolicy must be in the root namespace `istio-system` when referencing a GatewayClass",
            )
        ]
    }
    c.add(pol)


# -- names that look like other things ---------------------------------------------------------
def _rename_everywhere(c: Cluster, pairs: list[tuple[str, str]]) -> None:
    """Rename through a YAML round trip of the whole cluster (objects and logs)."""
    text = yaml.safe_dump_all(c.objects, sort_keys=False)
    for old, new in pairs:
        text = text.replace(old, new)
    c.objects = [d for d in yaml.safe_load_all(text) if d]
    logs = {}
    for (ns, pod, container), log in c.logs.items():
        key = [ns, pod, container]
        for old, new in pairs:
            log = log.replace(old, new)
            key = [k.replace(old, new) for k in key]
        logs[tuple(key)] = log
    c.logs = logs


LONG_NS = "team-42-payments-eu-west-1-production-3f9c2a7b1d"


def long_names_with_digits(c: Cluster) -> None:
    _rename_everywhere(
        c,
        [
            ("productpage", "checkout-api-v2-0-1"),
            ("/ns/default/", f"/ns/{LONG_NS}/"),
            ("namespace: default", f"namespace: {LONG_NS}"),
            (
                "name: default\n  labels:\n    kubernetes.io/metadata.name: default",
                f"name: {LONG_NS}\n  labels:\n    kubernetes.io/metadata.name: {LONG_NS}",
            ),
            ('namespace="default"', f'namespace="{LONG_NS}"'),
            (".default.svc", f".{LONG_NS}.svc"),
            ("default/waypoint", f"{LONG_NS}/waypoint"),
            ("default/productpage", f"{LONG_NS}/productpage"),
        ],
    )
    for key in list(c.logs):
        if key[0] == NS:
            c.logs[(LONG_NS, key[1], key[2])] = c.logs.pop(key)


def names_like_keywords(c: Cluster) -> None:
    # namespace `istio` (not istio-system), the target Service named `waypoint`, the waypoint
    # Gateway named `default` (its ServiceAccount `default` is also every pod's default SA)
    _rename_everywhere(
        c,
        [
            ("sa/waypoint", "sa/GWSA"),
            ("waypoint-6f5c7d9b8d-tw4kx", "GWPOD"),
            ("productpage", "PP"),
            ("/ns/default/", "/ns/istio/"),
            ('namespace="default"', 'namespace="istio"'),
            ("namespace: default", "namespace: istio"),
            (".default.svc", ".istio.svc"),
            ("default/waypoint", "istio/GWNAME"),
            ("default/PP", "istio/waypoint"),
            ("kubernetes.io/metadata.name: default", "kubernetes.io/metadata.name: istio"),
        ],
    )
    ns = c.get("Namespace", None, NS)
    ns["metadata"]["name"] = "istio"
    ns["metadata"]["labels"]["istio.io/use-waypoint"] = "default"
    for obj in c.objects:
        md = obj.get("metadata", {})
        if (
            md.get("namespace") == "istio"
            and md.get("name") == GW
            and obj["kind"] in ("Gateway", "Service", "Deployment", "ServiceAccount")
        ):
            md["name"] = "default-gw-tmp"
    text = yaml.safe_dump_all(c.objects, sort_keys=False)
    for old, new in [
        ("gateway-name: waypoint", "gateway-name: default"),
        ("canonical-name: waypoint", "canonical-name: default"),
        ("name: waypoint\n", "name: default\n"),
        ("waypoint.istio.svc", "default.istio.svc"),
        ("istio/GWNAME", "istio/default"),
        ("sa/GWSA", "sa/default"),
        ("GWPOD", "default-6f5c7d9b8d-tw4kx"),
        ("PP", "waypoint"),
        ("default-gw-tmp", "default"),
    ]:
        text = text.replace(old, new)
    c.objects = [d for d in yaml.safe_load_all(text) if d]
    # the ServiceAccount `default` exists already: keep one
    seen = False
    kept = []
    for o in c.objects:
        if (
            o["kind"] == "ServiceAccount"
            and o["metadata"]["name"] == "default"
            and o["metadata"].get("namespace") == "istio"
        ):
            if seen:
                continue
            seen = True
        kept.append(o)
    c.objects = kept
    logs = {}
    for (lns, pod, container), log in c.logs.items():
        for old, new in [
            ('dst.workload="GWPOD"', 'dst.workload="default-6f5c7d9b8d-tw4kx"'),
            ('src.workload="GWPOD"', 'src.workload="default-6f5c7d9b8d-tw4kx"'),
            ("sa/GWSA", "sa/default"),
            ("PP", "waypoint"),
        ]:
            log = log.replace(old, new)
        lns = "istio" if lns == NS else lns
        pod = pod.replace("GWPOD", "default-6f5c7d9b8d-tw4kx")
        logs[(lns, pod, container)] = log
    c.logs = logs


# -- malformed objects: findings, never `error` ------------------------------------------------
def malformed_target_refs_mapping(c: Cluster) -> None:
    pol = c.get("AuthorizationPolicy", NS, L7_POLICY)
    pol["spec"]["targetRefs"] = {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": GW}


def malformed_principals_string(c: Cluster) -> None:
    pol = c.get("AuthorizationPolicy", NS, L7_POLICY)
    pol["spec"]["rules"][0]["from"][0]["source"]["principals"] = "cluster.local/ns/default/sa/curl"


def malformed_rules_mapping(c: Cluster) -> None:
    pol = c.get("AuthorizationPolicy", NS, L4_POLICY)
    pol["spec"]["rules"] = {"from": [{"source": {"principals": ["cluster.local/ns/default/sa/waypoint"]}}]}


def malformed_listeners_and_conditions(c: Cluster) -> None:
    gw = c.get("Gateway", NS, GW)
    gw["spec"]["listeners"] = {"name": "mesh", "port": "15008", "protocol": "HBONE"}
    gw["status"]["listeners"] = "mesh"


def malformed_misc(c: Cluster) -> None:
    # numbers and nulls where strings and lists belong, all over the objects the checks read
    c.get("Namespace", None, NS)["metadata"]["labels"]["istio.io/dataplane-mode"] = None
    svc = c.get("Service", NS, SVC)
    svc["spec"]["ports"] = "9080"
    svc["status"]["conditions"] = {"type": "istio.io/WaypointBound"}
    p = c.get("Pod", NS, PRODUCTPAGE_POD)
    p["status"]["containerStatuses"] = None
    p["metadata"]["annotations"] = ["ambient.istio.io/redirection=enabled"]
    c.get("Pod", NS, WAYPOINT_POD)["status"]["conditions"] = "Ready"
    pol = c.get("AuthorizationPolicy", NS, L7_POLICY)
    pol["spec"]["rules"][1]["to"] = [{"operation": {"methods": "GET", "paths": 7}}]
    pol["spec"]["action"] = 3


def _bookinfo(name: str, doc: str, mutate, fails, warns=frozenset(), **kw: Any) -> Scenario:
    """A bookinfo-based scenario; `warns` is exact unless None."""
    return Scenario(
        name,
        doc,
        mutate,
        fails=set(fails),
        warns=None if warns is None else set(warns),
        target=kw.pop("target", TARGET),
        base=kw.pop("base", BOOKINFO),
        **kw,
    )


PRE_124_SKIPS = {"WD308", "WD408"}  # no status conditions before 1.24 (reference 0, 2.2)

SCENARIOS = [
    # the classic istio.io setup
    _bookinfo(
        "general-bookinfo-healthy", "bookinfo: namespace waypoint, Gateway-targeted policy", no_change, set()
    ),
    _bookinfo(
        "general-bookinfo-l4-forgets-waypoint",
        "productpage's ztunnel ALLOW names only the ingress gateway, not the waypoint (5.4)",
        bookinfo_l4_forgets_waypoint,
        {"WD409", "WD502"},
    ),
    _bookinfo(
        "general-bookinfo-service-opted-out",
        "productpage says use-waypoint=none against the namespace's waypoint (2.1)",
        bookinfo_service_opted_out,
        {"WD302"},
    ),
    _bookinfo(
        "general-bookinfo-gateway-ref-core-group",
        'targetRef kind Gateway with group "": ignored by the waypoint, status still True (5.6)',
        bookinfo_gateway_ref_core_group,
        {"WD402"},
    ),
    _bookinfo(
        "general-bookinfo-ingress-bypass",
        "the docs' bookinfo-gateway in front of productpage, ingress-use-waypoint unset (2.1)",
        bookinfo_ingress_gateway,
        set(),
        {"WD309"},
    ),
    # cross-namespace waypoint
    _bookinfo("general-xns-healthy", "waypoint in istio-waypoints, allowedRoutes All", xns_healthy, set()),
    _bookinfo(
        "general-xns-same-only",
        "waypoint in istio-waypoints without allowedRoutes: AttachmentDenied",
        xns_same_only,
        {"WD303", "WD308", "WD408"},
    ),
    _bookinfo(
        "general-xns-l4-admits-wrong-namespace",
        "the require-waypoint policy names default/sa/waypoint, the waypoint runs in istio-waypoints",
        xns_l4_admits_wrong_namespace,
        {"WD406", "WD409", "WD502"},
    ),
    _bookinfo(
        "general-xns-gateway-ref-from-service-ns",
        "the L7 policy targets Gateway waypoint from default; the Gateway lives in istio-waypoints (5.1)",
        xns_gateway_ref_from_service_ns,
        {"WD402", "WD403", "WD408"},
    ),
    # custom trust domain
    _bookinfo(
        "general-custom-td-healthy",
        "trustDomain prod.example.com; L7 principals in cluster.local (rewritten at the waypoint, 5.6)",
        custom_td_healthy,
        set(),
    ),
    _bookinfo(
        "general-custom-td-ztunnel-cluster-local",
        "trustDomain prod.example.com; the ztunnel policy names cluster.local/.../sa/waypoint (5.3, 5.6)",
        custom_td_ztunnel_cluster_local,
        {"WD405", "WD409", "WD502"},
    ),
    _bookinfo(
        "general-custom-td-alias-principals",
        "an L7 principal in the alias trust domain old.example.com",
        custom_td_alias_principals,
        set(),
    ),
    # Istio 1.23
    _bookinfo(
        "general-istio-1.23-healthy",
        "1.23: no conditions, legacy pod label",
        istio_123_healthy,
        set(),
        skips=PRE_124_SKIPS,
    ),
    _bookinfo(
        "general-istio-1.23-legacy-label-only",
        "1.23: the waypoint pod carries only istio.io/gateway-name",
        istio_123_legacy_label_only,
        set(),
        skips=PRE_124_SKIPS,
    ),
    _bookinfo(
        "general-istio-1.23-hop-rejected",
        "1.23: the waypoint hop rejected, logged without a reason",
        istio_123_hop_rejected,
        {"WD409", "WD502"},
        skips=PRE_124_SKIPS,
    ),
    _bookinfo(
        "general-istio-1.23-gatewayclass-policy",
        "1.23: a GatewayClass targetRef (1.25+) in the root namespace",
        istio_123_gatewayclass_policy,
        {"WD402"},
        skips=PRE_124_SKIPS,
    ),
    # Istio 1.31
    _bookinfo(
        "general-istio-1.31-healthy",
        "1.31: src.cluster/dst.cluster in logs, a canary waypoint",
        istio_131_healthy,
        set(),
    ),
    _bookinfo(
        "general-istio-1.31-hop-rejected",
        "1.31: the waypoint hop rejected, log line with src.cluster/dst.cluster",
        istio_131_hop_rejected,
        {"WD409", "WD502"},
    ),
    # revisioned control plane
    _bookinfo("general-revisioned-healthy", "istiod-1-28, ConfigMap istio-1-28", revisioned_healthy, set()),
    _bookinfo(
        "general-revisioned-namespace-rev-label",
        "istio.io/rev=1-28 on the ambient namespace (3)",
        revisioned_namespace_rev_label,
        {"WD203"},
    ),
    # service shapes
    _bookinfo(
        "general-multi-port-named-target", "three ports, a named targetPort", multi_port_named_target, set()
    ),
    # headless: clients dial pod IPs, which a `service` waypoint does not intercept (1.2). The
    # reference does not say headless in so many words: we grade it warn, not fail.
    _bookinfo("general-headless-service", "productpage is headless", headless_service, set(), {"WD305"}),
    _bookinfo("general-pods-on-three-nodes", "productpage on three nodes", pods_on_three_nodes, set()),
    _bookinfo(
        "general-pods-on-three-nodes-ztunnel-down",
        "productpage on three nodes; the control-plane node's ztunnel crash-loops",
        pods_on_three_nodes_ztunnel_down,
        {"WD105"},  # WD502 may skip: offline, the crash-looping ztunnel left no log
    ),
    _bookinfo(
        "general-waypoint-two-replicas-one-crashing",
        "two waypoint replicas, one crash-loops: traffic still served",
        waypoint_two_replicas_one_crashing,
        set(),
        {"WD307"},
    ),
    # root namespace policies
    _bookinfo(
        "general-mesh-allow-nothing-with-waypoint-allow",
        "istio-system allow-nothing beside productpage's ALLOW for the waypoint (5.3, 5.4)",
        mesh_allow_nothing_with_waypoint_allow,
        set(),
    ),
    _bookinfo(
        "general-mesh-allow-nothing-blocks-hop",
        "istio-system allow-nothing alone: the waypoint hop is denied (5.1, 5.4)",
        mesh_allow_nothing_blocks_hop,
        {"WD409", "WD502"},
        {"WD410"},
    ),
    _bookinfo(
        "general-gatewayclass-policy-root",
        "an allow-nothing on every waypoint (GatewayClass, root namespace) beside the Gateway's ALLOW",
        gatewayclass_policy_root,
        set(),
    ),
    _bookinfo(
        "general-gatewayclass-policy-not-root",
        "a GatewayClass-targeted policy in default, not the root namespace",
        gatewayclass_policy_not_root,
        {"WD402", "WD408"},
    ),
    # names
    _bookinfo(
        "general-long-names-with-digits",
        "a 49-character namespace and a Service named checkout-api-v2-0-1",
        long_names_with_digits,
        set(),
        target=(LONG_NS, "checkout-api-v2-0-1"),
    ),
    _bookinfo(
        "general-names-like-keywords",
        "namespace istio, Service named waypoint, waypoint Gateway named default",
        names_like_keywords,
        set(),
        target=("istio", "waypoint"),
    ),
    # malformed objects: findings, never `error`
    _bookinfo(
        "general-malformed-target-refs", "targetRefs is a mapping", malformed_target_refs_mapping, {"WD402"}
    ),
    _bookinfo(
        "general-malformed-principals", "principals is a string", malformed_principals_string, {"WD407"}
    ),
    _bookinfo("general-malformed-rules", "rules is a mapping", malformed_rules_mapping, {"WD407"}),
    _bookinfo(
        "general-malformed-listeners",
        "listeners is a mapping, status.listeners a string",
        malformed_listeners_and_conditions,
        {"WD304"},
    ),
    _bookinfo(
        "general-malformed-misc",
        "nulls, strings, numbers and mappings where other types belong",
        malformed_misc,
        {"WD202", "WD204", "WD307", "WD407"},
        warns=None,
    ),
]


# -- second round --------------------------------------------------------------------------------
def xns_gateway_policy_in_waypoint_ns(c: Cluster) -> None:
    # the L7 policy lives with the waypoint and targets its Gateway: the right place (5.1)
    _move_waypoint(c, allowed={"from": "All"})
    pol = c.get("AuthorizationPolicy", NS, L7_POLICY)
    pol["metadata"]["namespace"] = XNS
    pol["spec"]["targetRefs"] = [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": GW}]


def xns_bound_by_namespace(c: Cluster) -> None:
    # the Namespace carries use-waypoint and use-waypoint-namespace; the Service nothing
    _move_waypoint(c, allowed={"from": "All"})
    c.unlabel("Service", NS, SVC, "istio.io/use-waypoint")
    c.unlabel("Service", NS, SVC, "istio.io/use-waypoint-namespace")
    c.label("Namespace", None, NS, "istio.io/use-waypoint", GW)
    c.label("Namespace", None, NS, "istio.io/use-waypoint-namespace", XNS)


def _move_namespace(c: Cluster, kind: str, label: str, value: str, ns: str) -> None:
    for obj in c.objects:
        if obj.get("kind") in kind.split(",") and obj.get("metadata", {}).get("namespace") == ISTIO_NS:
            labels = obj["metadata"].get("labels", {})
            if labels.get(label) == value or obj["metadata"]["name"].startswith(value):
                obj["metadata"]["namespace"] = ns
    for key in [k for k in c.logs if k[0] == ISTIO_NS and k[1].startswith(value)]:
        c.logs[(ns, key[1], key[2])] = c.logs.pop(key)


def ztunnel_and_cni_elsewhere(c: Cluster) -> None:
    # ztunnel in its own namespace, istio-cni in kube-system (as GKE requires)
    c.add(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "ztunnel", "labels": {"kubernetes.io/metadata.name": "ztunnel"}},
        }
    )
    _move_namespace(c, "DaemonSet,Pod,ServiceAccount", "app", "ztunnel", "ztunnel")
    _move_namespace(c, "DaemonSet,Pod,ServiceAccount", "k8s-app", "istio-cni", "kube-system")


def istiod_custom_namespace(c: Cluster) -> None:
    # the whole control plane in istio-control; rootNamespace follows; a mesh-wide policy there
    _waypoint_hop_rejected(c)
    c.add(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "istio-control", "labels": {"kubernetes.io/metadata.name": "istio-control"}},
        }
    )
    for obj in c.objects:
        md = obj.get("metadata", {})
        if md.get("namespace") == ISTIO_NS:
            md["namespace"] = "istio-control"
    for key in [k for k in c.logs if k[0] == ISTIO_NS]:
        c.logs[("istio-control", key[1], key[2])] = c.logs.pop(key)
    cm = c.get("ConfigMap", "istio-control", "istio")
    cm["data"]["mesh"] = cm["data"]["mesh"].replace("istio-system", "istio-control")
    pol = _mesh_allow_nothing()
    pol["metadata"]["namespace"] = "istio-control"
    c.add(pol)
    c.remove("AuthorizationPolicy", NS, L4_POLICY)


def old_ztunnel_log_quoting(c: Cluster) -> None:
    # 2024 ztunnel quoted dst.hbone_addr (6.1); rejection without a reason (1.23)
    _istio_123(c)
    _l4_principals(c, "cluster.local/ns/default/sa/bookinfo-gateway-istio")
    _waypoint_hop_rejected(c, reason=None)
    for key, text in list(c.logs.items()):
        c.logs[key] = re.sub(r"dst\.hbone_addr=([0-9.:]+)", r'dst.hbone_addr="\1"', text)


def ztunnel_json_logs(c: Cluster) -> None:
    # ztunnel with logAsJson: the rejection of the waypoint's hop (6.1)
    _l4_principals(c, "cluster.local/ns/default/sa/bookinfo-gateway-istio")
    line = {
        "level": "error",
        "time": "2026-11-21T14:24:07.000024Z",
        "scope": "access",
        "message": "connection complete",
        "src.addr": "10.244.2.9:41270",
        "src.workload": WAYPOINT_POD,
        "src.namespace": NS,
        "src.identity": f"spiffe://cluster.local/ns/{NS}/sa/{GW}",
        "dst.addr": "10.244.1.7:15008",
        "dst.hbone_addr": "10.244.1.7:9080",
        "dst.service": f"{SVC}.{NS}.svc.cluster.local",
        "dst.workload": PRODUCTPAGE_POD,
        "dst.namespace": NS,
        "dst.identity": f"spiffe://cluster.local/ns/{NS}/sa/bookinfo-productpage",
        "direction": "inbound",
        "bytes_sent": 0,
        "bytes_recv": 0,
        "duration": "0ms",
        "error": "connection closed due to policy rejection: allow policies exist, but none allowed",
    }
    c.append_log(ISTIO_NS, ZTUNNEL_WORKER, "istio-proxy", json.dumps(line))


def waypoint_for_all_workload_bound(c: Cluster) -> None:
    # waypoint-for all, pods labelled too: healthy
    c.label("Gateway", NS, GW, "istio.io/waypoint-for", "all")


SCENARIOS += [
    _bookinfo(
        "general-xns-gateway-policy-in-waypoint-ns",
        "cross-namespace waypoint; the L7 policy lives with it and targets its Gateway (5.1)",
        xns_gateway_policy_in_waypoint_ns,
        set(),
    ),
    _bookinfo(
        "general-xns-bound-by-namespace",
        "cross-namespace waypoint bound by the Namespace's use-waypoint and use-waypoint-namespace",
        xns_bound_by_namespace,
        set(),
    ),
    _bookinfo(
        "general-ztunnel-and-cni-elsewhere",
        "ztunnel in namespace ztunnel, istio-cni in kube-system",
        ztunnel_and_cni_elsewhere,
        set(),
    ),
    _bookinfo(
        "general-istiod-custom-namespace",
        "control plane and root namespace istio-control; an allow-nothing there blocks the hop",
        istiod_custom_namespace,
        {"WD409", "WD502"},
        {"WD410"},
    ),
    _bookinfo(
        "general-old-ztunnel-log-quoting",
        "1.23 log lines with a quoted dst.hbone_addr and a reasonless rejection",
        old_ztunnel_log_quoting,
        {"WD409", "WD502"},
        skips=PRE_124_SKIPS,
    ),
    _bookinfo(
        "general-ztunnel-json-logs",
        "ztunnel logAsJson: the hop rejection",
        ztunnel_json_logs,
        {"WD409", "WD502"},
    ),
    _bookinfo("general-waypoint-for-all", "waypoint-for all", waypoint_for_all_workload_bound, set()),
]


def istio_122_cross_namespace(c: Cluster) -> None:
    # use-waypoint-namespace arrived in 1.23 (reference 0, 2.1): a 1.22 istiod looks for the
    # waypoint in the Service's own namespace, finds none, and traffic goes direct
    xns_healthy(c)
    _istio_123(c)
    set_images(c, "1.22.6")


SCENARIOS += [
    _bookinfo(
        "general-istio-1.22-cross-namespace",
        "1.22 ignores use-waypoint-namespace: no waypoint named waypoint in default",
        istio_122_cross_namespace,
        {"WD302"},
        skips=PRE_124_SKIPS,
    ),
]


def canary_same_as_primary(c: Cluster) -> None:
    # 1.31: the canary names the primary waypoint; istiod refuses the binding (2.2)
    set_images(c, "1.31.0")
    c.label("Service", NS, SVC, "istio.io/use-waypoint-canary", GW)
    set_cond(
        c,
        "Service",
        NS,
        SVC,
        cond(
            "istio.io/WaypointBound",
            "False",
            "CanarySameAsPrimary",
            f'canary waypoint "{NS}/{GW}" must differ from the primary waypoint',
        ),
    )


def canary_on_pre_131(c: Cluster) -> None:
    # canary labels on 1.28: ignored by istiod, the primary binding works
    set_images(c, "1.28.2")
    c.label("Service", NS, SVC, "istio.io/use-waypoint-canary", "waypoint-v2")


def named_target_port_l4_ports(c: Cluster) -> None:
    # service port 9080 -> targetPort "http-web" = containerPort 8080; ztunnel matches
    # destination ports on the pod's port, so the require-waypoint rule names 8080
    svc = c.get("Service", NS, SVC)
    svc["spec"]["ports"] = [{"name": "http", "port": 9080, "protocol": "TCP", "targetPort": "http-web"}]
    p = c.get("Pod", NS, PRODUCTPAGE_POD)
    p["spec"]["containers"][0]["ports"] = [{"name": "http-web", "containerPort": 8080}]
    c.get("AuthorizationPolicy", NS, L4_POLICY)["spec"]["rules"] = [
        {
            "from": [{"source": {"principals": [f"cluster.local/ns/{NS}/sa/{GW}"]}}],
            "to": [{"operation": {"ports": ["8080"]}}],
        }
    ]
    _rewrite_logs(c, "10.244.1.7:9080", "10.244.1.7:8080")


def malformed_service_spec(c: Cluster) -> None:
    # the Service's spec is a string and its labels null: a finding, no crash (found by fuzzing)
    svc = c.get("Service", NS, SVC)
    svc["spec"] = "ClusterIP"
    svc["metadata"]["labels"] = None


SCENARIOS += [
    _bookinfo(
        "general-named-target-port-l4-ports",
        "targetPort http-web = containerPort 8080; the require-waypoint rule names port 8080",
        named_target_port_l4_ports,
        set(),
    ),
    _bookinfo(
        "general-canary-same-as-primary",
        "1.31: the canary label names the primary waypoint (2.2)",
        canary_same_as_primary,
        {"WD308"},
    ),
    _bookinfo("general-canary-on-1.28", "canary labels on 1.28 are ignored", canary_on_pre_131, set()),
]
SCENARIOS.append(
    _bookinfo(
        "general-malformed-service-spec",
        "the Service's spec is a string, its labels null",
        malformed_service_spec,
        set(),
        {"WD301"},
    )
)
