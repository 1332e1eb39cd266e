#!/usr/bin/env python3
"""Generate dense ambient clusters as snapshot directories, for benchmarks.

A generated directory is both a snapshot (`waypoint-doctor check --snapshot DIR`) and a fake
API server scenario (`tests/fakeapi`, which reads the same format). The shapes are the dense
ones of issue 8, where the cost is per namespace density, not per cluster size:

- ``shop``: 200 waypoint-bound services in ONE namespace, 1,000 pods, 100 AuthorizationPolicies;
- ``cluster``: 100 namespaces x 20 services, 10,000 pods, 1,000 policies, 20 nodes;
- ``small``: 2 namespaces x 2 services (a quick sanity shape; the same request count as the
  others is the point of the live collector).

Every namespace is ambient, bound to its own waypoint, and carries a realistic policy mix:
targetRefs to Services (ALLOW with principals/serviceAccounts/namespaces, methods, paths, some
``when`` on headers) and to the waypoint Gateway (ALLOW and DENY), selector and namespace-wide
L4 policies (DENY and ALLOW), an AUDIT policy, and one GatewayClass policy in the root
namespace. Callers are other services' ServiceAccounts, some from other namespaces.

ztunnel (one pod per node) and waypoint logs hold connections between those workloads: through
the waypoint, a few bypassing it, policy rejections, HBONE timeouts. ``write_ztunnel_log`` makes
a log of any size for any cluster (used by ``bench_logs.py`` on the MLflow example).

    python scripts/genclusters.py OUT_DIR --shape shop [--latency-ms 50] [--log-lines 200]

Deterministic (seeded). Prints what it wrote.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TAKEN_AT = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
ISTIO = "1.28.1"
ROOT = "istio-system"
TD = "cluster.local"
Obj = dict[str, Any]


@dataclass(frozen=True)
class Shape:
    namespaces: int
    services: int  # per namespace
    pods: int  # per service
    policies: int  # per namespace
    nodes: int
    names: tuple[str, ...] = ()  # namespace names (else team-000 ...)

    def namespace_names(self) -> list[str]:
        if self.names:
            return list(self.names)[: self.namespaces]
        return [f"team-{i:03d}" for i in range(self.namespaces)]


SHAPES: dict[str, Shape] = {
    "shop": Shape(namespaces=1, services=200, pods=5, policies=100, nodes=10, names=("shop",)),
    "cluster": Shape(namespaces=100, services=20, pods=5, policies=10, nodes=20),
    "small": Shape(namespaces=2, services=2, pods=2, policies=4, nodes=2),
}


# ---------------------------------------------------------------------------------------------
# objects


def _ready() -> Obj:
    return {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}


def _pod(
    ns: str,
    name: str,
    labels: Mapping[str, str],
    node: str,
    sa: str,
    ip: str,
    container: str,
    image: str,
    port: int | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Obj:
    spec_container: Obj = {"name": container, "image": image}
    if port is not None:
        spec_container["ports"] = [{"containerPort": port}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": dict(labels),
            **({"annotations": dict(annotations)} if annotations else {}),
        },
        "spec": {"nodeName": node, "serviceAccountName": sa, "containers": [spec_container]},
        "status": {
            **_ready(),
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "containerStatuses": [
                {
                    "name": container,
                    "ready": True,
                    "restartCount": 0,
                    "image": image,
                    "imageID": f"{image}@sha256:{'0' * 64}",
                    "state": {"running": {"startedAt": "2026-11-19T08:00:00Z"}},
                }
            ],
        },
    }


def _suffix(rng: random.Random) -> str:
    return f"{rng.randrange(16**9):09x}-{rng.randrange(36**5):05x}"[:16]


class _Addresses:
    """Unique pod IPs per node (10.<node+1>.x.y) and service VIPs (10.96.x.y)."""

    def __init__(self) -> None:
        self.per_node: dict[int, int] = {}
        self.vips = 0

    def pod(self, node: int) -> str:
        n = self.per_node[node] = self.per_node.get(node, 0) + 1
        return f"10.{node + 1}.{n // 250}.{n % 250 + 2}"

    def vip(self) -> str:
        self.vips += 1
        return f"10.96.{self.vips // 250}.{self.vips % 250 + 2}"


@dataclass
class Cluster:
    """The generated objects, plus what the log generator needs to know about them."""

    objects: dict[str, list[Obj]]  # file stem -> objects
    workloads: list[Workload]
    waypoints: list[Workload]
    ztunnels: list[tuple[str, str]]  # (pod name, node)

    def count(self, kind: str) -> int:
        return sum(1 for objs in self.objects.values() for o in objs if o.get("kind") == kind)


@dataclass(frozen=True)
class Workload:
    """One pod as logs see it."""

    namespace: str
    pod: str
    ip: str
    service_account: str
    node: str
    service: str | None = None  # the Service it backs
    vip: str | None = None
    port: int = 8080
    waypoint: Workload | None = None  # the waypoint its service is bound to

    @property
    def identity(self) -> str:
        return f"spiffe://{TD}/ns/{self.namespace}/sa/{self.service_account}"

    @property
    def fqdn(self) -> str | None:
        return f"{self.service}.{self.namespace}.svc.cluster.local" if self.service else None


def _control_plane(n_nodes: int, addresses: _Addresses) -> tuple[list[Obj], list[tuple[str, str]]]:
    nodes = [f"node-{i:02d}" for i in range(n_nodes)]
    objs: list[Obj] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
        }
        for ns in (ROOT, "kube-system", "quarantine")
    ]
    objs.append(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": "monitoring",
                "labels": {"kubernetes.io/metadata.name": "monitoring", "istio.io/dataplane-mode": "ambient"},
            },
        }
    )
    objs.append(
        _pod(
            "monitoring",
            "prometheus-0",
            {"app": "prometheus"},
            nodes[-1],
            "prometheus",
            addresses.pod(n_nodes - 1),
            "prometheus",
            "quay.io/prometheus/prometheus:v3.0.0",
            annotations={"ambient.istio.io/redirection": "enabled"},
        )
    )
    objs.append(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "prometheus", "namespace": "monitoring"},
        }
    )
    for node in nodes:
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node}},
                "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]},
            }
        )
    objs.append(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "istiod",
                "namespace": ROOT,
                "labels": {"app": "istiod", "istio": "pilot", "istio.io/rev": "default"},
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "istiod", "istio.io/rev": "default"}},
                "template": {
                    "metadata": {"labels": {"app": "istiod", "istio.io/rev": "default"}},
                    "spec": {
                        "serviceAccountName": "istiod",
                        "containers": [
                            {
                                "name": "discovery",
                                "image": f"docker.io/istio/pilot:{ISTIO}",
                                "env": [
                                    {"name": "PILOT_ENABLE_AMBIENT", "value": "true"},
                                    {"name": "REVISION", "value": "default"},
                                ],
                            }
                        ],
                    },
                },
            },
            "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1},
        }
    )
    objs.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "istio", "namespace": ROOT, "labels": {"istio.io/rev": "default"}},
            "data": {"mesh": f"rootNamespace: {ROOT}\ntrustDomain: {TD}\n"},
        }
    )
    for name, labels, image in (
        ("ztunnel", {"app": "ztunnel"}, f"docker.io/istio/ztunnel:{ISTIO}"),
        ("istio-cni-node", {"k8s-app": "istio-cni-node"}, f"docker.io/istio/install-cni:{ISTIO}"),
    ):
        objs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {"name": name, "namespace": ROOT, "labels": dict(labels)},
                "spec": {
                    "selector": {"matchLabels": dict(labels)},
                    "template": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {"containers": [{"name": "istio-proxy", "image": image}]},
                    },
                },
                "status": {
                    "desiredNumberScheduled": n_nodes,
                    "currentNumberScheduled": n_nodes,
                    "numberReady": n_nodes,
                    "numberAvailable": n_nodes,
                    "updatedNumberScheduled": n_nodes,
                    "numberMisscheduled": 0,
                },
            }
        )
    objs.append(
        _pod(
            ROOT,
            "istiod-6d9c7b8f5-q2x7m",
            {"app": "istiod", "istio.io/rev": "default"},
            nodes[0],
            "istiod",
            addresses.pod(0),
            "discovery",
            f"docker.io/istio/pilot:{ISTIO}",
        )
    )
    ztunnels = []
    for i, node in enumerate(nodes):
        name = f"ztunnel-{i:05d}"
        ztunnels.append((name, node))
        objs.append(
            _pod(
                ROOT,
                name,
                {"app": "ztunnel"},
                node,
                "ztunnel",
                addresses.pod(i),
                "istio-proxy",
                f"docker.io/istio/ztunnel:{ISTIO}",
            )
        )
        objs.append(
            _pod(
                ROOT,
                f"istio-cni-node-{i:05d}",
                {"k8s-app": "istio-cni-node"},
                node,
                "istio-cni",
                addresses.pod(i),
                "install-cni",
                f"docker.io/istio/install-cni:{ISTIO}",
            )
        )
    for sa in ("istiod", "ztunnel", "istio-cni"):
        objs.append(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ROOT}}
        )
    objs.append(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": "istio-waypoint"},
            "spec": {"controllerName": "istio.io/mesh-controller"},
            "status": {"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"}]},
        }
    )
    # every waypoint: no caller from a quarantined namespace (GatewayClass targetRef, root ns)
    objs.append(
        _policy(
            ROOT,
            "deny-quarantine-at-waypoints",
            {
                "targetRefs": [
                    {"kind": "GatewayClass", "group": "gateway.networking.k8s.io", "name": "istio-waypoint"}
                ],
                "action": "DENY",
                "rules": [{"from": [{"source": {"namespaces": ["quarantine"]}}]}],
            },
        )
    )
    return objs, ztunnels


def _policy(ns: str, name: str, spec: Obj, condition: str | None = None) -> Obj:
    obj: Obj = {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }
    if condition:
        obj["status"] = {
            "conditions": [
                {
                    "type": condition,
                    "status": "True",
                    "reason": "Accepted",
                    "message": "bound" if condition == "WaypointAccepted" else "attached to ztunnel",
                    "observedGeneration": 1,
                }
            ]
        }
    return obj


def _principal(ns: str, sa: str) -> str:
    return f"{TD}/ns/{ns}/sa/{sa}"


def _namespace_policies(
    ns: str, services: Sequence[str], count: int, others: Sequence[str], rng: random.Random
) -> list[Obj]:
    """``count`` policies for one namespace: the mix a platform team ends up with."""
    svc_ref = {"kind": "Service", "group": ""}
    gw_ref = {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "waypoint"}
    out: list[Obj] = [
        # ztunnel behind the waypoint: the waypoint, and the namespace's own workloads (L4)
        _policy(
            ns,
            "allow-waypoint-and-neighbours",
            {
                "action": "ALLOW",
                "rules": [
                    {"from": [{"source": {"principals": [_principal(ns, "waypoint")]}}]},
                    {"from": [{"source": {"namespaces": [ns]}}]},
                ],
            },
            "ZtunnelAccepted",
        ),
        # the waypoint: nobody may reach admin endpoints of any service behind it
        _policy(
            ns,
            "deny-admin-paths",
            {
                "targetRefs": [gw_ref],
                "action": "DENY",
                "rules": [{"to": [{"operation": {"ports": ["8080"], "paths": ["/admin/*", "/debug/*"]}}]}],
            },
            "WaypointAccepted",
        ),
        # monitoring may scrape every service
        _policy(
            ns,
            "allow-metrics-scrape",
            {
                "targetRefs": [gw_ref],
                "action": "ALLOW",
                "rules": [
                    {
                        "from": [{"source": {"namespaces": ["monitoring"]}}],
                        "to": [{"operation": {"methods": ["GET"], "paths": ["/metrics"]}}],
                    }
                ],
            },
            "WaypointAccepted",
        ),
        _policy(
            ns,
            "audit-writes",
            {
                "targetRefs": [gw_ref],
                "action": "AUDIT",
                "rules": [{"to": [{"operation": {"methods": ["POST", "PUT", "DELETE"]}}]}],
            },
            "WaypointAccepted",
        ),
    ]
    i = 0
    while len(out) < count:
        svc = services[i % len(services)]
        kind = i % 10
        callers = rng.sample(list(services), k=min(3, len(services)))
        if kind < 6:  # the usual: callers by principal, methods and paths
            rules: list[Obj] = [
                {
                    "from": [{"source": {"principals": [_principal(ns, c) for c in callers[:2]]}}],
                    "to": [
                        {
                            "operation": {
                                "methods": ["GET", "POST"] if kind % 2 else ["GET"],
                                "paths": [f"/api/v1/{svc}/*", "/healthz"],
                            }
                        }
                    ],
                }
            ]
            if kind == 1 and others:  # a caller from another namespace, by service account
                other = others[i % len(others)]
                rules.append(
                    {
                        "from": [{"source": {"serviceAccounts": [f"{other}/svc-001"]}}],
                        "to": [{"operation": {"methods": ["GET"], "paths": ["/api/v1/*"]}}],
                    }
                )
            if kind == 3:  # tenants by header
                rules.append(
                    {
                        "from": [{"source": {"namespaces": [ns]}}],
                        "when": [{"key": "request.headers[x-tenant]", "values": ["gold", "silver"]}],
                    }
                )
            out.append(
                _policy(
                    ns,
                    f"{svc}-allow-{i:03d}",
                    {"targetRefs": [{**svc_ref, "name": svc}], "action": "ALLOW", "rules": rules},
                    "WaypointAccepted",
                )
            )
        elif kind == 6:  # DENY writes from anyone but one service account
            out.append(
                _policy(
                    ns,
                    f"{svc}-deny-writes-{i:03d}",
                    {
                        "targetRefs": [{**svc_ref, "name": svc}],
                        "action": "DENY",
                        "rules": [
                            {
                                "from": [{"source": {"notPrincipals": [_principal(ns, callers[0])]}}],
                                "to": [{"operation": {"methods": ["PUT", "DELETE", "PATCH"]}}],
                            }
                        ],
                    },
                    "WaypointAccepted",
                )
            )
        elif kind == 7:  # L4 at the pods: the waypoint and one direct caller, on the app port
            out.append(
                _policy(
                    ns,
                    f"{svc}-l4-{i:03d}",
                    {
                        "selector": {"matchLabels": {"app": svc}},
                        "action": "ALLOW",
                        "rules": [
                            {
                                "from": [
                                    {
                                        "source": {
                                            "principals": [
                                                _principal(ns, "waypoint"),
                                                _principal(ns, callers[0]),
                                            ]
                                        }
                                    }
                                ],
                                "to": [{"operation": {"ports": ["8080"]}}],
                            }
                        ],
                    },
                    "ZtunnelAccepted",
                )
            )
        elif kind == 8:  # L4 DENY of a legacy port at the pods
            out.append(
                _policy(
                    ns,
                    f"{svc}-deny-legacy-{i:03d}",
                    {
                        "selector": {"matchLabels": {"app": svc}},
                        "action": "DENY",
                        "rules": [{"to": [{"operation": {"ports": ["9090"]}}]}],
                    },
                    "ZtunnelAccepted",
                )
            )
        else:  # ALLOW by namespace and service account, with a method wildcard
            out.append(
                _policy(
                    ns,
                    f"{svc}-allow-ns-{i:03d}",
                    {
                        "targetRefs": [{**svc_ref, "name": svc}],
                        "action": "ALLOW",
                        "rules": [
                            {
                                "from": [
                                    {"source": {"serviceAccounts": [callers[1], callers[2]]}},
                                    {"source": {"namespaces": list(others[:2]) or [ns]}},
                                ],
                                "to": [{"operation": {"methods": ["*"], "notPaths": ["/internal/*"]}}],
                            }
                        ],
                    },
                    "WaypointAccepted",
                )
            )
        i += 1
    return out


def build(shape: Shape, seed: int = 7) -> Cluster:
    rng = random.Random(seed)
    addresses = _Addresses()
    cp, ztunnels = _control_plane(shape.nodes, addresses)
    objects: dict[str, list[Obj]] = {"istio-system": cp}
    nodes = [n for _, n in ztunnels]
    workloads: list[Workload] = []
    waypoints: list[Workload] = []
    names = shape.namespace_names()
    pod_counter = 0
    for n_index, ns in enumerate(names):
        objs: list[Obj] = [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "labels": {
                        "kubernetes.io/metadata.name": ns,
                        "istio.io/dataplane-mode": "ambient",
                        "istio.io/use-waypoint": "waypoint",
                    },
                },
            }
        ]
        wp_vip = addresses.vip()
        wp_node = n_index % len(nodes)
        wp_ip = addresses.pod(wp_node)
        wp_pod = f"waypoint-{_suffix(rng)}"
        waypoint = Workload(ns, wp_pod, wp_ip, "waypoint", nodes[wp_node], vip=wp_vip, port=15008)
        waypoints.append(waypoint)
        wp_labels = {
            "gateway.networking.k8s.io/gateway-name": "waypoint",
            "gateway.istio.io/managed": "istio.io-mesh-controller",
        }
        objs += [
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "metadata": {
                    "name": "waypoint",
                    "namespace": ns,
                    "labels": {"istio.io/waypoint-for": "service"},
                },
                "spec": {
                    "gatewayClassName": "istio-waypoint",
                    "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
                },
                "status": {
                    "addresses": [{"type": "IPAddress", "value": wp_vip}],
                    "conditions": [
                        {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "ok"},
                        {"type": "Programmed", "status": "True", "reason": "Programmed", "message": "ok"},
                    ],
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "waypoint", "namespace": ns, "labels": dict(wp_labels)},
                "spec": {
                    "clusterIP": wp_vip,
                    "ports": [
                        {"name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021},
                        {"name": "mesh", "port": 15008, "protocol": "TCP", "targetPort": 15008},
                    ],
                    "selector": {"gateway.networking.k8s.io/gateway-name": "waypoint"},
                },
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "waypoint", "namespace": ns, "labels": dict(wp_labels)},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "waypoint"}},
                },
                "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1},
            },
            _pod(
                ns,
                wp_pod,
                {**wp_labels, "istio.io/dataplane-mode": "none"},
                nodes[wp_node],
                "waypoint",
                wp_ip,
                "istio-proxy",
                f"docker.io/istio/proxyv2:{ISTIO}",
            ),
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "waypoint", "namespace": ns}},
        ]
        services = [f"svc-{j:03d}" for j in range(shape.services)]
        for svc in services:
            vip = addresses.vip()
            objs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": svc, "namespace": ns, "labels": {"app": svc}},
                    "spec": {
                        "clusterIP": vip,
                        "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "targetPort": 8080}],
                        "selector": {"app": svc},
                    },
                    "status": {
                        "conditions": [
                            {
                                "type": "istio.io/WaypointBound",
                                "status": "True",
                                "reason": "WaypointAccepted",
                                "message": f"Successfully attached to waypoint {ns}/waypoint",
                            }
                        ]
                    },
                }
            )
            objs.append(
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": svc, "namespace": ns}}
            )
            template = _suffix(rng)[:10]
            for k in range(shape.pods):
                node_index = pod_counter % len(nodes)
                pod_counter += 1
                ip = addresses.pod(node_index)
                name = f"{svc}-{template}-{k:05d}"
                objs.append(
                    _pod(
                        ns,
                        name,
                        {"app": svc},
                        nodes[node_index],
                        svc,
                        ip,
                        "app",
                        "ghcr.io/example/app:1.0",
                        port=8080,
                        annotations={"ambient.istio.io/redirection": "enabled"},
                    )
                )
                workloads.append(Workload(ns, name, ip, svc, nodes[node_index], svc, vip, 8080, waypoint))
        others = [o for o in names if o != ns][:3] if len(names) > 1 else []
        objs += _namespace_policies(ns, services, shape.policies, others, rng)
        objects[ns] = objs
    return Cluster(objects, workloads, waypoints, ztunnels)


# ---------------------------------------------------------------------------------------------
# logs


def _stamp(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ztunnel_fields(fields: Sequence[tuple[str, str | int | None, bool]]) -> str:
    parts = []
    for key, value, quoted in fields:
        if value is None:
            continue
        parts.append(f'{key}="{value}"' if quoted else f"{key}={value}")
    return " ".join(parts)


def ztunnel_lines(
    workloads: Sequence[Workload], rng: random.Random, start: datetime, *, json_form: bool = False
) -> Iterator[str]:
    """An endless stream of ztunnel log lines among ``workloads`` (bound to their waypoints)."""
    ts = start
    while True:
        ts += timedelta(microseconds=rng.randrange(50, 5000))
        roll = rng.random()
        if roll < 0.03:
            if json_form:
                yield json.dumps(
                    {
                        "level": "info",
                        "time": _stamp(ts),
                        "scope": "xds::client",
                        "message": "received response",
                    }
                )
            else:
                yield (
                    f'{_stamp(ts)}\tinfo\txds::client:xds{{id=7}}\treceived response\ttype_url="type.googleapis.com/'
                    f'istio.workload.Address" size={rng.randrange(1, 40)} removes=0'
                )
            continue
        src = rng.choice(workloads)
        dst = rng.choice(workloads)
        wp = dst.waypoint
        sport = rng.randrange(30000, 60000)
        level, error, message = "info", None, "connection complete"
        if roll < 0.06:  # inbound early deny at the pod
            fields: list[tuple[str, str | int | None, bool]] = [
                ("src.addr", f"{(wp or src).ip}:{sport}", False),
                ("dst.addr", f"{dst.ip}:15008", False),
                ("direction", "inbound", True),
                (
                    "error",
                    "connection closed due to policy rejection: allow policies exist, but none allowed",
                    True,
                ),
            ]
            level, message = "warn", "connection failed"
        elif wp is not None and roll < 0.55:  # client -> waypoint, seen by the client's ztunnel
            if roll < 0.08:
                level, error = (
                    "error",
                    "connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008: deadline has elapsed",
                )
            fields = [
                ("src.addr", f"{src.ip}:{sport}", False),
                ("src.workload", src.pod, True),
                ("src.namespace", src.namespace, True),
                ("src.identity", src.identity, True),
                ("dst.addr", f"{wp.ip}:15008", False),
                ("dst.hbone_addr", f"{dst.vip}:{dst.port}", False),
                ("dst.service", dst.fqdn, True),
                ("dst.workload", wp.pod, True),
                ("dst.namespace", wp.namespace, True),
                ("dst.identity", wp.identity, True),
                ("direction", "outbound", True),
            ]
        elif wp is not None and roll < 0.97:  # waypoint -> pod, seen by the destination's ztunnel
            if roll < 0.565:
                level, error = (
                    "error",
                    "connection closed due to policy rejection: allow policies exist, but none allowed",
                )
            elif roll < 0.575:
                level, error = "error", "io error: Connection refused (os error 111)"
            fields = [
                ("src.addr", f"{wp.ip}:{sport}", False),
                ("src.workload", wp.pod, True),
                ("src.namespace", wp.namespace, True),
                ("src.identity", wp.identity, True),
                ("dst.addr", f"{dst.ip}:15008", False),
                ("dst.hbone_addr", f"{dst.ip}:{dst.port}", False),
                ("dst.service", dst.fqdn, True),
                ("dst.workload", dst.pod, True),
                ("dst.namespace", dst.namespace, True),
                ("dst.identity", dst.identity, True),
                ("direction", "inbound", True),
            ]
        else:  # straight to the pod: bypassing the waypoint
            fields = [
                ("src.addr", f"{src.ip}:{sport}", False),
                ("src.workload", src.pod, True),
                ("src.namespace", src.namespace, True),
                ("src.identity", src.identity, True),
                ("dst.addr", f"{dst.ip}:15008", False),
                ("dst.hbone_addr", f"{dst.ip}:{dst.port}", False),
                ("dst.service", dst.fqdn, True),
                ("dst.workload", dst.pod, True),
                ("dst.namespace", dst.namespace, True),
                ("dst.identity", dst.identity, True),
                ("direction", "outbound", True),
            ]
        if message == "connection complete":
            fields += [
                ("bytes_sent", rng.randrange(0, 20000), False),
                ("bytes_recv", rng.randrange(0, 20000), False),
                ("duration", f"{rng.randrange(0, 3000)}ms", True),
            ]
            if error:
                fields.append(("error", error, True))
        if json_form:
            obj: dict[str, Any] = {"level": level, "time": _stamp(ts), "scope": "access", "message": message}
            for key, value, _ in fields:
                if value is not None:
                    obj[key] = value
            yield json.dumps(obj)
        else:
            yield f"{_stamp(ts)}\t{level}\taccess\t{message}\t{_ztunnel_fields(fields)}"


def write_ztunnel_log(
    path: Path,
    workloads: Sequence[Workload],
    *,
    size_bytes: int | None = None,
    lines: int | None = None,
    json_form: bool = False,
    seed: int = 7,
    end: datetime = TAKEN_AT,
) -> int:
    """Write a ztunnel log among ``workloads``: ``size_bytes`` of it, or ``lines`` lines. The last
    line is shortly before ``end``. Returns the bytes written."""
    rng = random.Random(seed)
    # lines are ~500 bytes and ~2.5 ms apart: start early enough to end near `end`
    estimate = lines if lines is not None else (size_bytes or 0) // 480 + 1
    start = end - timedelta(microseconds=2525 * estimate)
    written = 0
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        buffer: list[str] = []
        for line in ztunnel_lines(workloads, rng, start, json_form=json_form):
            buffer.append(line)
            written += len(line) + 1
            count += 1
            if len(buffer) >= 4096:
                fh.write("\n".join(buffer) + "\n")
                buffer.clear()
            if (lines is not None and count >= lines) or (size_bytes is not None and written >= size_bytes):
                break
        if buffer:
            fh.write("\n".join(buffer) + "\n")
    return path.stat().st_size


def _envoy_line(ts: datetime, src: Workload, dst: Workload, rng: random.Random) -> str:
    method, path = rng.choice(
        [("GET", f"/api/v1/{dst.service}/items"), ("POST", "/healthz"), ("GET", "/admin/x")]
    )
    denied = rng.random() < 0.2
    status, flags, details = (
        (403, "-", "rbac_access_denied_matched_policy[none]") if denied else (200, "-", "via_upstream")
    )
    stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
    return (
        f'[{stamp}] "{method} {path} HTTP/1.1" {status} {flags} {details} - "-" 0 19 1 - "-" "client/1.0" '
        f'"{rng.randrange(16**8):08x}-0000-0000-0000-000000000000" "{dst.fqdn}:{dst.port}" "-" '
        f"inbound-vip|{dst.port}|http|{dst.fqdn} - {dst.vip}:{dst.port} {src.ip}:{rng.randrange(30000, 60000)} - default"
    )


def write_logs(root: Path, cluster: Cluster, lines_per_log: int, seed: int = 7) -> int:
    """Small logs for every ztunnel and waypoint pod: the traffic of the pods on that node (for
    ztunnel) or of the services behind it (for a waypoint)."""
    total = 0
    by_node: dict[str, list[Workload]] = {}
    for w in cluster.workloads:
        by_node.setdefault(w.node, []).append(w)
    for i, (pod, node) in enumerate(cluster.ztunnels):
        local = by_node.get(node) or cluster.workloads[:1]
        total += write_ztunnel_log(
            root / "logs" / ROOT / pod / "istio-proxy.log", local, lines=lines_per_log, seed=seed + i
        )
    by_waypoint: dict[str, list[Workload]] = {}
    for w in cluster.workloads:
        if w.waypoint is not None:
            by_waypoint.setdefault(w.waypoint.pod, []).append(w)
    rng = random.Random(seed)
    for wp in cluster.waypoints:
        behind = by_waypoint.get(wp.pod, [])
        if not behind:
            continue
        path = root / "logs" / wp.namespace / wp.pod / "istio-proxy.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        ts = TAKEN_AT - timedelta(minutes=10)
        with open(path, "w", encoding="utf-8") as fh:
            for _ in range(max(1, lines_per_log // 4)):
                ts += timedelta(milliseconds=rng.randrange(50, 2000))
                fh.write(_envoy_line(ts, rng.choice(behind), rng.choice(behind), rng) + "\n")
        total += path.stat().st_size
    return total


# ---------------------------------------------------------------------------------------------
# writing


COLLECTED = [
    "namespaces",
    "pods",
    "services",
    "serviceaccounts",
    "configmaps",
    "nodes",
    "deployments.apps",
    "daemonsets.apps",
    "gateways.gateway.networking.k8s.io",
    "gatewayclasses.gateway.networking.k8s.io",
    "authorizationpolicies.security.istio.io",
    "peerauthentications.security.istio.io",
    "serviceentries.networking.istio.io",
]

API_GROUPS = {
    "": ["v1"],
    "apps": ["v1"],
    "authorization.k8s.io": ["v1"],
    "gateway.networking.k8s.io": ["v1", "v1beta1"],
    "security.istio.io": ["v1", "v1beta1"],
    "networking.istio.io": ["v1", "v1beta1", "v1alpha3"],
}


def write_objects(root: Path, objects: Mapping[str, Iterable[Obj]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for stem, objs in objects.items():
        doc = {"apiVersion": "v1", "kind": "List", "items": list(objs)}
        (root / f"{stem}.json").write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")


def write_meta(root: Path, *, latency_ms: float | None = None) -> None:
    meta = {
        "takenAt": TAKEN_AT.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "context": "generated",
        "serverVersion": "v1.33.1",
        "apiGroups": API_GROUPS,
        "collected": COLLECTED,
        "unreadable": [],
    }
    # JSON is YAML: no YAML writer needed
    (root / "snapshot.yaml").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    if latency_ms is not None:
        (root / "fakeapi.yaml").write_text(json.dumps({"latency_ms": latency_ms}) + "\n", encoding="utf-8")


def generate(
    root: Path,
    shape: Shape | str,
    *,
    log_lines: int = 200,
    latency_ms: float | None = None,
    seed: int = 7,
) -> Cluster:
    """Write the cluster of ``shape`` as a snapshot directory at ``root`` (created)."""
    if isinstance(shape, str):
        shape = SHAPES[shape]
    cluster = build(shape, seed)
    write_objects(root, cluster.objects)
    write_meta(root, latency_ms=latency_ms)
    if log_lines:
        write_logs(root, cluster, log_lines, seed)
    return cluster


def workloads_of(objects: Iterable[Obj]) -> list[Workload]:
    """The workloads of an existing cluster (e.g. an example snapshot), for ``write_ztunnel_log``:
    pods that back a Service, with the waypoint the Service or namespace is bound to."""
    objs = list(objects)
    pods = [o for o in objs if o.get("kind") == "Pod"]
    namespaces = {o["metadata"]["name"]: o for o in objs if o.get("kind") == "Namespace"}

    def labels(o: Obj) -> Mapping[str, str]:
        return (o.get("metadata") or {}).get("labels") or {}

    waypoint_pods: dict[tuple[str, str], Obj] = {}
    for p in pods:
        gw = labels(p).get("gateway.networking.k8s.io/gateway-name")
        if gw:
            waypoint_pods[(p["metadata"]["namespace"], gw)] = p
    out = []
    for svc in (o for o in objs if o.get("kind") == "Service"):
        md, spec = svc["metadata"], svc.get("spec") or {}
        ns, selector = md["namespace"], spec.get("selector") or {}
        if not selector or labels(svc).get("gateway.istio.io/managed"):
            continue
        bound = labels(svc).get("istio.io/use-waypoint") or labels(namespaces.get(ns, {})).get(
            "istio.io/use-waypoint"
        )
        wp_pod = waypoint_pods.get((ns, bound)) if bound else None
        wp = None
        if wp_pod is not None:
            wp = Workload(
                ns,
                wp_pod["metadata"]["name"],
                wp_pod["status"].get("podIP", "10.255.0.1"),
                wp_pod["spec"].get("serviceAccountName", bound),
                wp_pod["spec"].get("nodeName", ""),
                port=15008,
            )
        port = (spec.get("ports") or [{}])[0].get("port", 80)
        for p in pods:
            if p["metadata"].get("namespace") != ns or not all(
                labels(p).get(k) == v for k, v in selector.items()
            ):
                continue
            out.append(
                Workload(
                    ns,
                    p["metadata"]["name"],
                    p["status"].get("podIP", "10.255.0.2"),
                    p["spec"].get("serviceAccountName", "default"),
                    p["spec"].get("nodeName", ""),
                    md["name"],
                    spec.get("clusterIP"),
                    port,
                    wp,
                )
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="shop")
    ap.add_argument("--log-lines", type=int, default=200, help="lines per ztunnel log (0: no logs)")
    ap.add_argument("--latency-ms", type=float, default=None, help="write fakeapi.yaml with this latency")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    cluster = generate(a.out, a.shape, log_lines=a.log_lines, latency_ms=a.latency_ms, seed=a.seed)
    print(
        f"{a.out}: shape {a.shape}: {cluster.count('Namespace')} namespaces, {cluster.count('Service')} services, "
        f"{cluster.count('Pod')} pods, {cluster.count('AuthorizationPolicy')} policies, "
        f"{cluster.count('Node')} nodes"
    )


if __name__ == "__main__":
    main()
