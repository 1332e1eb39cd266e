"""The lint findings: what can be judged from manifests alone (reference 1.1, 1.2, 2.1, 5.1-5.3).

Each finding carries the catalog check it corresponds to, so `lint` in CI and `check` on the
cluster speak the same IDs:

- WD302 a Service that policies target is bound to a waypoint (`istio.io/use-waypoint`);
- WD303 the waypoint a Service (or Namespace) names is in the files, and may be bound to;
- WD304 a waypoint Gateway's shape: class `istio-waypoint`, one listener 15008/HBONE;
- WD305 `istio.io/waypoint-for` lets service traffic through;
- WD401 L7 policies attach through `targetRefs`, not `selector`;
- WD402 each targetRef is valid (kind/group, no `namespace`, GatewayClass rules);
- WD403 the policy lives in its target's namespace;
- WD404 selector or namespace-wide policies with HTTP fields (ztunnel drops or broadens them);
- WD405 sources: principal syntax, `spiffe://`, serviceAccounts with principals;
- WD407 rules and operations: methods, paths, templates, empty `from`/`to`, DENY without rules;
- WD409 selector or namespace-wide ALLOW policies on a waypoint-bound Service's pods admit the
  waypoint's own identity (the destination ztunnel sees the waypoint, not the client).

Policy problems come from the AuthorizationPolicy engine (`authz.model.parse_policy` and its
validation, `authz.attach.convert_for_ztunnel`); this module only maps them to check IDs,
statuses and lines, and adds the cross-object rules (a Service and its waypoint, a policy and its
target) that a single policy cannot see.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import yaml

from waypoint_doctor.authz.attach import RuleFate, convert_for_ztunnel
from waypoint_doctor.authz.attributes import rule_uses_http, ztunnel_http_attributes
from waypoint_doctor.authz.match import SPIFFE_PREFIX
from waypoint_doctor.authz.model import (
    Action,
    AuthorizationPolicy,
    Problem,
    Severity,
    TargetRef,
    parse_policy,
)
from waypoint_doctor.checks.spec import Status
from waypoint_doctor.lint.source import Document
from waypoint_doctor.mesh.binding import WaypointBinding, resolve_waypoint_binding
from waypoint_doctor.mesh.labels import (
    DEFAULT_ISTIO_NAMESPACE,
    DEFAULT_TRUST_DOMAIN,
    GATEWAY_API_GROUP,
    GATEWAY_NAME_LABEL,
    HBONE_PORT,
    LEGACY_GATEWAY_NAME_LABEL,
    SERVICE_ACCOUNT_OVERRIDE,
    USE_WAYPOINT,
    WAYPOINT_CLASS,
    WAYPOINT_FOR,
)

AUTHZ_GROUP = "security.istio.io"
OTHER_WAYPOINT_CLASSES = ("istio-agentgateway-waypoint", "istio-east-west")
WAYPOINT_FOR_VALUES = ("service", "workload", "all", "none")

# The checks lint can judge, with the title used when the live check is not registered (yet).
LINT_CHECKS: dict[str, tuple[str, str]] = {
    "WD302": ("Service bound to a waypoint", "waypoint"),
    "WD303": ("Waypoint Gateway exists and may be bound to", "waypoint"),
    "WD304": ("Waypoint Gateway is well formed", "waypoint"),
    "WD305": ("Waypoint accepts service traffic", "waypoint"),
    "WD401": ("L7 policies attach through targetRefs", "policy"),
    "WD402": ("targetRefs are valid", "policy"),
    "WD403": ("Policy in its target's namespace", "policy"),
    "WD404": ("No HTTP fields in ztunnel-enforced policies", "policy"),
    "WD405": ("Principals are well formed", "policy"),
    "WD407": ("Operations and rules are well formed", "policy"),
    "WD409": ("ztunnel policies admit the waypoint", "policy"),
}

# engine problem code -> (check, status); codes absent here are mapped by where they point.
_PROBLEM_CHECKS: dict[str, tuple[str, Status]] = {
    "selector-and-target-ref": ("WD401", Status.FAIL),
    "selector-without-labels": ("WD401", Status.WARN),
    "selector-empty-key": ("WD401", Status.FAIL),
    "selector-wildcard": ("WD401", Status.FAIL),
    "too-many-target-refs": ("WD402", Status.FAIL),
    "target-ref-missing-name": ("WD402", Status.FAIL),
    "target-ref-namespace-set": ("WD402", Status.FAIL),
    "target-ref-kind-not-allowed": ("WD402", Status.FAIL),
    # A principal with spiffe:// or of the wrong shape is accepted by the webhook but never matches.
    "principal-spiffe-prefix": ("WD405", Status.FAIL),
    "principal-format": ("WD405", Status.FAIL),
    "service-accounts-with-principals": ("WD405", Status.FAIL),
    "service-account-format": ("WD405", Status.FAIL),
    "service-account-wildcard": ("WD405", Status.FAIL),
    "too-many-service-accounts": ("WD405", Status.FAIL),
    "trust-domain-format": ("WD405", Status.FAIL),
    "invalid-ip": ("WD405", Status.FAIL),
    # Case-sensitive method matching and paths without '/' never match either.
    "method-not-uppercase": ("WD407", Status.FAIL),
    "method-unknown": ("WD407", Status.WARN),
    "path-not-absolute": ("WD407", Status.FAIL),
    "path-template-invalid": ("WD407", Status.FAIL),
    "invalid-port": ("WD407", Status.FAIL),
    "empty-from": ("WD407", Status.FAIL),
    "empty-to": ("WD407", Status.FAIL),
    "empty-source": ("WD407", Status.FAIL),
    "empty-operation": ("WD407", Status.FAIL),
    "missing-source": ("WD407", Status.FAIL),
    "missing-operation": ("WD407", Status.FAIL),
    "deny-without-rules": ("WD407", Status.FAIL),
    "custom-without-rules": ("WD407", Status.FAIL),
    "custom-without-provider": ("WD407", Status.FAIL),
    "provider-without-custom": ("WD407", Status.FAIL),
    "custom-unsupported-field": ("WD407", Status.FAIL),
    "invalid-action": ("WD407", Status.FAIL),
    "nil-rule": ("WD407", Status.FAIL),
    "too-many-rules": ("WD407", Status.FAIL),
    "when-missing-key": ("WD407", Status.FAIL),
    "when-without-values": ("WD407", Status.FAIL),
    "when-unknown-key": ("WD407", Status.FAIL),
    "when-invalid-value": ("WD407", Status.FAIL),
    "dry-run-invalid": ("WD407", Status.WARN),
    "unexpected-api-version": ("WD407", Status.WARN),
    "unexpected-kind": ("WD407", Status.WARN),
    "missing-name": ("WD407", Status.FAIL),
    "missing-metadata": ("WD407", Status.FAIL),
    "not-an-object": ("WD407", Status.FAIL),
    "parse-failure": ("WD407", Status.ERROR),
}
# Not findings before apply: the namespace comes from `kubectl apply -n`; an HTTP-only DENY is
# fine at a waypoint in front of an HTTP service, and WD404 covers it where ztunnel enforces.
_IGNORED_PROBLEMS = frozenset({"missing-namespace", "deny-http-only"})


@dataclass(frozen=True)
class Finding:
    check_id: str
    status: Status
    message: str
    doc: Document
    field: str = ""  # path inside the object, e.g. spec.rules[0].to[0].operation.methods[0]
    remediation: str = ""
    code: str = ""  # the engine problem code or lint rule that produced it
    namespace: str | None = None  # effective namespace of the object

    @property
    def line(self) -> int:
        return self.doc.line_of(self.field) if self.field else self.doc.line

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.doc.kind, "namespace": self.namespace, "name": self.doc.name}
        out["file"] = self.doc.file
        out["line"] = self.line
        if self.field:
            out["field"] = self.field
        if self.code:
            out["problem"] = self.code
        return out


def _fragment(data: Any) -> str:
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip()
    return text.replace("group: ''", 'group: ""')


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata")
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}


def _value_at(obj: Any, location: str) -> Any:
    """The value at `spec.rules[0].from[0].source.principals[1]` (None when absent)."""
    cur = obj
    token = ""
    i = 0
    path: list[str | int] = []
    while i < len(location):
        ch = location[i]
        if ch == ".":
            if token:
                path.append(token)
            token = ""
        elif ch == "[":
            if token:
                path.append(token)
            token = ""
            end = location.find("]", i)
            inner = location[i + 1 : end]
            path.append(int(inner) if inner.isdigit() else inner)
            i = end
        else:
            token += ch
        i += 1
    if token:
        path.append(token)
    for step in path:
        if isinstance(step, int):
            if not (isinstance(cur, list) and step < len(cur)):
                return None
            cur = cur[step]
        else:
            if not (isinstance(cur, Mapping) and step in cur):
                return None
            cur = cur[step]
    return cur


@dataclass
class Manifests:
    """The documents under lint, indexed the way the rules look them up."""

    docs: list[Document]
    default_namespace: str | None = None
    ignored: int = 0
    _by_kind: dict[str, list[Document]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for doc in self.docs:
            key = self.kind_key(doc)
            if key is None:
                self.ignored += 1
                continue
            self._by_kind.setdefault(key, []).append(doc)

    @staticmethod
    def kind_key(doc: Document) -> str | None:
        group, kind = doc.api_group, doc.kind
        if group == GATEWAY_API_GROUP and kind in ("Gateway", "GatewayClass"):
            return kind
        if group == AUTHZ_GROUP and kind == "AuthorizationPolicy":
            return kind
        if group == "" and kind in ("Service", "Namespace", "ConfigMap"):
            return kind
        if group == "networking.istio.io" and kind == "ServiceEntry":
            return kind
        return None

    def of(self, kind: str) -> list[Document]:
        return self._by_kind.get(kind, [])

    def ns(self, doc: Document) -> str:
        """The namespace the object lands in ("" when neither the file nor -n says)."""
        return doc.namespace or self.default_namespace or ""

    def find(self, kind: str, name: str, namespace: str | None = None) -> list[Document]:
        return [d for d in self.of(kind) if d.name == name and (namespace is None or self.ns(d) == namespace)]

    def namespace_doc(self, name: str) -> Document | None:
        return next((d for d in self.of("Namespace") if d.name == name), None)

    @cached_property
    def mesh(self) -> tuple[str | None, tuple[str, ...], str]:
        """(trust domain or None when unknown, aliases, root namespace) from an `istio` ConfigMap."""
        for doc in self.of("ConfigMap"):
            if doc.name != "istio" and not doc.name.startswith("istio-"):
                continue
            data = doc.obj.get("data")
            raw = data.get("mesh") if isinstance(data, Mapping) else None
            if not isinstance(raw, str):
                continue
            try:
                mesh = yaml.safe_load(raw) or {}
            except yaml.YAMLError:
                continue
            if not isinstance(mesh, dict):
                continue
            td = mesh.get("trustDomain") if isinstance(mesh.get("trustDomain"), str) else DEFAULT_TRUST_DOMAIN
            aliases = tuple(a for a in mesh.get("trustDomainAliases") or [] if isinstance(a, str))
            root = mesh.get("rootNamespace") if isinstance(mesh.get("rootNamespace"), str) else self.ns(doc)
            return td, aliases, root or DEFAULT_ISTIO_NAMESPACE
        return None, (), DEFAULT_ISTIO_NAMESPACE

    def binding(self, service: Document) -> WaypointBinding:
        ns = self.ns(service)
        obj = dict(service.obj)
        obj["metadata"] = {**(obj.get("metadata") or {}), "namespace": ns}
        ns_doc = self.namespace_doc(ns)
        return resolve_waypoint_binding(obj, ns_doc.obj if ns_doc is not None else None)

    @cached_property
    def bindings(self) -> list[tuple[Document, WaypointBinding]]:
        """(Service or Namespace, binding) for every binding the files declare."""
        out: list[tuple[Document, WaypointBinding]] = []
        for svc in self.of("Service"):
            b = self.binding(svc)
            if b.source == "service":
                out.append((svc, b))
        for ns_doc in self.of("Namespace"):
            labels = _labels(ns_doc.obj)
            if USE_WAYPOINT in labels:
                fake = {"metadata": {"namespace": ns_doc.name, "labels": {}}}
                b = resolve_waypoint_binding(fake, ns_doc.obj)
                out.append((ns_doc, b))
        return out

    def bound_to(self, gateway: Document) -> list[tuple[Document, WaypointBinding]]:
        return [
            (doc, b)
            for doc, b in self.bindings
            if b.bound and b.waypoint_name == gateway.name and b.waypoint_namespace == self.ns(gateway)
        ]

    @cached_property
    def policies(self) -> list[tuple[Document, AuthorizationPolicy]]:
        out = []
        for doc in self.of("AuthorizationPolicy"):
            obj = dict(doc.obj)
            meta = dict(obj.get("metadata") or {}) if isinstance(obj.get("metadata"), Mapping) else None
            if meta is not None and not meta.get("namespace"):
                meta["namespace"] = self.ns(doc) or None
                obj["metadata"] = meta
            out.append((doc, parse_policy(obj)))
        return out


# -- Gateways (WD304, WD305) and bindings (WD302, WD303) -----------------------------------------
def _is_waypoint_candidate(m: Manifests, gw: Document) -> bool:
    cls = gw.obj.get("spec", {}).get("gatewayClassName") if isinstance(gw.obj.get("spec"), Mapping) else None
    return cls == WAYPOINT_CLASS or cls in OTHER_WAYPOINT_CLASSES or bool(m.bound_to(gw))


def waypoint_gateways(m: Manifests) -> list[Document]:
    return [gw for gw in m.of("Gateway") if _is_waypoint_candidate(m, gw)]


def _listeners(gw: Document) -> list[tuple[int, Any]]:
    spec = gw.obj.get("spec")
    listeners = spec.get("listeners") if isinstance(spec, Mapping) else None
    return list(enumerate(listeners)) if isinstance(listeners, list) else []


_CANONICAL_LISTENER = {"name": "mesh", "port": HBONE_PORT, "protocol": "HBONE"}


def gateway_findings(m: Manifests) -> Iterator[Finding]:
    for gw in waypoint_gateways(m):
        ns = m.ns(gw)
        raw_spec = gw.obj.get("spec")
        spec: Mapping[str, Any] = raw_spec if isinstance(raw_spec, Mapping) else {}
        cls = spec.get("gatewayClassName")
        bound = m.bound_to(gw)
        users = ", ".join(f"{d.kind} {d.name}" for d, _ in bound)
        if gw.name == "none":
            yield Finding(
                "WD304",
                Status.FAIL,
                "Gateway none: 'none' is reserved (istio.io/use-waypoint: none opts out); no workload can use it",
                gw,
                "metadata.name",
                "Rename the Gateway, e.g. metadata.name: waypoint",
                "waypoint-name-reserved",
                ns,
            )
        if cls != WAYPOINT_CLASS:
            if cls in OTHER_WAYPOINT_CLASSES:
                yield Finding(
                    "WD304",
                    Status.INFO,
                    f"Gateway {gw.name}: class {cls} is a waypoint class waypoint-doctor does not check in depth",
                    gw,
                    "spec.gatewayClassName",
                    namespace=ns,
                    code="waypoint-class-other",
                )
            else:
                yield Finding(
                    "WD304",
                    Status.FAIL,
                    f"Gateway {gw.name} is named as a waypoint by {users}, but its gatewayClassName is "
                    f"{cls!r}, not {WAYPOINT_CLASS}: no waypoint is deployed for it",
                    gw,
                    "spec.gatewayClassName",
                    f"spec:\n  gatewayClassName: {WAYPOINT_CLASS}",
                    "waypoint-class",
                    ns,
                )
                continue
        listeners = _listeners(gw)
        good = [
            i
            for i, lst in listeners
            if isinstance(lst, Mapping) and lst.get("port") == HBONE_PORT and lst.get("protocol") == "HBONE"
        ]
        fix = _fragment({"spec": {"listeners": [_CANONICAL_LISTENER]}})
        if not listeners:
            yield Finding(
                "WD304",
                Status.FAIL,
                f"Gateway {gw.name} has no listeners; a waypoint needs one on port {HBONE_PORT} with protocol HBONE",
                gw,
                "spec.listeners" if "listeners" in spec else "spec",
                fix,
                "waypoint-listener",
                ns,
            )
        elif not good:
            i, lst = listeners[0]
            desc = (
                f"port {lst.get('port')!r}, protocol {lst.get('protocol')!r}"
                if isinstance(lst, Mapping)
                else "not an object"
            )
            yield Finding(
                "WD304",
                Status.FAIL,
                f"Gateway {gw.name} has no listener on port {HBONE_PORT} with protocol HBONE (listener {i}: {desc}); "
                'istiod refuses it ("Expected a single listener on port 15008 with protocol HBONE") and the '
                "waypoint never becomes ready",
                gw,
                f"spec.listeners[{i}]",
                fix,
                "waypoint-listener",
                ns,
            )
        for i, _lst in listeners:
            if good and i not in good[:1]:
                yield Finding(
                    "WD304",
                    Status.WARN,
                    f"Gateway {gw.name}: listener {i} is refused (UnsupportedProtocol): a waypoint takes a single "
                    f"listener on port {HBONE_PORT} with protocol HBONE",
                    gw,
                    f"spec.listeners[{i}]",
                    fix,
                    "waypoint-extra-listener",
                    ns,
                )
        yield from _waypoint_for_findings(m, gw, bound)


def _waypoint_for_findings(
    m: Manifests, gw: Document, bound: list[tuple[Document, WaypointBinding]]
) -> Iterator[Finding]:
    ns = m.ns(gw)
    labels = _labels(gw.obj)
    value = labels.get(WAYPOINT_FOR)
    location = f"metadata.labels.{WAYPOINT_FOR}"
    fix = f"metadata:\n  labels:\n    {WAYPOINT_FOR}: service"
    if value is None:
        return  # absent means `service`
    if value not in WAYPOINT_FOR_VALUES:
        yield Finding(
            "WD305",
            Status.FAIL,
            f"Gateway {gw.name}: {WAYPOINT_FOR}={value!r} is not one of {', '.join(WAYPOINT_FOR_VALUES)}",
            gw,
            location,
            fix,
            "waypoint-for-invalid",
            ns,
        )
        return
    services = [d for d, _ in bound if d.kind in ("Service", "Namespace")]
    if value in ("workload", "none") and services:
        users = ", ".join(f"{d.kind} {d.name}" for d in services)
        yield Finding(
            "WD305",
            Status.FAIL,
            f"Gateway {gw.name} has {WAYPOINT_FOR}={value}, so it takes no service traffic, yet {users} "
            "is bound to it: service traffic goes straight to the pods and L7 policy never applies",
            gw,
            location,
            fix,
            "waypoint-for-no-service",
            ns,
        )
    elif value == "none":
        yield Finding(
            "WD305",
            Status.WARN,
            f"Gateway {gw.name} has {WAYPOINT_FOR}=none: it handles no traffic at all",
            gw,
            location,
            fix,
            "waypoint-for-none",
            ns,
        )


def _allowed_from(gw: Document) -> tuple[str, Any]:
    for _i, lst in _listeners(gw):
        if isinstance(lst, Mapping) and lst.get("port") == HBONE_PORT:
            allowed = lst.get("allowedRoutes")
            namespaces = allowed.get("namespaces") if isinstance(allowed, Mapping) else None
            if isinstance(namespaces, Mapping):
                return str(namespaces.get("from") or "Same"), namespaces.get("selector")
    return "Same", None


def binding_findings(m: Manifests) -> Iterator[Finding]:
    for doc, b in m.bindings:
        if not b.bound:
            continue
        ns = m.ns(doc) if doc.kind == "Service" else doc.name
        location = f"metadata.labels.{USE_WAYPOINT}"
        gateways = m.find("Gateway", b.waypoint_name or "", b.waypoint_namespace)
        if not gateways:
            yield Finding(
                "WD303",
                Status.INFO,
                f"{doc.kind} {doc.name} uses waypoint {b.ref}, which is not in these files: make sure it exists "
                "in the cluster",
                doc,
                location,
                f"istioctl waypoint apply -n {b.waypoint_namespace} --name {b.waypoint_name}",
                "waypoint-not-in-files",
                ns,
            )
            continue
        gw = gateways[0]
        if b.waypoint_namespace != ns:
            allowed, selector = _allowed_from(gw)
            permitted: bool | None
            if allowed == "All":
                permitted = True
            elif allowed == "Selector":
                ns_doc = m.namespace_doc(ns)
                match = selector.get("matchLabels") if isinstance(selector, Mapping) else None
                if ns_doc is None or not isinstance(match, Mapping) or selector.get("matchExpressions"):
                    permitted = None
                else:
                    labels = _labels(ns_doc.obj)
                    permitted = all(labels.get(str(k)) == str(v) for k, v in match.items())
            else:
                permitted = False
            if permitted is False:
                yield Finding(
                    "WD303",
                    Status.FAIL,
                    f"{doc.kind} {doc.name} in namespace {ns} uses waypoint {b.ref}, but the waypoint's listener "
                    f"allows routes from {allowed} namespaces only (AttachmentDenied)",
                    doc,
                    location,
                    _fragment(
                        {
                            "spec": {
                                "listeners": [
                                    {**_CANONICAL_LISTENER, "allowedRoutes": {"namespaces": {"from": "All"}}}
                                ]
                            }
                        }
                    ),
                    "waypoint-attachment-denied",
                    ns,
                )


def _service_matches_selector(service: Document, selector: Mapping[str, str]) -> bool:
    spec = service.obj.get("spec")
    svc_sel = spec.get("selector") if isinstance(spec, Mapping) else None
    if not isinstance(svc_sel, Mapping) or not svc_sel or not selector:
        return False
    svc = {str(k): str(v) for k, v in svc_sel.items()}
    # The pods the policy selects are the Service's pods when one label set contains the other.
    return set(svc.items()) <= set(selector.items()) or set(selector.items()) <= set(svc.items())


def _targetrefs_fix(names: Iterable[str]) -> str:
    refs = [{"kind": "Service", "group": "", "name": n} for n in names] or [
        {"kind": "Service", "group": "", "name": "<service>"}
    ]
    return "Replace spec.selector with:\n" + _fragment({"spec": {"targetRefs": refs}})


# -- AuthorizationPolicies (WD401-WD407) ---------------------------------------------------------
def _problem_check(problem: Problem) -> tuple[str, Status]:
    mapped = _PROBLEM_CHECKS.get(problem.code)
    if mapped is not None:
        return mapped
    loc = problem.location
    status = Status.FAIL if problem.severity is Severity.ERROR else Status.WARN
    if loc.startswith(("spec.targetRef", "spec.targetRefs")):
        return "WD402", status
    if loc.startswith("spec.selector"):
        return "WD401", status
    if ".from" in loc:
        return "WD405", status
    return "WD407", status


def _remediation(problem: Problem, doc: Document) -> str:
    value = _value_at(doc.obj, problem.location)
    code = problem.code
    if code == "principal-spiffe-prefix" and isinstance(value, str):
        return f"Write the principal without spiffe://:\n- {value[len(SPIFFE_PREFIX) :]}"
    if code == "principal-format":
        return "A principal is <trust-domain>/ns/<namespace>/sa/<service-account>, e.g. cluster.local/ns/default/sa/curl"
    if code == "method-not-uppercase" and isinstance(value, str):
        return f"Use the upper-case method: {value.upper()}"
    if code == "path-not-absolute" and isinstance(value, str):
        return f"Start the path with '/': /{value}"
    if code == "deny-without-rules":
        return "To deny every request:\nrules:\n- {}"
    if code in (
        "empty-from",
        "empty-to",
        "empty-source",
        "empty-operation",
        "missing-source",
        "missing-operation",
    ):
        return "Remove the empty entry (an absent from/to matches any source/operation), or fill it in"
    if code == "target-ref-kind-not-allowed":
        return _fragment({"spec": {"targetRefs": [{"kind": "Service", "group": "", "name": "<service>"}]}})
    if code == "target-ref-namespace-set":
        return "Remove namespace from the targetRef and create the policy in the target's namespace"
    if code == "service-accounts-with-principals":
        return "Use separate `from` entries: one with serviceAccounts, another with principals or namespaces"
    if code == "path-template-invalid":
        return "{*} matches one whole segment and {**} any number of them (last only), e.g. /v1/{*}/traces or /v1/{**}"
    return ""


def _unmasked_trust_domain(principal: str, td: str, aliases: tuple[str, ...]) -> str | None:
    if "/" not in principal or "*" in principal or principal.startswith(SPIFFE_PREFIX):
        return None
    domain = principal.split("/", 1)[0]
    if domain in (td, DEFAULT_TRUST_DOMAIN, *aliases):
        return None
    return domain


def policy_findings(m: Manifests) -> Iterator[Finding]:
    td, aliases, root_ns = m.mesh
    for doc, policy in m.policies:
        ns = m.ns(doc) or None
        for problem in policy.problems:
            if problem.code in _IGNORED_PROBLEMS:
                continue
            check_id, status = _problem_check(problem)
            yield Finding(
                check_id,
                status,
                f"AuthorizationPolicy {doc.name}: {problem.message}",
                doc,
                problem.location,
                _remediation(problem, doc),
                problem.code,
                ns,
            )
        yield from _attachment_findings(m, doc, policy)
        yield from _ztunnel_findings(doc, policy, ns)
        yield from _target_findings(m, doc, policy, root_ns)
        if td is not None:
            yield from _trust_domain_findings(doc, policy, td, aliases, ns)


def _attachment_findings(m: Manifests, doc: Document, policy: AuthorizationPolicy) -> Iterator[Finding]:
    if policy.selector is None or policy.target_refs:
        return
    ns = m.ns(doc) or None
    labels = dict(policy.selector)
    waypoint_keys = [k for k in (GATEWAY_NAME_LABEL, LEGACY_GATEWAY_NAME_LABEL) if k in labels]
    if waypoint_keys:
        gw_name = labels[waypoint_keys[0]]
        yield Finding(
            "WD401",
            Status.FAIL,
            f"AuthorizationPolicy {doc.name} selects the waypoint's pods ({waypoint_keys[0]}={gw_name}); "
            "waypoints ignore selector policies (Istio 1.22+)",
            doc,
            "spec.selector",
            "Replace spec.selector with:\n"
            + _fragment(
                {"spec": {"targetRefs": [{"kind": "Gateway", "group": GATEWAY_API_GROUP, "name": gw_name}]}}
            ),
            "selector-on-waypoint",
            ns,
        )
        return
    http_rules = [r for r in policy.rules if not r.skipped and rule_uses_http(r)]
    if not http_rules:
        return  # an L4 selector policy is fine: ztunnel enforces it
    attrs = sorted({a for r in http_rules for a in ztunnel_http_attributes(r)})
    services = [
        s.name for s in m.of("Service") if m.ns(s) == m.ns(doc) and _service_matches_selector(s, labels)
    ]
    yield Finding(
        "WD401",
        Status.FAIL,
        f"AuthorizationPolicy {doc.name} has HTTP rules ({', '.join(attrs)}) but attaches with selector: "
        "waypoints ignore selector policies, so the waypoint never enforces them",
        doc,
        "spec.selector",
        _targetrefs_fix(services),
        "selector-with-http",
        ns,
    )


def _ztunnel_findings(doc: Document, policy: AuthorizationPolicy, ns: str | None) -> Iterator[Finding]:
    if policy.target_refs or policy.action is None:
        return
    scope = "selector" if policy.selector is not None else "namespace-wide"
    conversion = convert_for_ztunnel(policy)
    if not conversion.supported:
        if policy.action in (Action.CUSTOM, Action.AUDIT):
            yield Finding(
                "WD404",
                Status.WARN,
                f"AuthorizationPolicy {doc.name} ({scope}) is enforced by ztunnel, which does not support the "
                f"{policy.action.value} action (ZtunnelAccepted=False)",
                doc,
                "spec.action",
                "Attach it to the waypoint with targetRefs instead",
                "ztunnel-unsupported-action",
                ns,
            )
        return
    if not conversion.http_attributes:
        return
    attrs = ", ".join(conversion.http_attributes)
    dropped = [r.index for r in conversion.rules if r.fate is RuleFate.DROPPED]
    stripped = [r.index for r in conversion.rules if r.fate is RuleFate.STRIPPED]
    void = [r.index for r in conversion.rules if r.fate is RuleFate.VOID]
    first = (dropped or stripped or void or [0])[0]
    location = f"spec.rules[{first}]"
    fix = (
        "Move the HTTP rules to a policy with targetRefs (enforced by the waypoint); keep only L4 fields here"
    )
    if policy.action is Action.ALLOW:
        if not conversion.kept_rules:
            message = (
                f"AuthorizationPolicy {doc.name} ({scope}) is enforced by ztunnel, which cannot evaluate {attrs}: "
                "every rule is dropped, so it allows nothing and the selected workloads deny all traffic"
            )
        else:
            message = (
                f"AuthorizationPolicy {doc.name} ({scope}) is enforced by ztunnel, which cannot evaluate {attrs}: "
                f"rules {', '.join(map(str, dropped))} are dropped (more restrictive than written)"
            )
        yield Finding("WD404", Status.FAIL, message, doc, location, fix, "ztunnel-http-allow", ns)
        return
    if stripped:
        yield Finding(
            "WD404",
            Status.FAIL,
            f"AuthorizationPolicy {doc.name} ({scope}) is a DENY enforced by ztunnel without its HTTP attributes "
            f"({attrs}): rules {', '.join(map(str, stripped))} deny more than written",
            doc,
            f"spec.rules[{stripped[0]}]",
            fix,
            "ztunnel-http-deny-broadened",
            ns,
        )
    if void:
        yield Finding(
            "WD404",
            Status.FAIL,
            f"AuthorizationPolicy {doc.name} ({scope}) is a DENY enforced by ztunnel: rules "
            f"{', '.join(map(str, void))} keep no L4 condition once {attrs} are removed, so they never match "
            "(no effect)",
            doc,
            f"spec.rules[{void[0]}]",
            fix,
            "ztunnel-http-deny-void",
            ns,
        )


def _target_findings(
    m: Manifests, doc: Document, policy: AuthorizationPolicy, root_ns: str
) -> Iterator[Finding]:
    ns = m.ns(doc)
    for ref in policy.target_refs:
        yield from _one_target(m, doc, ns, ref, root_ns)


def _one_target(m: Manifests, doc: Document, ns: str, ref: TargetRef, root_ns: str) -> Iterator[Finding]:
    loc = ref.location
    if ref.kind == "GatewayClass" and ref.canonical_group == GATEWAY_API_GROUP:
        if ref.name != WAYPOINT_CLASS:
            yield Finding(
                "WD402",
                Status.FAIL,
                f"AuthorizationPolicy {doc.name} targets GatewayClass {ref.name}; only {WAYPOINT_CLASS} is allowed",
                doc,
                f"{loc}.name",
                f"name: {WAYPOINT_CLASS}",
                "target-ref-gatewayclass-name",
                ns or None,
            )
        if ns and ns != root_ns:
            yield Finding(
                "WD402",
                Status.FAIL,
                f"AuthorizationPolicy {doc.name} targets a GatewayClass but is in namespace {ns}: it must be in "
                f"the root namespace {root_ns}",
                doc,
                loc,
                f"metadata:\n  namespace: {root_ns}",
                "target-ref-gatewayclass-namespace",
                ns,
            )
        return
    if ref.namespace and ns and ref.namespace != ns:
        yield Finding(
            "WD403",
            Status.FAIL,
            f"AuthorizationPolicy {doc.name} is in namespace {ns} but targets {ref.kind} {ref.namespace}/{ref.name}: "
            "a policy only applies to targets in its own namespace",
            doc,
            f"{loc}.namespace",
            f"Create the policy in namespace {ref.namespace} (metadata.namespace) and remove targetRef.namespace",
            "target-ref-other-namespace",
            ns,
        )
        return
    target_kind = {"Service": "Service", "Gateway": "Gateway", "ServiceEntry": "ServiceEntry"}.get(ref.kind)
    if target_kind is None or not ref.name:
        return
    expected_group = {"Service": "core", "Gateway": GATEWAY_API_GROUP, "ServiceEntry": "networking.istio.io"}[
        ref.kind
    ]
    if ref.canonical_group != expected_group:
        return  # already a WD402 finding from the engine
    same_ns = m.find(target_kind, ref.name, ns)
    if same_ns:
        if target_kind == "Service":
            yield from _target_service_binding(m, doc, ns, ref, same_ns[0])
        return
    elsewhere = [d for d in m.find(target_kind, ref.name) if m.ns(d) != ns]
    if elsewhere and ns:
        other = m.ns(elsewhere[0])
        yield Finding(
            "WD403",
            Status.FAIL,
            f"AuthorizationPolicy {doc.name} is in namespace {ns}, but {ref.kind} {ref.name} is in namespace "
            f"{other}: a policy only applies to targets in its own namespace",
            doc,
            "metadata.namespace" if doc.namespace else loc,
            f"metadata:\n  namespace: {other}",
            "target-other-namespace",
            ns,
        )
        return
    if not elsewhere:
        yield Finding(
            "WD402",
            Status.INFO,
            f"AuthorizationPolicy {doc.name} targets {ref.kind} {ref.name}, which is not in these files: make sure "
            "it exists in the cluster",
            doc,
            loc,
            code="target-not-in-files",
            namespace=ns or None,
        )


def _target_service_binding(
    m: Manifests, doc: Document, ns: str, ref: TargetRef, service: Document
) -> Iterator[Finding]:
    b = m.binding(service)
    if b.bound:
        return
    ns_known = m.namespace_doc(m.ns(service)) is not None
    if b.opted_out:
        status, why = (
            Status.FAIL,
            f"Service {service.name} opts out of waypoints (istio.io/use-waypoint: none)",
        )
    elif ns_known:
        status, why = (
            Status.FAIL,
            f"neither Service {service.name} nor its Namespace has istio.io/use-waypoint",
        )
    else:
        status, why = (
            Status.WARN,
            f"Service {service.name} has no istio.io/use-waypoint label (its Namespace is not in these files)",
        )
    yield Finding(
        "WD302",
        status,
        f"AuthorizationPolicy {doc.name} targets Service {service.name}, but {why}: a targetRefs policy is "
        "enforced only by the Service's waypoint, so it applies nowhere",
        doc,
        ref.location,
        f"kubectl label service {service.name} -n {ns or '<namespace>'} istio.io/use-waypoint=<waypoint>",
        "target-service-not-bound",
        ns or None,
    )


def _trust_domain_findings(
    doc: Document, policy: AuthorizationPolicy, td: str, aliases: tuple[str, ...], ns: str | None
) -> Iterator[Finding]:
    for rule in policy.rules:
        for source in rule.sources or ():
            for field_name, values in source.fields():
                if field_name not in ("principals", "notPrincipals"):
                    continue
                for i, value in enumerate(values):
                    domain = _unmasked_trust_domain(value, td, aliases)
                    if domain is not None:
                        yield Finding(
                            "WD405",
                            Status.WARN,
                            f"AuthorizationPolicy {doc.name}: principal {value!r} uses trust domain {domain!r}, "
                            f"but the mesh's is {td!r} (no alias for it): it never matches",
                            doc,
                            f"{source.location}.{field_name}[{i}]",
                            f"{td}/{value.split('/', 1)[1]}",
                            "principal-trust-domain",
                            ns,
                        )


def _waypoint_identity(m: Manifests, b: WaypointBinding, td: str) -> str:
    sa = b.waypoint_name or ""
    for gw in m.find("Gateway", b.waypoint_name or "", b.waypoint_namespace):
        meta = gw.obj.get("metadata")
        annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
        override = annotations.get(SERVICE_ACCOUNT_OVERRIDE) if isinstance(annotations, Mapping) else None
        if isinstance(override, str) and override:
            sa = override
    return f"{td}/ns/{b.waypoint_namespace}/sa/{sa}"


def _target_ports(service: Document) -> list[int]:
    spec = service.obj.get("spec")
    ports = spec.get("ports") if isinstance(spec, Mapping) else None
    out: list[int] = []
    for port in ports if isinstance(ports, list) else []:
        if not isinstance(port, Mapping):
            continue
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, int) and not isinstance(target, bool):
            out.append(target)
    return out or [0]


def _policy_applies_to(
    m: Manifests, doc: Document, policy: AuthorizationPolicy, service: Document, root_ns: str
) -> bool:
    """Whether ztunnel enforces `policy` on every pod of `service` (only when that is certain)."""
    if policy.target_refs:
        return False
    policy_ns = m.ns(doc)
    if policy.selector is None:
        return policy_ns in (m.ns(service), root_ns)
    if policy_ns != m.ns(service):
        return False
    spec = service.obj.get("spec")
    svc_sel = spec.get("selector") if isinstance(spec, Mapping) else None
    if not isinstance(svc_sel, Mapping) or not svc_sel:
        return False
    selector = {str(k): str(v) for k, v in svc_sel.items()}
    return bool(policy.selector) and set(policy.selector) <= set(selector.items())


def waypoint_hop_findings(m: Manifests) -> Iterator[Finding]:
    """WD409: the destination ztunnel must admit the waypoint itself (reference 5.4)."""
    from waypoint_doctor.authz.evaluate import Request, Verdict, evaluate

    td, aliases, root_ns = m.mesh
    trust_domain = td or DEFAULT_TRUST_DOMAIN
    for service in m.of("Service"):
        b = m.binding(service)
        if not b.bound:
            continue
        applying = [
            (doc, p)
            for doc, p in m.policies
            if p.action is not None and _policy_applies_to(m, doc, p, service, root_ns)
        ]
        if not any(p.action is Action.ALLOW for _, p in applying):
            continue
        identity = _waypoint_identity(m, b, trust_domain)
        for port in _target_ports(service):
            request = Request(principal=identity, method=None, path=None, port=port or None, protocol="tcp")
            decision = evaluate(
                [p for _, p in applying],
                request,
                enforcer="ztunnel",
                trust_domain=trust_domain,
                aliases=aliases,
            )
            if decision.verdict is Verdict.ALLOW:
                continue
            denying = next(
                (d for d, p in applying if decision.decided_by and decision.decided_by.policy == p.key),
                next(d for d, p in applying if p.action is Action.ALLOW),
            )
            names = ", ".join(sorted(d.name for d, p in applying if p.action is Action.ALLOW))
            status = Status.FAIL if decision.verdict is Verdict.DENY else Status.WARN
            ns = m.ns(service)
            fix = _fragment(
                {
                    "apiVersion": "security.istio.io/v1",
                    "kind": "AuthorizationPolicy",
                    "metadata": {"name": "allow-waypoint", "namespace": ns or "<namespace>"},
                    "spec": {
                        "selector": {"matchLabels": dict(_service_selector(service))},
                        "action": "ALLOW",
                        "rules": [{"from": [{"source": {"principals": [identity]}}]}],
                    },
                }
            )
            verdict = "refuses" if decision.verdict is Verdict.DENY else "may refuse"
            yield Finding(
                "WD409",
                status,
                f"Service {service.name} is bound to waypoint {b.ref}, and the ztunnel in front of its pods "
                f"{verdict} the waypoint ({identity}){f' on port {port}' if port else ''}: waypoints do not "
                f"impersonate clients, and the ALLOW policies there ({names}) do not admit it",
                denying,
                "metadata.name",
                "Admit the waypoint at the pods (keep your L4 rules):\n" + fix,
                "waypoint-hop-denied",
                m.ns(denying) or None,
            )
            break


def _service_selector(service: Document) -> dict[str, str]:
    spec = service.obj.get("spec")
    sel = spec.get("selector") if isinstance(spec, Mapping) else None
    return {str(k): str(v) for k, v in sel.items()} if isinstance(sel, Mapping) else {}


def all_findings(m: Manifests) -> list[Finding]:
    findings = [*gateway_findings(m), *binding_findings(m), *policy_findings(m), *waypoint_hop_findings(m)]
    return sorted(findings, key=lambda f: (f.doc.file, f.line, f.check_id, f.field))


def relevant_checks(m: Manifests) -> dict[str, str | None]:
    """For each lint check: None when the files give it something to judge, else why not."""
    has_gw = bool(waypoint_gateways(m))
    has_binding = any(b.bound for _, b in m.bindings)
    has_policy = bool(m.of("AuthorizationPolicy"))
    no_gw = "no waypoint Gateway in the files"
    no_policy = "no AuthorizationPolicy in the files"
    return {
        "WD302": None if has_policy else no_policy,
        "WD303": None if has_binding else "no istio.io/use-waypoint label in the files",
        "WD304": None if has_gw else no_gw,
        "WD305": None if has_gw else no_gw,
        "WD401": None if has_policy else no_policy,
        "WD402": None if has_policy else no_policy,
        "WD403": None if has_policy else no_policy,
        "WD404": None if has_policy else no_policy,
        "WD405": None if has_policy else no_policy,
        "WD407": None if has_policy else no_policy,
        "WD409": None
        if has_policy and has_binding
        else (no_policy if not has_policy else "no Service bound to a waypoint in the files"),
    }
