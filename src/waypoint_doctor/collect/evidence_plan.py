"""Which logs and istioctl captures a run needs, decided from the objects already collected."""

from __future__ import annotations

from dataclasses import dataclass

from waypoint_doctor.collect.scope import CollectScope
from waypoint_doctor.collect.view import ClusterView, LogKey, obj_name, obj_namespace
from waypoint_doctor.mesh.facts import Facts
from waypoint_doctor.mesh.fleet import namespaces_named_by_policies, services_in_scope
from waypoint_doctor.mesh.workloads import container_names, pod_node


@dataclass(frozen=True)
class EvidencePlan:
    log_targets: tuple[LogKey, ...]
    ztunnel_pods: list[tuple[str, str]]  # (namespace, pod)
    waypoint_pods: list[tuple[str, str]]
    # bound waypoints (namespace, Gateway) without a pod: their Deployment says why (WD307)
    waypoints_without_pods: tuple[tuple[str, str], ...] = ()


def _proxy_container(pod: object, default: str = "istio-proxy") -> str:
    names = container_names(pod)  # type: ignore[arg-type]
    return default if default in names or not names else names[0]


def plan_evidence(view: ClusterView, scope: CollectScope, max_ztunnels: int = 24) -> EvidencePlan:
    if scope.services:
        targets = [(ns, s) for ns in (scope.namespaces or ()) for s in scope.services]
    else:
        targets = services_in_scope(view, scope.namespaces)
    nodes: set[str] = set()
    waypoints: dict[tuple[str, str], object] = {}
    ztunnels: list[object] = []
    podless: set[tuple[str, str]] = set()
    for ns, name in targets:
        facts = Facts(view, ns, name)
        nodes |= facts.relevant_nodes
        for p in facts.waypoint_pods:
            waypoints[(obj_namespace(p), obj_name(p))] = p
        if facts.waypoint is not None and not facts.waypoint_pods:
            podless.add((obj_namespace(facts.waypoint), obj_name(facts.waypoint)))
        ztunnels = facts.ztunnel_pods
        # clients: the other pods of the namespace (most callers live beside the service), and
        # the pods of namespaces that the policies of this namespace name as sources
        client_namespaces = {ns} | namespaces_named_by_policies(
            view.list("authorizationpolicies.security.istio.io", ns)
        )
        for client_ns in client_namespaces:
            nodes |= {n for p in view.list("pods", client_ns) if (n := pod_node(p))}
    chosen = [p for p in ztunnels if pod_node(p) in nodes][:max_ztunnels]
    keys = [LogKey(obj_namespace(p), obj_name(p), _proxy_container(p)) for p in chosen]
    keys += [LogKey(ns, name, _proxy_container(p)) for (ns, name), p in sorted(waypoints.items())]
    return EvidencePlan(
        log_targets=tuple(keys),
        ztunnel_pods=[(obj_namespace(p), obj_name(p)) for p in chosen],
        waypoint_pods=sorted(waypoints),
        waypoints_without_pods=tuple(sorted(podless)),
    )
