"""The core of `what-if`: would this request to this Service be allowed, and why.

`what_if(view, target, request_spec)` resolves who is asking (a principal, `pod/NAME`, `sa/NAME`
or `plaintext`), reads the policies, the waypoint binding, the mesh's path normalisation and
ext-authz providers and the addresses each enforcer sees from the collected view, and walks the
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
from waypoint_doctor.authz.match import SPIFFE_PREFIX, parse_identity, parse_ip_block
from waypoint_doctor.checks.spec import Target
from waypoint_doctor.collect.view import ClusterView, dig, obj_annotations, obj_labels
from waypoint_doctor.logs.sanitize import REDACTED
from waypoint_doctor.mesh.facts import Facts
from waypoint_doctor.mesh.labels import REDIRECTION_ANNOTATION, SIDECAR_STATUS_ANNOTATION
from waypoint_doctor.mesh.workloads import (
    container_names,
    container_port_named,
    pod_identity,
    spiffe_identity,
)
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

    source: str  # `--from`: a principal, `pod/NAME`, `pod/NS/NAME`, `sa/NAME`, `sa/NS/NAME`, `plaintext`
    method: str = "GET"
    path: str = "/"
    port: int | None = None  # the Service port; default: the Service's first port
    host: str | None = None
    headers: tuple[tuple[str, str], ...] | None = None  # None: unknown; given: the others are absent
    source_ip: str | None = None  # `--source-ip`: the client's address (default: pod/NAME's podIP)


PLAINTEXT_SOURCES = ("plaintext", "none")
# Header values never echoed back (they are credentials more often than not).
_SECRET_HEADERS = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
)


@dataclass(frozen=True)
class ResolvedSource:
    principal: str | None  # None: a plaintext caller, without a mesh identity
    how: str  # how --from was resolved, for the explanation
    source_ip: str | None = None


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


def resolve_source(
    view: ClusterView, namespace: str, source: str, trust_domain: str, source_ip: str | None = None
) -> ResolvedSource:
    """Turn `--from` into a principal `<td>/ns/<ns>/sa/<sa>` (None for a plaintext caller)."""
    text = source.strip()
    if source_ip is not None and ("/" in source_ip or parse_ip_block(source_ip) is None):
        raise UsageError(f"--source-ip {source_ip!r} is not an IP address")
    if text.lower() in PLAINTEXT_SOURCES:
        where = f" from {source_ip}" if source_ip else ""
        return ResolvedSource(None, f"--from {text} is a caller without a mesh identity{where}", source_ip)
    kind, _, rest = text.partition("/")
    if kind in ("pod", "sa") and rest and "/ns/" not in text:
        ns, _, name = rest.rpartition("/")
        ns = ns or namespace
        if kind == "sa":
            principal = spiffe_identity(trust_domain, ns, name)
            return ResolvedSource(
                principal, f"--from {text} is service account {ns}/{name}, identity {principal}", source_ip
            )
        pod = view.get("pods", ns, name)
        if pod is None:
            hint = _did_you_mean(name, view.names("pods", ns))
            raise UsageError(f"pod {ns}/{name} not found{hint}")
        ip = source_ip or _pod_ip(pod)
        at = f" at {ip}" if ip else ""
        if not _pod_has_identity(pod):
            return ResolvedSource(
                None,
                f"--from {text}{at} is not captured by ambient (no {REDIRECTION_ANNOTATION}=enabled) and has no "
                "sidecar, so it connects in plaintext, without a mesh identity",
                ip,
            )
        principal = pod_identity(pod, trust_domain)
        return ResolvedSource(principal, f"--from {text}{at} runs as {principal}", ip)
    principal = text[len(SPIFFE_PREFIX) :] if text.startswith(SPIFFE_PREFIX) else text
    if parse_identity(principal) is None:
        raise UsageError(
            f"--from {source!r}: give a principal <trust-domain>/ns/<namespace>/sa/<service-account>, "
            "pod/NAME, sa/NAME or plaintext"
        )
    return ResolvedSource(principal, f"--from is the principal {principal}", source_ip)


def _pod_ip(pod: dict[str, Any]) -> str | None:
    ip = dig(pod, "status", "podIP")
    return ip if isinstance(ip, str) and ip and parse_ip_block(ip) is not None else None


def _pod_has_identity(pod: dict[str, Any]) -> bool:
    """Captured by ambient (ztunnel presents its certificate) or carrying a sidecar."""
    if obj_annotations(pod).get(REDIRECTION_ANNOTATION) == "enabled":
        return True
    if SIDECAR_STATUS_ANNOTATION in obj_annotations(pod):
        return True
    return "istio-proxy" in container_names(pod)


def _addresses(pods: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(sorted({ip for p in pods if (ip := _pod_ip(p))}))


def parse_headers(values: Iterable[str] | None) -> tuple[tuple[str, str], ...] | None:
    """`--header NAME=VALUE` (repeatable; `NAME:VALUE` too); None when none was given."""
    if not values:
        return None
    out = []
    for value in values:
        cut = min((i for i in (value.find("="), value.find(":")) if i > 0), default=-1)
        if cut <= 0:
            raise UsageError(f"--header {value!r}: write NAME=VALUE")
        name = value[:cut].strip()
        if not name or any(c.isspace() for c in name):
            raise UsageError(f"--header {value!r}: the header name is empty or has spaces")
        out.append((name.lower(), value[cut + 1 :].strip()))
    return tuple(out)


def shown_headers(headers: tuple[tuple[str, str], ...] | None) -> dict[str, str] | None:
    """The headers as the answer echoes them: credentials are never printed."""
    if headers is None:
        return None
    return {k: (REDACTED if k.lower() in _SECRET_HEADERS else v) for k, v in headers}


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
    source = resolve_source(
        view, target.namespace, request_spec.source, mesh.trust_domain, request_spec.source_ip
    )
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
        source_ip=source.source_ip,
    )
    cluster_ip = dig(service, "spec", "clusterIP")
    result = evaluate_hops(
        policies,
        request,
        service_target,
        trust_domain=mesh.trust_domain,
        aliases=mesh.trust_domain_aliases,
        workload_port=workload_port,
        auto_allow_waypoint=facts.auto_allow_waypoint,
        ext_authz=facts.ext_authz,
        path_settings=mesh.path_settings,
        service_ip=cluster_ip if isinstance(cluster_ip, str) and parse_ip_block(cluster_ip) else None,
        workload_ips=_addresses(facts.service_pods),
        waypoint_ips=_addresses(facts.waypoint_pods),
    )
    shown: dict[str, Any] = {
        "from": source.principal,
        "method": request_spec.method,
        "path": request_spec.path,
        "port": port,
    }
    if source.source_ip:
        shown["source_ip"] = source.source_ip
    if request_spec.headers is not None:
        shown["headers"] = shown_headers(request_spec.headers)
    if source.principal is None:
        shown["plaintext"] = True
    return WhatIfResult(target=target, request=shown, source=source, result=result)
