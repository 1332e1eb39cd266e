"""The core of `what-if`: would this request to this Service be allowed, and why.

`what_if(view, target, request_spec)` resolves who is asking (a principal, `pod/NAME` or
`sa/NAME`), reads the policies and the waypoint binding from the collected view, and walks the
request through every hop with the authz engine. `WhatIfResult.to_dict()` is the what-if JSON
of spec/interface.md; `exit_code` follows `kubectl auth can-i` (0 allowed, 1 denied, 4 unknown).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from waypoint_doctor.authz import (
    HopsResult,
    Request,
    ServiceTarget,
    Verdict,
    WaypointRef,
    evaluate_hops,
    parse_policies,
)
from waypoint_doctor.authz.match import SPIFFE_PREFIX, parse_identity
from waypoint_doctor.checks.spec import Target
from waypoint_doctor.collect.view import ClusterView, dig, obj_labels
from waypoint_doctor.mesh.facts import Facts
from waypoint_doctor.mesh.workloads import container_port_named, pod_identity, spiffe_identity
from waypoint_doctor.options import UsageError

SCHEMA_VERSION = "1"
AP = "authorizationpolicies.security.istio.io"
EXIT_ALLOWED, EXIT_DENIED, EXIT_UNKNOWN = 0, 1, 4


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A suggestion suffix for a name that was not found (difflib's close matches)."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


@dataclass(frozen=True)
class WhatIfRequest:
    """The question, as the user typed it."""

    source: str  # `--from`: a principal, `pod/NAME`, `pod/NS/NAME`, `sa/NAME` or `sa/NS/NAME`
    method: str = "GET"
    path: str = "/"
    port: int | None = None  # the Service port; default: the Service's first port
    host: str | None = None
    headers: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class ResolvedSource:
    principal: str
    how: str  # how --from was resolved, for the explanation


@dataclass(frozen=True)
class WhatIfResult:
    target: Target
    request: dict[str, Any]
    source: ResolvedSource
    result: HopsResult

    @property
    def verdict(self) -> Verdict:
        return self.result.verdict

    @property
    def exit_code(self) -> int:
        return {Verdict.ALLOW: EXIT_ALLOWED, Verdict.DENY: EXIT_DENIED, Verdict.UNKNOWN: EXIT_UNKNOWN}[
            self.verdict
        ]

    def to_dict(self) -> dict[str, Any]:
        body = self.result.to_dict()
        return {
            "schema_version": SCHEMA_VERSION,
            "target": self.target.as_dict(),
            "request": self.request,
            "verdict": body["verdict"],
            "hops": body["hops"],
            "explanation": f"{self.source.how}. {body['explanation']}",
        }


def resolve_source(view: ClusterView, namespace: str, source: str, trust_domain: str) -> ResolvedSource:
    """Turn `--from` into a principal `<td>/ns/<ns>/sa/<sa>`."""
    text = source.strip()
    kind, _, rest = text.partition("/")
    if kind in ("pod", "sa") and rest and "/ns/" not in text:
        ns, _, name = rest.rpartition("/")
        ns = ns or namespace
        if kind == "sa":
            principal = spiffe_identity(trust_domain, ns, name)
            return ResolvedSource(
                principal, f"--from {text} is service account {ns}/{name}, identity {principal}"
            )
        pod = view.get("pods", ns, name)
        if pod is None:
            hint = _did_you_mean(name, view.names("pods", ns))
            raise UsageError(f"pod {ns}/{name} not found{hint}")
        principal = pod_identity(pod, trust_domain)
        return ResolvedSource(principal, f"--from {text} runs as {principal}")
    principal = text[len(SPIFFE_PREFIX) :] if text.startswith(SPIFFE_PREFIX) else text
    if parse_identity(principal) is None:
        raise UsageError(
            f"--from {source!r}: give a principal <trust-domain>/ns/<namespace>/sa/<service-account>, "
            "pod/NAME or sa/NAME"
        )
    return ResolvedSource(principal, f"--from is the principal {principal}")


def _service_port(
    service: dict[str, Any] | None, port: int | None, pods: Iterable[dict[str, Any]] = ()
) -> tuple[int | None, int | None, str]:
    """(service port, workload port, protocol) for the port asked, else the first port."""
    ports = [p for p in (dig(service, "spec", "ports") or []) if isinstance(p, dict)]
    chosen = (
        next((p for p in ports if p.get("port") == port), None)
        if port is not None
        else (ports[0] if ports else None)
    )
    if chosen is None:
        return port, port, "http"
    target = chosen.get("targetPort")
    named = container_port_named(pods, target) if isinstance(target, str) and target else None
    workload_port = target if isinstance(target, int) else named if named is not None else chosen.get("port")
    name = str(chosen.get("name") or "")
    app_protocol = str(chosen.get("appProtocol") or "")
    declared = (app_protocol or name.split("-", 1)[0]).lower()
    # Declared TCP-like ports get a TCP filter chain at the waypoint; unnamed ports are sniffed.
    protocol: Literal["http", "tcp"] = (
        "tcp" if declared in ("tcp", "tls", "mongo", "mysql", "redis") else "http"
    )
    return chosen.get("port"), workload_port, protocol


def what_if(view: ClusterView, target: Target, request_spec: WhatIfRequest) -> WhatIfResult:
    facts = Facts(view, target.namespace, target.name)
    mesh = facts.mesh
    service = facts.service
    if service is None:
        gap = view.missing("services", target.namespace)
        if gap is not None:  # without the Service there is no binding to walk: no answer, not a guess
            raise UsageError(f"cannot answer for {target.namespace}/{target.name}: {gap.describe()}")
        hint = _did_you_mean(target.name, view.names("services", target.namespace))
        raise UsageError(f"service {target.namespace}/{target.name} not found{hint}")
    source = resolve_source(view, target.namespace, request_spec.source, mesh.trust_domain)
    port, workload_port, protocol = _service_port(service, request_spec.port, facts.service_pods)

    binding = facts.binding
    waypoint = None
    if binding.bound and binding.waypoint_name and binding.waypoint_namespace:
        waypoint = WaypointRef(
            binding.waypoint_name, binding.waypoint_namespace, facts.waypoint_service_account
        )
    namespaces = dict.fromkeys(
        [target.namespace, mesh.root_namespace, *([waypoint.namespace] if waypoint else [])]
    )
    policies = parse_policies([obj for ns in namespaces for obj in view.list(AP, ns)])
    selector = dig(service, "spec", "selector")
    service_target = ServiceTarget(
        namespace=target.namespace,
        name=target.name,
        kind=target.kind,
        waypoint=waypoint,
        root_namespace=mesh.root_namespace,
        workload_labels=tuple(ServiceTarget.labels(obj_labels(p)) for p in facts.service_pods) or None,
        service_selector=ServiceTarget.labels(selector) if isinstance(selector, dict) else None,
    )
    request = Request(
        principal=source.principal,
        method=request_spec.method,
        path=request_spec.path,
        port=port,
        host=request_spec.host,
        protocol=protocol,
        headers=request_spec.headers,
    )
    result = evaluate_hops(
        policies,
        request,
        service_target,
        trust_domain=mesh.trust_domain,
        aliases=mesh.trust_domain_aliases,
        workload_port=workload_port,
        auto_allow_waypoint=facts.auto_allow_waypoint,
    )
    shown = {"from": source.principal, "method": request_spec.method, "path": request_spec.path, "port": port}
    return WhatIfResult(target=target, request=shown, source=source, result=result)
