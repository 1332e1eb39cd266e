"""Checks WD501-WD505: identities, and what the logs say actually happened.

Configuration says what should happen (WD1xx-WD4xx); these checks read ztunnel and waypoint
access logs and istioctl's certificate dumps for what did. Logs are parsed once per view (the
parsers stream; records are cached per view and log), then grouped per target service by the
pure functions of ``waypoint_doctor.logs.aggregate``. Everything shown from a log goes through
``safe_text`` (control characters stripped, secrets redacted).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from waypoint_doctor.authz import Action, Enforcer, Request, evaluate
from waypoint_doctor.authz.match import (
    match_namespace_waypoint,
    match_namespace_ztunnel,
    match_principal_waypoint,
    match_principal_ztunnel,
    match_service_account_waypoint,
    match_service_account_ztunnel,
    parse_identity,
    waypoint_principal_values,
)
from waypoint_doctor.authz.model import AuthorizationPolicy
from waypoint_doctor.checks.policy import AP, PolicyInputs, policy_inputs
from waypoint_doctor.checks.spec import (
    CheckContext,
    Outcome,
    SkipCheck,
    Status,
    check,
    failed,
    informed,
    passed,
    warned,
)
from waypoint_doctor.collect.istioctl import Identities, parse_captures
from waypoint_doctor.collect.view import ClusterView, LogKey, Obj, dig, obj_name, obj_namespace
from waypoint_doctor.logs import envoy, ztunnel
from waypoint_doctor.logs.aggregate import (
    BypassGroup,
    ConnectionErrorGroup,
    RejectionGroup,
    TrafficTarget,
    WaypointDenialGroup,
    WaypointMarkers,
    ZtunnelDigest,
    address_host,
    digest_ztunnel,
    group_waypoint_denials,
)
from waypoint_doctor.logs.sanitize import safe_text
from waypoint_doctor.logs.ztunnel import FailureKind, RejectionReason, ZtunnelAccess
from waypoint_doctor.mesh.workloads import pod_identity, pod_node

SPIFFE = "spiffe://"
MAX_GROUPS = 10  # evidence items per check; the message carries the totals


# ---------------------------------------------------------------------------------------------
# reading logs: parsed once per view and log


def _parsed(view: ClusterView, kind: str, key: LogKey) -> tuple[Any, ...]:
    cache: dict[tuple[str, LogKey], tuple[Any, ...]] = view.derived("logs.parsed", dict)
    records = cache.get((kind, key))
    if records is None:
        text = view.logs.get(key, "")
        parse = ztunnel.iter_access if kind == "ztunnel" else envoy.iter_access
        records = cache[(kind, key)] = tuple(parse(text))
    return records


@dataclass(frozen=True)
class LogEvidence:
    """The parsed logs of a set of pods, and what could not be had."""

    records: tuple[Any, ...]
    pods: tuple[str, ...]  # "<ns>/<pod>" whose logs were read
    gaps: tuple[str, ...] = ()  # sentences: logs a complete answer would need but that are absent


def _logs_of(
    ctx: CheckContext, pods: Iterable[Obj], kind: str, what: str, needed_nodes: set[str] | None = None
) -> LogEvidence:
    """Records from the logs of ``pods``; SkipCheck (naming the cause) when there are none."""
    if not ctx.options.logs_enabled:
        raise SkipCheck("log collection was turned off (--no-logs)")
    pods = list(pods)
    if not pods:
        raise SkipCheck(f"no {what} pods found")
    records: list[Any] = []
    read: list[str] = []
    nodes_read: set[str] = set()
    namespaces: list[str] = []
    for pod in pods:
        ns, name = obj_namespace(pod), obj_name(pod)
        namespaces.append(ns)
        keys = [k for k in ctx.view.logs if k.namespace == ns and k.pod == name]
        if not keys:
            continue
        read.append(f"{ns}/{name}")
        if (node := pod_node(pod)) is not None:
            nodes_read.add(node)
        for key in sorted(keys, key=lambda k: k.container):
            records.extend(_parsed(ctx.view, kind, key))
    if not read:
        for ns in dict.fromkeys(namespaces):
            entry = ctx.view.unreadable_for("pods", ns, subresource="log")
            if entry is not None:
                raise SkipCheck(f"cannot read {what} logs: {entry.describe()}")
        raise SkipCheck(
            f"no {what} logs were collected"
            + (" (a snapshot keeps them as logs/<namespace>/<pod>/<container>.log)")
        )
    gaps = ()
    if needed_nodes:
        missing = sorted(needed_nodes - nodes_read)
        if missing:
            gaps = (f"no {what} log from node(s) {', '.join(missing)}",)
    return LogEvidence(tuple(records), tuple(read), gaps)


def _window(ctx: CheckContext) -> tuple[timedelta | None, datetime | None]:
    """(since, now) for aggregation. Live logs come already windowed by the API server."""
    if ctx.options.log_window_applied or not ctx.options.since_seconds:
        return None, None
    return timedelta(seconds=ctx.options.since_seconds), ctx.options.now


def _window_text(ctx: CheckContext, newest: datetime | None) -> str:
    since = ctx.options.since_seconds
    span = _duration(since) if since else "all the log"
    if ctx.options.log_window_applied or not since:
        return f"in the last {span}" if since else "in the logs read"
    end = ctx.options.now or newest
    return f"in the {span} before {_ts(end)}" if end else f"in the last {span}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _ts(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _safe(value: str | None, max_len: int = 200) -> str | None:
    return None if value is None else safe_text(value, max_len=max_len)


def _safe_all(values: Iterable[str]) -> list[str]:
    return [safe_text(v, max_len=200) for v in values]


# ---------------------------------------------------------------------------------------------
# what the target and its waypoint look like in logs


def _pod_ips(pod: Obj) -> set[str]:
    ips = [dig(pod, "status", "podIP")]
    entries = dig(pod, "status", "podIPs", default=[])
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping):
            ips.append(entry.get("ip"))
    return {ip for ip in ips if isinstance(ip, str) and ip}


def _service_ips(service: Obj | None) -> set[str]:
    if service is None:
        return set()
    ips = [dig(service, "spec", "clusterIP")]
    more = dig(service, "spec", "clusterIPs", default=[])
    ips.extend(more if isinstance(more, list) else [])
    return {ip for ip in ips if isinstance(ip, str) and ip and ip != "None"}


def _service_fqdn(ctx: CheckContext, records: Iterable[ZtunnelAccess]) -> str:
    """``<svc>.<ns>.svc.<cluster domain>``; the cluster domain as logged, else cluster.local."""
    prefix = f"{ctx.target.name}.{ctx.target.namespace}.svc."
    for rec in records:
        if rec.dst_service and rec.dst_service.startswith(prefix):
            return rec.dst_service
    return prefix + "cluster.local"


def _traffic_target(ctx: CheckContext, records: Iterable[ZtunnelAccess]) -> TrafficTarget:
    pods = ctx.facts.service_pods
    addresses = set().union(*(_pod_ips(p) for p in pods)) if pods else set()
    addresses |= _service_ips(ctx.facts.service)
    return TrafficTarget(
        _service_fqdn(ctx, records), frozenset(obj_name(p) for p in pods), frozenset(addresses)
    )


def _istioctl_identities(ctx: CheckContext) -> Identities:
    cache: dict[tuple[Any, ...], Any] = ctx.view.derived("logs.digests", dict)
    key = ("istioctl",)
    if key not in cache:
        cache[key] = parse_captures(ctx.view.istioctl) if ctx.view.istioctl else Identities()
    return cache[key]


def _waypoint_markers(ctx: CheckContext) -> WaypointMarkers:
    facts = ctx.facts
    pods = facts.waypoint_pods
    identities = set()
    if facts.waypoint_identity:
        identities.add(SPIFFE + facts.waypoint_identity)
    ids = _istioctl_identities(ctx)
    for pod in pods:
        cert = ids.waypoint_identity(obj_namespace(pod), obj_name(pod))
        if cert is not None:
            identities.add(cert.uri)
    addresses = set().union(*(_pod_ips(p) for p in pods)) if pods else set()
    binding = facts.binding
    if binding.bound and binding.waypoint_name:
        addresses |= _service_ips(ctx.view.get("services", binding.waypoint_namespace, binding.waypoint_name))
    return WaypointMarkers(frozenset(obj_name(p) for p in pods), frozenset(identities), frozenset(addresses))


@dataclass(frozen=True)
class ZtunnelFindings:
    logs: LogEvidence
    digest: ZtunnelDigest
    target: TrafficTarget
    waypoint: WaypointMarkers


def _ztunnel_findings(ctx: CheckContext) -> ZtunnelFindings:
    facts = ctx.facts
    nodes = {n for p in facts.service_pods if (n := pod_node(p))}
    logs = _logs_of(ctx, facts.ztunnel_pods, "ztunnel", "ztunnel", needed_nodes=nodes)
    since, now = _window(ctx)
    cache: dict[tuple[Any, ...], Any] = ctx.view.derived("logs.digests", dict)
    key = ("ztunnel", ctx.target.namespace, ctx.target.name, since, now, logs.pods)
    found = cache.get(key)
    if found is None:
        target = _traffic_target(ctx, logs.records)
        waypoint = _waypoint_markers(ctx)
        digest = digest_ztunnel(logs.records, target, waypoint=waypoint, since=since, now=now)
        found = cache[key] = ZtunnelFindings(logs, digest, target, waypoint)
    return found


def _is_waypoint_identity(identity: str | None, markers: WaypointMarkers) -> bool:
    return identity is not None and identity in markers.identities


def _principal(identity: str | None) -> str | None:
    if identity is None:
        return None
    return identity[len(SPIFFE) :] if identity.startswith(SPIFFE) else identity


# ---------------------------------------------------------------------------------------------
# WD501


@dataclass
class _Caller:
    identity: str  # principal form: <td>/ns/<ns>/sa/<sa>
    source: str
    computed: str | None = None  # from the pod's ServiceAccount and the mesh trust domain
    pods: list[str] = field(default_factory=list)
    seen_in_logs: int = 0
    certificate_state: str | None = None


def _rule_names(
    policy: AuthorizationPolicy, enforcer: Enforcer, identity: str, td: str, aliases: tuple[str, ...]
) -> list[str]:
    """Where ``policy`` names ``identity`` (a principal) in a positive source field."""
    out = []
    for rule in policy.rules:
        for source in rule.sources or ():
            hits = []
            for value in source.principals:
                if enforcer is Enforcer.WAYPOINT:
                    ok = any(
                        match_principal_waypoint(v, identity)
                        for v in waypoint_principal_values(value, td, aliases)
                    )
                else:
                    ok = match_principal_ztunnel(value, identity)
                if ok:
                    hits.append(f"principals: {value}")
            for value in source.service_accounts:
                match = (
                    match_service_account_waypoint
                    if enforcer is Enforcer.WAYPOINT
                    else match_service_account_ztunnel
                )
                if match(value, policy.namespace, identity):
                    hits.append(f"serviceAccounts: {value}")
            for value in source.namespaces:
                match_ns = (
                    match_namespace_waypoint if enforcer is Enforcer.WAYPOINT else match_namespace_ztunnel
                )
                if match_ns(value, identity):
                    hits.append(f"namespaces: {value}")
            out.extend(f"{policy.key} rule {rule.index} ({hit})" for hit in hits)
    return out


def _named_by(inputs: PolicyInputs, identity: str) -> list[str]:
    out: list[str] = []
    for attachment in inputs.applied:
        policy = attachment.policy
        if policy.action not in (Action.ALLOW, Action.DENY) or attachment.enforced_by is None:
            continue
        for where in _rule_names(
            policy, attachment.enforced_by, identity, inputs.trust_domain, inputs.aliases
        ):
            out.append(f"{policy.action.value} {where}" if policy.action is Action.DENY else where)
    return out


def _allow_policies_at_waypoint(inputs: PolicyInputs) -> list[AuthorizationPolicy]:
    return [
        a.policy
        for a in inputs.applied
        if a.enforced_by is Enforcer.WAYPOINT and a.policy.action is Action.ALLOW and not a.policy.dry_run
    ]


def _intended_caller_pods(
    ctx: CheckContext, inputs: PolicyInputs, exclude: set[tuple[str, str]]
) -> list[Obj]:
    """Pods of the view whose computed identity an ALLOW policy meant for the service names."""
    out = []
    allow = [a for a in inputs.applied if a.policy.action is Action.ALLOW and a.enforced_by is not None]
    if not allow:
        return out
    by_identity = _pods_by_identity(ctx, inputs.trust_domain)
    for identity, pods in by_identity.items():  # one match per identity, not per pod
        if not any(
            _rule_names(a.policy, a.enforced_by, identity, inputs.trust_domain, inputs.aliases)  # type: ignore[arg-type]
            for a in allow
        ):
            continue
        out.extend(p for p in pods if (obj_namespace(p), obj_name(p)) not in exclude)
    return out


def _pods_by_identity(ctx: CheckContext, trust_domain: str) -> dict[str, list[Obj]]:
    def group() -> dict[str, list[Obj]]:
        out: dict[str, list[Obj]] = {}
        for pod in ctx.view.list("pods"):
            if obj_namespace(pod) and obj_name(pod):
                out.setdefault(pod_identity(pod, trust_domain), []).append(pod)
        return out

    return ctx.view.derived(("pods-by-identity", trust_domain), group)


@check(
    "WD501",
    "Caller identities match the policies",
    category="evidence",
    reads=(AP, "pods", "istioctl", "logs"),
)
def caller_identities(ctx: CheckContext) -> Outcome:
    """The identities of the workloads that call the service (istioctl certificates, else computed
    from ServiceAccounts and the trust domain), compared with the principals the policies name."""
    inputs = policy_inputs(ctx)
    facts = ctx.facts
    td = inputs.trust_domain
    ids = _istioctl_identities(ctx)
    have_istioctl = not ids.empty
    service_refs = {(obj_namespace(p), obj_name(p)) for p in facts.service_pods}
    waypoint_refs = {(obj_namespace(p), obj_name(p)) for p in facts.waypoint_pods}
    exclude = service_refs | waypoint_refs

    callers: dict[str, _Caller] = {}
    pods_by_name = {(obj_namespace(p), obj_name(p)): p for p in ctx.view.list("pods")}

    def add_pod(pod: Obj, source_hint: str, presented: str | None = None) -> _Caller:
        """Register a calling pod under the identity it presents: as logged, else as istioctl
        reports it, else computed from its ServiceAccount."""
        ns, name = obj_namespace(pod), obj_name(pod)
        computed = pod_identity(pod, td)
        reported = ids.identity_of_pod(ns, name)
        if presented is not None:
            identity, source = presented, "access log (src.identity)"
        elif reported is not None:
            identity, source = reported.principal, "istioctl ztunnel-config workloads"
        else:
            identity, source = computed, source_hint
        caller = callers.setdefault(identity, _Caller(identity, source, computed))
        if f"{ns}/{name}" not in caller.pods:
            caller.pods.append(f"{ns}/{name}")
        return caller

    # 1. callers seen in the logs (the client side names the source identity)
    markers = _waypoint_markers(ctx)
    try:
        found = _ztunnel_findings(ctx)
    except SkipCheck:
        found = None
    if found is not None:
        for rec in found.logs.records:
            if not found.target.matches(rec) or rec.src_identity is None:
                continue
            if markers.is_source(rec) or _is_waypoint_identity(rec.src_identity, markers):
                continue
            principal = _principal(rec.src_identity)
            if principal is None or parse_identity(principal) is None:
                continue
            pod = pods_by_name.get((rec.src_namespace or "", rec.src_workload or ""))
            if pod is not None:
                caller = add_pod(pod, "computed from the pod's ServiceAccount", presented=principal)
            else:
                caller = callers.setdefault(principal, _Caller(principal, "access log (src.identity)"))
            caller.seen_in_logs += 1
    # 2. the pods the policies mean to let in
    for pod in _intended_caller_pods(ctx, inputs, exclude):
        add_pod(pod, "computed from the pod's ServiceAccount")
    # 3. nothing else to go on: the service's neighbours
    if not callers:
        for pod in ctx.view.list("pods", ctx.target.namespace):
            ref = (obj_namespace(pod), obj_name(pod))
            if ref not in exclude and all(ref):
                add_pod(pod, "computed from the pod's ServiceAccount")

    # certificates ztunnel holds
    cert_state = {c.spiffe.principal: c.state for c in ids.ztunnel_certificates if c.spiffe is not None}
    for caller in callers.values():
        caller.certificate_state = cert_state.get(caller.identity)

    evidence: list[dict[str, Any]] = []
    mismatches: list[str] = []
    unnamed_observed: list[str] = []
    not_ready: list[str] = []
    allow_at_waypoint = _allow_policies_at_waypoint(inputs)
    principals_named = any(
        source.principals or source.service_accounts or source.namespaces
        for a in inputs.applied
        for rule in a.policy.rules
        for source in rule.sources or ()
    )
    for identity in sorted(callers):
        caller = callers[identity]
        named = _named_by(inputs, identity)
        item: dict[str, Any] = {
            "kind": "Identity",
            "identity": identity,
            "source": caller.source,
            "pods": caller.pods[:5],
            "named_by": named,
        }
        if caller.seen_in_logs:
            item["seen_in_logs"] = caller.seen_in_logs
        if caller.certificate_state:
            item["certificate"] = caller.certificate_state
        if caller.computed and caller.computed != identity:
            item["computed"] = caller.computed
            computed_named = _named_by(inputs, caller.computed)
            if computed_named and not named:
                item["problem"] = f"the policies name {caller.computed}, but the workload presents {identity}"
                mismatches.append(
                    f"{', '.join(caller.pods[:2]) or identity} presents {identity}, the policies name {caller.computed}"
                )
        if caller.certificate_state and not caller.certificate_state.startswith("Available"):
            not_ready.append(f"{identity} ({caller.certificate_state.split(':', 1)[0]})")
        if caller.seen_in_logs and not named and allow_at_waypoint:
            unnamed_observed.append(identity)
        evidence.append(item)

    # the waypoint's own identity
    waypoint_problem = None
    if facts.waypoint_identity:
        wp_item: dict[str, Any] = {"kind": "WaypointIdentity", "expected": facts.waypoint_identity}
        for pod in facts.waypoint_pods:
            cert = ids.waypoint_identity(obj_namespace(pod), obj_name(pod))
            if cert is None:
                continue
            wp_item["certificate"] = cert.principal
            wp_item["pod"] = f"{obj_namespace(pod)}/{obj_name(pod)}"
            if cert.principal != facts.waypoint_identity:
                waypoint_problem = (
                    f"the waypoint's certificate says {cert.principal}, not {facts.waypoint_identity} "
                    "(what the destination's policies must admit, see WD409)"
                )
                wp_item["problem"] = waypoint_problem
            break
        evidence.append(wp_item)
    for problem in ids.errors:
        evidence.append({"kind": "IstioctlOutput", "file": problem.source, "problem": problem.message})

    how = (
        "from istioctl (ztunnel workloads and certificates)"
        if have_istioctl
        else f"computed from ServiceAccounts and trust domain {td} (no istioctl output)"
    )
    count = f"{len(callers)} caller identit{'y' if len(callers) == 1 else 'ies'}"
    if mismatches or waypoint_problem:
        first = mismatches[0] if mismatches else waypoint_problem
        fix = (
            "Write principals as the identities the certificates carry (istioctl ztunnel-config "
            "certificates <ztunnel-pod>.istio-system), or fix the mesh trust domain "
            "(ConfigMap istio, key mesh, trustDomain, plus trustDomainAliases) so both agree."
        )
        if waypoint_problem:
            fix += (
                f"\nAdmit the waypoint's real identity at the destination pods: principals: "
                f"[{wp_item.get('certificate')}] (see WD409)."
            )
        return failed(f"identity mismatch: {first}", evidence, fix)
    if not_ready:
        return warned(
            f"ztunnel has no usable certificate for {', '.join(not_ready[:3])}: those workloads cannot use mTLS",
            evidence,
            "Check istiod's CA and the ztunnel log for certificate errors; list the certificates with:\n"
            "istioctl ztunnel-config certificates <ztunnel-pod>.istio-system",
        )
    if not callers:
        return informed(f"no caller identities to compare ({how})", evidence)
    if not principals_named:
        return informed(f"{count} {how}; no policy names principals to compare", evidence)
    if unnamed_observed:
        return informed(
            f"{count} {how}; seen calling but named by no principal: {', '.join(unnamed_observed[:3])} "
            "(see WD410 for the decision, WD405 for principal syntax)",
            evidence,
        )
    return passed(f"{count} {how}, consistent with the principals the policies name", evidence)


# ---------------------------------------------------------------------------------------------
# WD502


_REASON_TEXT = {
    RejectionReason.ALLOW_NONE: "allow policies exist, but none allowed",
    RejectionReason.EXPLICITLY_DENIED: "explicitly denied",
    RejectionReason.WORKLOAD_NOT_FOUND: "workload not found",
    RejectionReason.WORKLOAD_MISMATCH: "workload mismatch",
    RejectionReason.UNKNOWN_PRE_1_24: "policy rejection (no reason logged before Istio 1.24)",
    RejectionReason.POLICY_CHANGE: "closed after a policy change",
    RejectionReason.UNRECOGNISED: "policy rejection",
}


def _rejection_item(group: RejectionGroup, markers: WaypointMarkers) -> dict[str, Any]:
    item: dict[str, Any] = {
        "kind": "PolicyRejection",
        "source_identity": group.source_identity or "(none: plaintext or early deny)",
        "reason": _REASON_TEXT.get(group.reason, "HTTP 401 from the destination ztunnel")
        if group.reason is not None
        else "HTTP 401 from the destination ztunnel (seen by the client)",
        "policy": group.policy,
        "count": group.count,
        "first_seen": _ts(group.first_seen),
        "last_seen": _ts(group.last_seen),
        "reported_by": f"{group.reported_by} ztunnel",
        "source_workloads": _safe_all(group.source_workloads),
        "destinations": _safe_all(group.destinations),
    }
    if not group.source_identity and group.source_addresses:
        item["source_addresses"] = _safe_all(group.source_addresses)
    if _is_waypoint_identity(group.source_identity, markers):
        item["see"] = "WD409"
    elif group.policy and group.policy.endswith("/istio_converted_static_strict"):
        item["see"] = "PeerAuthentication STRICT: the client sent plaintext"
    return item


def _rejection_fix(ctx: CheckContext, groups: Iterable[RejectionGroup], markers: WaypointMarkers) -> str:
    lines = []
    for g in groups:
        if _is_waypoint_identity(g.source_identity, markers):
            principal = _principal(g.source_identity)
            selector = dig(ctx.facts.service, "spec", "selector") or {}
            policy = {
                "apiVersion": "security.istio.io/v1",
                "kind": "AuthorizationPolicy",
                "metadata": {"name": "allow-waypoint", "namespace": ctx.target.namespace},
                "spec": {
                    **({"selector": {"matchLabels": dict(selector)}} if selector else {}),
                    "action": "ALLOW",
                    "rules": [{"from": [{"source": {"principals": [principal]}}]}],
                },
            }
            lines.append(
                "The destination ztunnel refuses the waypoint's own identity (waypoints do not impersonate "
                "clients; see WD409). Admit it at the pods:\n"
                "kubectl apply -f - <<'EOF'\n" + yaml.safe_dump(policy, sort_keys=False).rstrip() + "\nEOF"
            )
        elif g.policy and g.policy.endswith("/istio_converted_static_strict"):
            lines.append(
                "A plaintext client hit STRICT mTLS: enroll the client in the mesh, or relax the "
                "PeerAuthentication for this port if plaintext is intended."
            )
        elif g.reason is RejectionReason.EXPLICITLY_DENIED and g.policy:
            ns, _, name = g.policy.partition("/")
            lines.append(
                f"DENY policy {g.policy} matched: kubectl get authorizationpolicy -n {ns} {name} -o yaml"
            )
        elif g.reason is RejectionReason.UNKNOWN_PRE_1_24:
            lines.append(
                "Before Istio 1.24 ztunnel logged no reason: list the policies it enforces with "
                "istioctl ztunnel-config policies <ztunnel-pod>.istio-system"
            )
        else:
            lines.append(
                f"{g.source_identity or 'a client without identity'} is not allowed by the selector or "
                "namespace-wide ALLOW policies at the pods; add it, or send it through the waypoint."
            )
    return "\n\n".join(dict.fromkeys(lines))


@check("WD502", "ztunnel policy rejections", category="evidence", reads=("pods", "logs"))
def ztunnel_policy_rejections(ctx: CheckContext) -> Outcome:
    """ztunnel access logs: policy rejections toward the service, by source identity, with counts,
    last seen and the policy named."""
    found = _ztunnel_findings(ctx)
    groups = found.digest.rejections
    window = _window_text(ctx, found.digest.newest)
    name = ctx.target.name
    if not groups:
        note = f"; {found.logs.gaps[0]}" if found.logs.gaps else ""
        message = (
            f"no policy rejections toward {name} {window} ({len(found.logs.pods)} ztunnel logs read{note})"
        )
        if found.logs.gaps:
            return Outcome(
                Status.SKIP, message, tuple({"kind": "LogGap", "detail": g} for g in found.logs.gaps)
            )
        return passed(message)
    total = sum(g.count for g in groups)
    evidence = [_rejection_item(g, found.waypoint) for g in groups[:MAX_GROUPS]]
    top = groups[0]
    who = top.source_identity or "clients without identity"
    reason = evidence[0]["reason"]
    waypoint_groups = [g for g in groups if _is_waypoint_identity(g.source_identity, found.waypoint)]
    message = (
        f"{total} connection{'s' if total != 1 else ''} toward {name} rejected by policy {window}; "
        f"most from {who}: {reason}"
        + (f" ({top.policy})" if top.policy else "")
        + f", last seen {_ts(top.last_seen)}"
    )
    remediation = _rejection_fix(ctx, groups[:3], found.waypoint)
    if waypoint_groups:
        wp = waypoint_groups[0]
        message = (
            f"the destination ztunnel rejects the waypoint ({_principal(wp.source_identity)}): "
            f"{wp.count} connection{'s' if wp.count != 1 else ''} {window}, last seen {_ts(wp.last_seen)} "
            f"({evidence[groups.index(wp)]['reason']}); see WD409"
        )
        return failed(message, evidence, _rejection_fix(ctx, waypoint_groups[:1], found.waypoint))
    return warned(message + " (intended?)", evidence, remediation)


# ---------------------------------------------------------------------------------------------
# WD503

_SEVERE = {
    FailureKind.TIMEOUT_15008,
    FailureKind.REFUSED,
    FailureKind.NO_HEALTHY_UPSTREAM,
    FailureKind.TLS_IDENTITY,
}
_KIND_TEXT = {
    FailureKind.TIMEOUT_15008: "HBONE connect timed out on port 15008 (a NetworkPolicy?)",
    FailureKind.TIMEOUT: "timed out",
    FailureKind.REFUSED: "connection refused",
    FailureKind.NO_HEALTHY_UPSTREAM: "no healthy upstream",
    FailureKind.HTTP_STATUS: "HTTP error from the peer",
    FailureKind.TLS_IDENTITY: "TLS / identity failure",
    FailureKind.OTHER: "connection error",
}


def _error_fix(ctx: CheckContext, group: ConnectionErrorGroup, waypoint: WaypointMarkers) -> str:
    peer = group.peer
    on_waypoint = peer in waypoint.workloads or address_host(peer) in waypoint.addresses
    where = "the waypoint" if on_waypoint else f"{peer}"
    if group.kind is FailureKind.TIMEOUT_15008:
        ns = ctx.facts.binding.waypoint_namespace if on_waypoint else ctx.target.namespace
        netpol = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-hbone", "namespace": ns},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"port": 15008, "protocol": "TCP"}]}],
            },
        }
        return (
            f"Something drops HBONE (TCP 15008) toward {where}. List the NetworkPolicies:\n"
            f"kubectl get networkpolicy -n {ns}\n"
            "and allow port 15008:\n"
            "kubectl apply -f - <<'EOF'\n" + yaml.safe_dump(netpol, sort_keys=False).rstrip() + "\nEOF"
        )
    if group.kind is FailureKind.REFUSED:
        return (
            f"Nothing accepts the connection at {where}: check the Service's targetPort against the "
            f"container port and that the pod listens (kubectl get endpointslices -n {ctx.target.namespace})."
        )
    if group.kind is FailureKind.NO_HEALTHY_UPSTREAM:
        return "No ready endpoint behind the service or the waypoint: see WD301 (endpoints) and WD307 (waypoint pods)."
    if group.kind is FailureKind.TLS_IDENTITY:
        return (
            "Certificate or identity trouble: check istiod's CA and the trust domain (WD107, WD501); "
            "list the certificates with:\n"
            "istioctl ztunnel-config certificates <ztunnel-pod>.istio-system"
        )
    return f"Read the ztunnel log lines around {_ts(group.last_seen)} for {where}."


@check("WD503", "ztunnel connection errors", category="evidence", reads=("pods", "logs"))
def ztunnel_connection_errors(ctx: CheckContext) -> Outcome:
    """ztunnel connection errors toward the service or its waypoint: timeouts on 15008, refused,
    no healthy upstream."""
    facts = ctx.facts
    nodes = {n for p in facts.service_pods if (n := pod_node(p))}
    logs = _logs_of(ctx, facts.ztunnel_pods, "ztunnel", "ztunnel", needed_nodes=nodes)
    since, now = _window(ctx)
    target = _traffic_target(ctx, logs.records)
    waypoint = _waypoint_markers(ctx)
    toward = target.union(TrafficTarget(None, waypoint.workloads, waypoint.addresses))
    digest = digest_ztunnel(logs.records, toward, waypoint=None, since=since, now=now)
    groups = digest.connection_errors
    window = _window_text(ctx, digest.newest)
    name = ctx.target.name
    if not groups:
        return passed(f"no connection errors toward {name} or its waypoint {window}")
    evidence = []
    for g in groups[:MAX_GROUPS]:
        item: dict[str, Any] = {
            "kind": "ConnectionError",
            "error": g.kind.value,
            "peer": _safe(g.peer),
            "peer_is_waypoint": g.peer in waypoint.workloads or address_host(g.peer) in waypoint.addresses,
            "direction": g.direction,
            "count": g.count,
            "first_seen": _ts(g.first_seen),
            "last_seen": _ts(g.last_seen),
            "sample": _safe(g.sample_errors[0]) if g.sample_errors else None,
            "reported_by": _safe_all(g.reporters),
        }
        if g.http_status is not None:
            item["http_status"] = g.http_status
        evidence.append(item)
    severe = [g for g in groups if g.kind in _SEVERE]
    top = severe[0] if severe else groups[0]
    total = sum(g.count for g in groups)
    message = (
        f"{total} connection error{'s' if total != 1 else ''} toward {name} or its waypoint {window}; "
        f"most: {_KIND_TEXT[top.kind]} to {_safe(top.peer)} ({top.count}, last seen {_ts(top.last_seen)})"
    )
    fix = "\n\n".join(dict.fromkeys(_error_fix(ctx, g, waypoint) for g in (severe or groups)[:3]))
    return failed(message, evidence, fix) if severe else warned(message, evidence, fix)


# ---------------------------------------------------------------------------------------------
# WD504


_TELEMETRY_FIX = """kubectl apply -f - <<'EOF'
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {{name: waypoint-access-logs, namespace: {ns}}}
spec:
  targetRefs:
  - {{kind: Gateway, group: gateway.networking.k8s.io, name: {name}}}
  accessLogging:
  - providers: [{{name: envoy}}]
EOF"""


def _identity_by_client_address(ctx: CheckContext) -> dict[str, str]:
    """Client ``ip:port`` → SPIFFE identity, from client ztunnels' outbound lines: the waypoint's
    access log (default format) has the client address but not its identity."""
    try:
        found = _ztunnel_findings(ctx)
    except SkipCheck:
        return {}
    out: dict[str, str] = {}
    for rec in found.logs.records:
        if rec.is_outbound and rec.src_addr and rec.src_identity and found.waypoint.is_destination(rec):
            out[rec.src_addr] = rec.src_identity
    return out


def _rule_yaml(ctx: CheckContext, policy_key: str, rule: int | None) -> str | None:
    ns, _, name = policy_key.partition("/")
    obj = ctx.view.get(AP, ns, name)
    rules = dig(obj, "spec", "rules")
    if rule is None or not isinstance(rules, list) or not 0 <= rule < len(rules):
        return None
    return yaml.safe_dump(rules[rule], sort_keys=False, default_flow_style=True).strip()


def _nearest_miss(ctx: CheckContext, group: WaypointDenialGroup) -> dict[str, Any] | None:
    """For a [none] denial whose caller is known: the ALLOW rule that came closest."""
    if not group.source_identities or not group.method:
        return None
    try:
        inputs = policy_inputs(ctx)
    except SkipCheck:
        return None
    policies = [a.policy for a in inputs.applied if a.enforced_by is Enforcer.WAYPOINT]
    decision = evaluate(
        policies,
        Request(principal=group.source_identities[0], method=group.method, path=group.path or "/"),
        enforcer=Enforcer.WAYPOINT,
        trust_domain=inputs.trust_domain,
        aliases=inputs.aliases,
    )
    if decision.nearest_miss is None:
        return None
    return decision.nearest_miss.to_dict()


@check("WD504", "Waypoint RBAC denials", category="evidence", reads=("pods", "logs"))
def waypoint_rbac_denials(ctx: CheckContext) -> Outcome:
    """Waypoint (Envoy) access logs: 403 "RBAC: access denied" with the matched policy and rule
    decoded, or [none]."""
    facts = ctx.facts
    if not facts.binding.bound:
        raise SkipCheck(f"{ctx.target.name} is not bound to a waypoint (see WD302): no waypoint log to read")
    logs = _logs_of(ctx, facts.waypoint_pods, "envoy", "waypoint")
    waypoint_name = facts.binding.waypoint_name or "waypoint"
    if not logs.records:
        return Outcome(
            Status.SKIP,
            "the waypoint's log has no access-log lines: access logging is off by default, so 403s are not recorded",
            (),
            _TELEMETRY_FIX.format(ns=facts.binding.waypoint_namespace, name=waypoint_name),
        )
    since, now = _window(ctx)
    fqdn = f"{ctx.target.name}.{ctx.target.namespace}.svc."
    service = next(
        (r.service_fqdn for r in logs.records if r.service_fqdn and r.service_fqdn.startswith(fqdn)),
        fqdn + "cluster.local",
    )
    identities = _identity_by_client_address(ctx)
    groups = group_waypoint_denials(
        logs.records,
        service_fqdn=service,
        identity_of=(lambda r: identities.get(r.downstream_remote_address or "")) if identities else None,
        since=since,
        now=now,
    )
    newest = max((r.time for r in logs.records if r.time is not None), default=None)
    window = _window_text(ctx, newest)
    if not groups:
        return passed(f"no RBAC denials for {ctx.target.name} in the waypoint's access log {window}")
    evidence: list[dict[str, Any]] = []
    none_groups = [g for g in groups if g.no_policy_matched]
    for g in groups[:MAX_GROUPS]:
        item: dict[str, Any] = {
            "kind": "WaypointDenial",
            "matched_policy": "[none]: ALLOW policies exist, none matched"
            if g.no_policy_matched
            else g.policy or g.matched,
            "rule": g.rule,
            "method": g.method,
            "path": _safe(g.path),
            "count": g.count,
            "first_seen": _ts(g.first_seen),
            "last_seen": _ts(g.last_seen),
            "callers": _safe_all(_principal(i) or i for i in g.source_identities),
            "user_agents": _safe_all(g.user_agents),
            "request_ids": _safe_all(g.request_ids),
        }
        if g.policy:
            rule_text = _rule_yaml(ctx, g.policy, g.rule)
            if rule_text:
                item["rule_spec"] = rule_text
        elif g.no_policy_matched:
            miss = _nearest_miss(ctx, g)
            if miss:
                item["nearest_miss"] = miss
            item["see"] = "WD410"
        evidence.append(item)
    total = sum(g.count for g in groups)
    top = none_groups[0] if none_groups else groups[0]
    what = (
        "no ALLOW policy matched ([none])" if top.no_policy_matched else f"DENY {top.policy} rule {top.rule}"
    )
    who = f" from {_principal(top.source_identities[0])}" if top.source_identities else ""
    message = (
        f"the waypoint denied {total} request{'s' if total != 1 else ''} to {ctx.target.name} with 403 {window}; "
        f"{top.method or '?'} {_safe(top.path, 80) or '?'}{who}: {what} ({top.count}×, last seen {_ts(top.last_seen)})"
    )
    if none_groups:
        fix = (
            f"ALLOW policies apply to {ctx.target.name} but none matches these requests. Compare the "
            "callers and operations above with the rules (WD410 shows the decision per principal; WD405 "
            "the principal syntax), then add or correct a rule:\n"
            f"kubectl get authorizationpolicy -n {ctx.target.namespace} -o yaml"
        )
        return failed(message, evidence, fix)
    ns, _, name = (top.policy or "").partition("/")
    return warned(
        message + " (a DENY policy doing its job?)",
        evidence,
        f"If these requests should pass, narrow DENY rule {top.rule} of {top.policy}:\n"
        f"kubectl get authorizationpolicy -n {ns} {name} -o yaml",
    )


# ---------------------------------------------------------------------------------------------
# WD505


def _bypass_item(g: BypassGroup) -> dict[str, Any]:
    return {
        "kind": "Bypass",
        "observed_at": f"{g.observed_at} ztunnel",
        "source_identity": g.source_identity or "(none: plaintext)",
        "source_workloads": _safe_all(g.source_workloads),
        "source_addresses": _safe_all(g.source_addresses) if not g.source_workloads else [],
        "destination_workload": _safe(g.destination_workload),
        "destination_identity": g.destination_identity,
        "count": g.count,
        "first_seen": _ts(g.first_seen),
        "last_seen": _ts(g.last_seen),
    }


@check("WD505", "Traffic goes through the waypoint", category="evidence", reads=("pods", "logs"))
def waypoint_bypass(ctx: CheckContext) -> Outcome:
    """Evidence that traffic bypasses the waypoint: client ztunnel lines toward the service whose
    destination workload is not the waypoint (and pod-side lines whose source is not)."""
    facts = ctx.facts
    if not facts.binding.bound:
        raise SkipCheck(f"{ctx.target.name} is not bound to a waypoint (see WD302): nothing to bypass")
    if facts.waypoint is None:
        raise SkipCheck(
            f"the waypoint {facts.binding.waypoint_namespace}/{facts.binding.waypoint_name} does not exist "
            "(see WD303), so it cannot be recognised in the logs"
        )
    found = _ztunnel_findings(ctx)
    summary = found.digest.bypass
    window = _window_text(ctx, found.digest.newest)
    name = ctx.target.name
    if not found.waypoint.known:
        raise SkipCheck("the waypoint has no pods and no known identity to recognise in the logs")
    via = summary.via_waypoint + summary.from_waypoint
    if not summary.bypassing:
        if via:
            return passed(
                f"{_count(summary.via_waypoint, 'client connection')} toward {name} went to the waypoint and "
                f"{summary.from_waypoint} reached its pods' ztunnel from the waypoint {window}; none bypassed it"
            )
        return informed(f"no connections toward {name} in the ztunnel logs {window}: nothing to judge")
    evidence = [_bypass_item(g) for g in summary.bypassing[:MAX_GROUPS]]
    top = summary.bypassing[0]
    who = (top.source_identity and _principal(top.source_identity)) or "a client without identity"
    where = "client's ztunnel" if top.observed_at == "source" else "pod's ztunnel"
    message = (
        f"{_count(summary.bypass_count, 'connection')} toward {name} bypassed the waypoint {window} "
        f"(and {via} went through it); e.g. {who} → {_safe(top.destination_workload) or 'the pod'}, "
        f"seen by the {where}, last {_ts(top.last_seen)}"
    )
    waypoint_principal = facts.waypoint_identity
    selector = dig(facts.service, "spec", "selector") or {}
    require = {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "require-waypoint", "namespace": ctx.target.namespace},
        "spec": {
            **({"selector": {"matchLabels": dict(selector)}} if selector else {}),
            "action": "ALLOW",
            "rules": [{"from": [{"source": {"principals": [waypoint_principal]}}]}],
        },
    }
    fix = (
        "Find how these clients reach the pods directly: pod-IP traffic with a `service` waypoint "
        "(WD305), an ingress gateway without istio.io/ingress-use-waypoint (WD309), a client outside "
        "the mesh, or the waypoint not ready (WD307). Then make ztunnel require the waypoint:\n"
        "kubectl apply -f - <<'EOF'\n" + yaml.safe_dump(require, sort_keys=False).rstrip() + "\nEOF"
    )
    return failed(message, evidence, fix)


CHECKS = (
    caller_identities,
    ztunnel_policy_rejections,
    ztunnel_connection_errors,
    waypoint_rbac_denials,
    waypoint_bypass,
)
