"""Edits shared by the WD1xx-WD3xx scenarios: each plants a defect together with what the
cluster itself would then show (statuses istiod rewrites, objects garbage-collected), so a
scenario is a cluster as someone would find it, not a single edited field."""

from __future__ import annotations

from typing import Any

import yaml

from scenariolib import Cluster

NS = "kagenti-system"
SVC = "mlflow"
GW = "mlflow-waypoint"
ISTIO_NS = "istio-system"
WAYPOINT_POD = "mlflow-waypoint-7c9d8b6f4-lhlwp"
MLFLOW_POD = "mlflow-5f7d9c8b7d-x2k9q"
POLICY = "mlflow-api-access"
T0 = "2026-11-20T10:00:00Z"


def condition(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": T0}


def service_bound(c: Cluster, status: str, reason: str, message: str, name: str = SVC) -> None:
    c.set_condition("Service", NS, name, condition("istio.io/WaypointBound", status, reason, message))


def service_unbound_by_istiod(c: Cluster, name: str = SVC) -> None:
    """istiod drops WaypointBound when no waypoint is configured, and the policy's target is unbound."""
    svc = c.get("Service", NS, name)
    conds = [
        x for x in svc.get("status", {}).get("conditions", []) if x.get("type") != "istio.io/WaypointBound"
    ]
    svc.setdefault("status", {})["conditions"] = conds
    policy_ancestor_not_bound(c)


def policy_ancestor_not_bound(c: Cluster) -> None:
    c.set_condition(
        "AuthorizationPolicy",
        NS,
        POLICY,
        condition(
            "WaypointAccepted", "False", "AncestorNotBound", f"Service {NS}/{SVC} is not bound to a waypoint"
        ),
    )


def waypoint_not_ready(c: Cluster, ref: str = f"{NS}/{GW}") -> None:
    service_bound(c, "False", "WaypointIsNotReady", f'waypoint "{ref}" is not ready')
    policy_ancestor_not_bound(c)


def gateway(c: Cluster) -> dict[str, Any]:
    return c.get("Gateway", NS, GW)


def gateway_conditions(
    c: Cluster, *conds: dict[str, Any], addresses: list[dict[str, str]] | None = None
) -> None:
    gw = gateway(c)
    status = gw.setdefault("status", {})
    status["conditions"] = list(conds)
    if addresses is None:
        status.pop("addresses", None)
    else:
        status["addresses"] = addresses


def remove_waypoint_workload(c: Cluster, name: str = GW) -> None:
    """The Deployment, Service and pods istiod creates for a waypoint (gone with their Gateway)."""
    c.remove("Deployment", NS, name)
    c.remove("Service", NS, name)
    c.remove("ServiceAccount", NS, name)
    for pod in list(c.find_all("Pod", NS)):
        if pod["metadata"].get("labels", {}).get("gateway.networking.k8s.io/gateway-name") == name:
            c.remove("Pod", NS, pod["metadata"]["name"])
    for key in [k for k in c.logs if k[1].startswith(name + "-")]:
        del c.logs[key]


def pod(c: Cluster, name: str = MLFLOW_POD, namespace: str = NS) -> dict[str, Any]:
    return c.get("Pod", namespace, name)


def set_images(c: Cluster, tag: str) -> None:
    """Every Istio image of the snapshot at `tag` (istiod, ztunnel, cni, waypoint proxies)."""
    for obj in c.objects:
        spec = obj.get("spec", {})
        for holder in (spec, spec.get("template", {}).get("spec", {})):
            for container in holder.get("containers", []) or []:
                image = container.get("image", "")
                if "/istio/" in image:
                    container["image"] = image.rsplit(":", 1)[0] + ":" + tag


def forbid(c: Cluster, *, verb: str, resource: str, group: str = "", namespace: str | None = None) -> None:
    """A read refused by RBAC: recorded in the snapshot, answered 403 by the fake API server, and
    its objects absent from the snapshot (the collector never saw them)."""
    entry: dict[str, str] = {"verb": verb, "resource": resource, "reason": "Forbidden"}
    if group:
        entry["group"] = group
    if namespace:
        entry["namespace"] = namespace
    c.unreadable(**entry)
    fake = yaml.safe_load(c.extra_files.get("fakeapi.yaml", "")) or {}
    rule: dict[str, str] = {"verb": verb, "resource": resource, "group": group}
    if namespace:
        rule["namespace"] = namespace
    fake.setdefault("forbid", []).append(rule)
    c.extra_files["fakeapi.yaml"] = yaml.safe_dump(fake)
    kinds = {
        ("", "pods"): "Pod",
        ("", "services"): "Service",
        ("", "configmaps"): "ConfigMap",
        ("gateway.networking.k8s.io", "gateways"): "Gateway",
    }
    kind = kinds.get((group, resource))
    if kind is not None:
        c.objects = [
            o
            for o in c.objects
            if not (
                o.get("kind") == kind
                and (namespace is None or o.get("metadata", {}).get("namespace") == namespace)
            )
        ]
