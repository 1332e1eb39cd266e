"""Which services a fleet scan reports on: bound to a waypoint or targeted by a policy."""

from __future__ import annotations

from collections.abc import Iterable

from waypoint_doctor.collect.view import ClusterView, dig, obj_labels, obj_name, obj_namespace
from waypoint_doctor.mesh.binding import resolve_waypoint_binding


def _policy_targets(view: ClusterView) -> set[tuple[str, str]]:
    targets = set()
    for pol in view.list("authorizationpolicies.security.istio.io"):
        refs = dig(pol, "spec", "targetRefs", default=None)
        single = dig(pol, "spec", "targetRef", default=None)
        items = list(refs) if isinstance(refs, list) else []
        if isinstance(single, dict):
            items.append(single)
        for ref in items:
            if isinstance(ref, dict) and ref.get("kind") == "Service" and isinstance(ref.get("name"), str):
                targets.add((obj_namespace(pol), ref["name"]))
    return targets


def services_in_scope(view: ClusterView, namespaces: tuple[str, ...] | None) -> list[tuple[str, str]]:
    targeted = _policy_targets(view)
    out = []
    for svc in view.list("services"):
        ns = obj_namespace(svc)
        if namespaces is not None and ns not in namespaces:
            continue
        if obj_labels(svc).get("gateway.istio.io/managed"):
            continue  # a waypoint's own Service never gets a waypoint
        binding = resolve_waypoint_binding(svc, view.get("namespaces", None, ns))
        if binding.bound or (ns, obj_name(svc)) in targeted:
            out.append((ns, obj_name(svc)))
    return sorted(out)


def namespaces_named_by_policies(policies: Iterable[dict]) -> set[str]:
    """Namespaces whose workloads policies name as sources: their pods are the known clients."""
    out: set[str] = set()
    for pol in policies:
        rules = dig(pol, "spec", "rules")
        for rule in rules if isinstance(rules, list) else []:
            if not isinstance(rule, dict):
                continue
            froms = rule.get("from")
            for frm in froms if isinstance(froms, list) else []:
                src = (frm or {}).get("source") if isinstance(frm, dict) else None
                if not isinstance(src, dict):
                    continue
                for p in _strings(src.get("principals")):
                    if isinstance(p, str) and "/ns/" in p:
                        ns = p.split("/ns/", 1)[1].split("/", 1)[0]
                        if ns and "*" not in ns:
                            out.add(ns)
                for ns in _strings(src.get("namespaces")):
                    if isinstance(ns, str) and ns and "*" not in ns:
                        out.add(ns)
                for sa in _strings(src.get("serviceAccounts")):
                    if isinstance(sa, str) and "/" in sa:
                        out.add(sa.split("/", 1)[0])
    return out


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
