"""Pure helpers over pods and services: selection, readiness, identity."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from waypoint_doctor.collect.view import Obj, dig, obj_labels, obj_namespace


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Service-style equality selector; an empty or missing selector selects nothing."""
    if not selector or not isinstance(selector, Mapping):
        return False
    return all(labels.get(k) == v for k, v in selector.items())


def pods_selected_by(service: Obj, pods: Iterable[Obj]) -> list[Obj]:
    selector = dig(service, "spec", "selector")
    return [p for p in pods if selector_matches(selector, obj_labels(p))]


def _list_at(obj: Obj, *path: str) -> list[Any]:
    value = dig(obj, *path)
    return value if isinstance(value, list) else []


def pod_condition(pod: Obj, cond_type: str) -> str | None:
    for cond in _list_at(pod, "status", "conditions"):
        if isinstance(cond, Mapping) and cond.get("type") == cond_type:
            status = cond.get("status")
            return status if isinstance(status, str) else None
    return None


def pod_is_ready(pod: Obj) -> bool:
    return dig(pod, "status", "phase") == "Running" and pod_condition(pod, "Ready") == "True"


def pod_restarts(pod: Obj) -> int:
    total = 0
    for cs in _list_at(pod, "status", "containerStatuses"):
        if isinstance(cs, Mapping) and isinstance(cs.get("restartCount"), int):
            total += cs["restartCount"]
    return total


def pod_waiting_reasons(pod: Obj) -> list[str]:
    reasons = []
    for cs in _list_at(pod, "status", "containerStatuses"):
        reason = dig(cs, "state", "waiting", "reason")
        if isinstance(reason, str):
            reasons.append(reason)
    return reasons


def pod_node(pod: Obj) -> str | None:
    node = dig(pod, "spec", "nodeName")
    return node if isinstance(node, str) and node else None


def pod_service_account(pod: Obj) -> str:
    sa = dig(pod, "spec", "serviceAccountName") or dig(pod, "spec", "serviceAccount")
    return sa if isinstance(sa, str) and sa else "default"


def spiffe_identity(trust_domain: str, namespace: str, service_account: str) -> str:
    """The principal form policies use: `<td>/ns/<ns>/sa/<sa>` (no `spiffe://`)."""
    return f"{trust_domain}/ns/{namespace}/sa/{service_account}"


def pod_identity(pod: Obj, trust_domain: str) -> str:
    return spiffe_identity(trust_domain, obj_namespace(pod), pod_service_account(pod))


def container_names(pod: Obj) -> list[str]:
    return [c.get("name", "") for c in _list_at(pod, "spec", "containers") if isinstance(c, Mapping)]


def container_port_named(pods: Iterable[Obj], name: str) -> int | None:
    """The containerPort a named Service targetPort resolves to on the pods, or None."""
    for pod in pods:
        containers = dig(pod, "spec", "containers")
        for container in containers if isinstance(containers, list) else []:
            declared = dig(container, "ports")
            for port in declared if isinstance(declared, list) else []:
                number = dig(port, "containerPort")
                if dig(port, "name") == name and isinstance(number, int) and not isinstance(number, bool):
                    return number
    return None
