"""Checks WD401-WD410: AuthorizationPolicy, through the pure engine in `waypoint_doctor.authz`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from waypoint_doctor.authz import (
    Action,
    Attachment,
    AuthorizationPolicy,
    Enforcer,
    Request,
    RuleFate,
    ServiceTarget,
    Severity,
    Verdict,
    WaypointRef,
    attach_policies,
    decision_table,
    evaluate,
    parse_policy,
)
from waypoint_doctor.authz.attach import GATEWAY_GROUP, TARGET_KIND_SINCE, WAYPOINT_GATEWAY_CLASS
from waypoint_doctor.authz.attributes import ztunnel_http_attributes
from waypoint_doctor.authz.hops import auto_allow_waypoint_policy
from waypoint_doctor.authz.match import CLUSTER_LOCAL, SPIFFE_PREFIX, parse_identity, split_service_account
from waypoint_doctor.authz.validate import ALLOWED_TARGET_REFS
from waypoint_doctor.checks.spec import (
    CheckContext,
    Outcome,
    SkipCheck,
    check,
    failed,
    informed,
    passed,
    skipped,
    warned,
)
from waypoint_doctor.collect.view import dig, obj_labels, obj_name, obj_namespace
from waypoint_doctor.mesh.labels import GATEWAY_NAME_LABEL
from waypoint_doctor.mesh.workloads import container_port_named, pod_identity

AP = "authorizationpolicies.security.istio.io"
GATEWAYS = "gateways.gateway.networking.k8s.io"
SERVICE_ENTRIES = "serviceentries.networking.istio.io"


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A suggestion suffix for a name that was not found (difflib's close matches)."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


# ---------------------------------------------------------------------------------------------
# shared inputs


@dataclass(frozen=True)
class PolicyInputs:
    policies: tuple[AuthorizationPolicy, ...]
    target: ServiceTarget
    attachments: tuple[Attachment, ...]
    trust_domain: str
    aliases: tuple[str, ...]
    waypoint_identity: str | None

    def attachment(self, policy: AuthorizationPolicy) -> Attachment | None:
        return next((a for a in self.attachments if a.policy.key == policy.key), None)

    @property
    def applied(self) -> tuple[Attachment, ...]:
        return tuple(a for a in self.attachments if a.applies)

    @property
    def meant_for_service(self) -> tuple[AuthorizationPolicy, ...]:
        """Policies that apply, plus targetRef policies naming the Service or its waypoint."""
        keys = {a.policy.key for a in self.applied}
        # malformed policies beside the Service (or mesh-wide): shown, though they apply nowhere
        keys |= {
            a.policy.key
            for a in self.attachments
            if a.malformed and a.policy.namespace in (self.target.namespace, self.target.root_namespace)
        }
        waypoint = self.target.waypoint
        out = []
        for policy in self.policies:
            names = {ref.name for ref in policy.target_refs}
            if (
                policy.key in keys
                or (self.target.name in names and policy.namespace == self.target.namespace)
                # a Gateway targetRef naming the waypoint, from the waypoint's namespace or (a
                # cross-namespace waypoint's usual mistake, see WD403) from the Service's
                or (
                    waypoint is not None
                    and waypoint.name in names
                    and policy.namespace in (waypoint.namespace, self.target.namespace)
                )
                # every waypoint, from the root namespace (applied) or from the Service's (WD402)
                or (
                    waypoint is not None
                    and any(
                        r.kind == "GatewayClass" and r.name == WAYPOINT_GATEWAY_CLASS
                        for r in policy.target_refs
                    )
                    and policy.namespace == self.target.namespace
                )
            ):
                out.append(policy)
        return tuple(out)


def parsed_policies(view: Any, objects: Iterable[Any]) -> tuple[AuthorizationPolicy, ...]:
    """Parse each policy object once per view: a fleet scan asks for the same ones per service."""
    cache: dict[int, AuthorizationPolicy] = view.derived("authz.parsed", dict)
    out = []
    for obj in objects:
        parsed = cache.get(id(obj))
        if parsed is None:
            parsed = cache[id(obj)] = parse_policy(obj)
        out.append(parsed)
    return tuple(out)


def policy_inputs(ctx: CheckContext) -> PolicyInputs:
    """Parse the policies that can concern the target: its namespace, the root namespace and the
    waypoint's namespace; describe the Service for attachment."""
    facts = ctx.facts
    ns = ctx.target.namespace
    ctx.need(AP, ns)
    mesh = facts.mesh
    binding = facts.binding
    waypoint = None
    if binding.bound and binding.waypoint_name and binding.waypoint_namespace:
        waypoint = WaypointRef(
            binding.waypoint_name, binding.waypoint_namespace, facts.waypoint_service_account
        )
    namespaces = dict.fromkeys([ns, mesh.root_namespace, *([waypoint.namespace] if waypoint else [])])
    objects = [obj for namespace in namespaces for obj in ctx.view.list(AP, namespace)]
    service = facts.service
    selector = dig(service, "spec", "selector") if isinstance(service, dict) else None
    target = ServiceTarget(
        namespace=ns,
        name=ctx.target.name,
        kind=ctx.target.kind,
        waypoint=waypoint,
        root_namespace=mesh.root_namespace,
        workload_labels=tuple(ServiceTarget.labels(obj_labels(p)) for p in facts.service_pods)
        if facts.service_pods
        else None,
        service_selector=ServiceTarget.labels(selector) if isinstance(selector, dict) else None,
        istio_version=(facts.istio_version.major, facts.istio_version.minor) if facts.istio_version else None,
    )
    policies = parsed_policies(ctx.view, objects)
    return PolicyInputs(
        policies=policies,
        target=target,
        attachments=attach_policies(policies, target),
        trust_domain=mesh.trust_domain,
        aliases=mesh.trust_domain_aliases,
        waypoint_identity=facts.waypoint_identity,
    )


def ap_evidence(policy: AuthorizationPolicy, **fields: object) -> dict[str, object]:
    return {"kind": "AuthorizationPolicy", "namespace": policy.namespace, "name": policy.name, **fields}


def to_yaml(obj: object) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).rstrip()


def _names(policies: Iterable[AuthorizationPolicy]) -> str:
    return ", ".join(sorted(p.key for p in policies))


# ---------------------------------------------------------------------------------------------
# WD401


@check(
    "WD401",
    "L7 policies attach through targetRefs",
    category="policy",
    reads=(AP, "services", "pods"),
)
def l7_policies_use_target_refs(ctx: CheckContext) -> Outcome:
    """Policies with HTTP rules for the service use targetRefs: waypoints ignore selector policies."""
    inputs = policy_inputs(ctx)
    waypoint = inputs.target.waypoint
    waypoint_pods = ctx.facts.waypoint_pods
    findings: list[dict[str, object]] = []
    fixes: list[str] = []
    for policy in inputs.policies:
        if policy.target_refs or policy.selector is None:
            continue
        http = sorted({a for rule in policy.rules for a in ztunnel_http_attributes(rule)})
        attachment = inputs.attachment(policy)
        selects_service = attachment is not None and attachment.enforced_by is Enforcer.ZTUNNEL
        labels = policy.selector_labels
        selects_waypoint = bool(labels) and any(
            all(obj_labels(p).get(k) == v for k, v in labels.items()) for p in waypoint_pods
        )
        if not selects_waypoint and not (selects_service and http):
            continue
        why = (
            "its selector matches the waypoint's pods, and waypoints ignore selector policies"
            if selects_waypoint
            else f"it uses HTTP attributes ({', '.join(http)}) through a selector: only ztunnel sees it, and ztunnel cannot evaluate them"
        )
        findings.append(
            ap_evidence(policy, field="spec.selector", value=labels, http_attributes=http, reason=why)
        )
        if waypoint is not None and policy.namespace == inputs.target.namespace:
            fixes.append(
                f"# {policy.key}: replace `selector` with\n"
                + to_yaml(
                    {"spec": {"targetRefs": [{"kind": "Service", "group": "", "name": inputs.target.name}]}}
                )
            )
        elif waypoint is None:
            fixes.append(
                f"# {policy.key}: bind the Service to a waypoint first, then replace `selector` with targetRefs:\n"
                f"kubectl label service {inputs.target.name} -n {inputs.target.namespace} istio.io/use-waypoint=<waypoint>"
            )
        else:
            fixes.append(
                f"# {policy.key}: move it to namespace {inputs.target.namespace} and replace `selector` with\n"
                + to_yaml(
                    {"spec": {"targetRefs": [{"kind": "Service", "group": "", "name": inputs.target.name}]}}
                )
            )
    if not findings:
        return passed("no selector policy carries HTTP rules for this service or selects its waypoint")
    names = ", ".join(f"{e['namespace']}/{e['name']}" for e in findings)
    return failed(
        f"{names} attach{'es' if len(findings) == 1 else ''} by selector, so no waypoint enforces the HTTP rules",
        findings,
        "\n".join(fixes),
    )


# ---------------------------------------------------------------------------------------------
# WD402


def _ref_problem(ctx: CheckContext, policy: AuthorizationPolicy, ref, inputs: PolicyInputs) -> str | None:
    allowed_group = ALLOWED_TARGET_REFS.get(ref.kind)
    if allowed_group is None:
        return f"kind {ref.kind!r} cannot be targeted (Service, ServiceEntry, Gateway or GatewayClass)"
    if ref.canonical_group != allowed_group:
        wanted = '""' if allowed_group == "core" else allowed_group
        return f"kind {ref.kind} needs group {wanted}, not {ref.group or chr(34) * 2}"
    if ref.namespace:
        return "targetRef `namespace` must not be set (cross-namespace references are not supported)"
    if not ref.name:
        return "targetRef `name` is empty"
    if not inputs.target.supports_kind(ref.kind):
        major, minor = TARGET_KIND_SINCE[ref.kind]
        return f"a {ref.kind} targetRef needs Istio {major}.{minor}+ (this is {ctx.facts.istio_version}): it is ignored"
    if ref.kind == "GatewayClass":
        if ref.name != WAYPOINT_GATEWAY_CLASS:
            return f"GatewayClass {ref.name!r} is not {WAYPOINT_GATEWAY_CLASS!r}"
        if policy.namespace != inputs.target.root_namespace:
            return f"a GatewayClass targetRef is only honoured from the root namespace {inputs.target.root_namespace!r}"
        return None
    resource = {"Service": "services", "Gateway": GATEWAYS, "ServiceEntry": SERVICE_ENTRIES}[ref.kind]
    if ctx.view.missing(resource, policy.namespace) is not None:
        return None  # cannot tell; other checks report the unreadable input
    if ctx.view.get(resource, policy.namespace, ref.name) is None:
        hint = _did_you_mean(ref.name, ctx.view.names(resource, policy.namespace))
        return f"{ref.kind} {policy.namespace}/{ref.name} does not exist{hint}"
    return None


@check("WD402", "targetRefs are valid", category="policy", reads=(AP, "services"))
def target_refs_valid(ctx: CheckContext) -> Outcome:
    """Each targetRef names an allowed kind/group, no namespace, and a target that exists."""
    inputs = policy_inputs(ctx)
    malformed = {
        p.key: [x for x in p.problems if x.code == "wrong-type" and _is_target_ref_problem(x.location)]
        for p in inputs.policies
    }
    relevant = [
        p
        for p in inputs.policies
        if (p.target_refs or malformed[p.key])
        and (
            p.namespace == inputs.target.namespace
            or any(r.kind == "GatewayClass" for r in p.target_refs)
            or (inputs.target.waypoint is not None and p.namespace == inputs.target.waypoint.namespace)
        )
    ]
    if not relevant:
        return passed("no policy with targetRefs concerns this service")
    findings = []
    fixes = []
    for policy in relevant:
        for problem in malformed[policy.key]:
            findings.append(
                ap_evidence(
                    policy,
                    path=problem.location,
                    problem=f"{problem.location} is malformed: {problem.message}",
                )
            )
            fixes.append(
                f"# {policy.key} {problem.location}\n" + to_yaml({"targetRefs": [_fixed_ref(None, inputs)]})
            )
        for ref in policy.target_refs:
            problem = _ref_problem(ctx, policy, ref, inputs)
            if problem:
                findings.append(
                    ap_evidence(
                        policy,
                        path=ref.location,
                        value={
                            "group": ref.group,
                            "kind": ref.kind,
                            "name": ref.name,
                            "namespace": ref.namespace,
                        },
                        problem=problem,
                    )
                )
                fixes.append(
                    f"# {policy.key} {ref.location}\n" + to_yaml({"targetRefs": [_fixed_ref(ref, inputs)]})
                )
    if not findings:
        return passed(f"every targetRef of {_names(relevant)} is valid")
    return failed(
        f"{len(findings)} invalid targetRef{'s' if len(findings) > 1 else ''}: {findings[0]['problem']}",
        findings,
        "\n".join(fixes),
    )


def _fixed_ref(ref, inputs: PolicyInputs) -> dict[str, str]:
    if ref is None:  # unreadable: suggest the Service's own
        return {"kind": "Service", "group": "", "name": inputs.target.name}
    if ref.kind in ("Gateway", "GatewayClass"):
        name = (
            WAYPOINT_GATEWAY_CLASS
            if ref.kind == "GatewayClass"
            else (inputs.target.waypoint.name if inputs.target.waypoint else ref.name)
        )
        return {"kind": ref.kind, "group": GATEWAY_GROUP, "name": name}
    if ref.kind == "ServiceEntry":
        return {"kind": "ServiceEntry", "group": "networking.istio.io", "name": ref.name}
    return {"kind": "Service", "group": "", "name": inputs.target.name}


# ---------------------------------------------------------------------------------------------
# WD403


@check("WD403", "Policy in the same namespace as its target", category="policy", reads=(AP, "services"))
def policy_namespace_matches_target(ctx: CheckContext) -> Outcome:
    """Policies that target the service (or its waypoint) live in the target's namespace."""
    inputs = policy_inputs(ctx)
    ctx.need(AP)
    if ctx.facts.service is None:
        raise SkipCheck(
            f"service {ctx.target.namespace}/{ctx.target.name} not found (see WD301): no target to compare with"
        )
    target = inputs.target
    waypoint = target.waypoint
    findings = []
    fixes = []
    for policy in parsed_policies(ctx.view, ctx.view.list(AP)):
        for ref in policy.target_refs:
            wrong: str | None = None
            if (
                ref.kind == "Service"
                and ref.name == target.name
                and policy.namespace != target.namespace
                and (
                    ref.namespace == target.namespace
                    or ctx.view.get("services", policy.namespace, ref.name) is None
                )
            ):
                wrong = target.namespace
            if (
                waypoint is not None
                and ref.kind == "Gateway"
                and ref.name == waypoint.name
                and policy.namespace != waypoint.namespace
                and (
                    ref.namespace == waypoint.namespace
                    or ctx.view.get(GATEWAYS, policy.namespace, ref.name) is None
                )
            ):
                wrong = waypoint.namespace
            if wrong:
                findings.append(
                    ap_evidence(
                        policy,
                        path=ref.location,
                        target=f"{ref.kind} {wrong}/{ref.name}",
                        problem=f"the policy lives in {policy.namespace!r}, its target in {wrong!r}",
                    )
                )
                fixes.append(
                    f"kubectl get authorizationpolicy {policy.name} -n {policy.namespace} -o yaml | "
                    f"sed 's/namespace: {policy.namespace}$/namespace: {wrong}/' | kubectl apply -f - && "
                    f"kubectl delete authorizationpolicy {policy.name} -n {policy.namespace}"
                )
    if not findings:
        return passed("every policy targeting the service or its waypoint lives in the target's namespace")
    return failed(
        f"{findings[0]['namespace']}/{findings[0]['name']} targets {findings[0]['target']} from another namespace; it never applies",
        findings,
        "\n".join(fixes),
    )


# ---------------------------------------------------------------------------------------------
# WD404


@check(
    "WD404", "Selector policies with HTTP rules at ztunnel", category="policy", reads=(AP, "services", "pods")
)
def http_rules_at_ztunnel(ctx: CheckContext) -> Outcome:
    """Selector or namespace-wide policies with HTTP fields, as ztunnel enforces them."""
    inputs = policy_inputs(ctx)
    fail: list[dict[str, object]] = []
    warn: list[dict[str, object]] = []
    for attachment in inputs.attachments:
        conversion = attachment.ztunnel
        policy = attachment.policy
        if conversion is None or attachment.scope is None:
            continue
        condition = policy.condition("ZtunnelAccepted")
        status = (
            {
                "condition": "ZtunnelAccepted",
                "status": condition.status,
                "reason": condition.reason,
                "message": condition.message,
            }
            if condition
            else {"condition": "ZtunnelAccepted", "status": None}
        )
        if not conversion.supported:
            if (
                attachment.enforced_by is None
                and "selector" not in attachment.reason
                and policy.action is not None
            ):
                warn.append(ap_evidence(policy, problem=conversion.unsupported_reason, **status))
            continue
        if not attachment.applies or not conversion.http_attributes:
            if condition is not None and condition.status == "False" and attachment.applies:
                fail.append(ap_evidence(policy, problem=condition.message, **status))
            continue
        dropped = [r.index for r in conversion.rules if r.fate is RuleFate.DROPPED]
        void = [r.index for r in conversion.rules if r.fate is RuleFate.VOID]
        stripped = [r.index for r in conversion.rules if r.fate is RuleFate.STRIPPED]
        if policy.action is Action.ALLOW and dropped:
            left = len(conversion.kept_rules)
            effect = (
                "every rule is dropped, so the ALLOW policy matches nothing and denies all traffic to the pods"
                if left == 0
                else f"rules {dropped} are dropped: only the L4 rules remain (more restrictive)"
            )
            fail.append(
                ap_evidence(
                    policy,
                    http_attributes=list(conversion.http_attributes),
                    dropped_rules=dropped,
                    problem=effect,
                    expected_message=conversion.expected_message,
                    **status,
                )
            )
        elif void:
            fail.append(
                ap_evidence(
                    policy,
                    http_attributes=list(conversion.http_attributes),
                    void_rules=void,
                    problem="DENY rules with nothing L4 left have no effect at ztunnel",
                    **status,
                )
            )
        elif stripped:
            warn.append(
                ap_evidence(
                    policy,
                    http_attributes=list(conversion.http_attributes),
                    stripped_rules=stripped,
                    problem="DENY rules are enforced without their HTTP attributes: broader than written",
                    **status,
                )
            )
    remediation = (
        "Move HTTP rules to a policy the waypoint enforces (targetRefs to the Service), and keep only L4 fields "
        "(principals, namespaces, serviceAccounts, ipBlocks, ports) in selector policies:\n"
        + to_yaml({"spec": {"targetRefs": [{"kind": "Service", "group": "", "name": inputs.target.name}]}})
    )
    if fail:
        e = fail[0]
        return failed(f"{e['namespace']}/{e['name']}: {e['problem']}", [*fail, *warn], remediation)
    if warn:
        e = warn[0]
        return warned(f"{e['namespace']}/{e['name']}: {e['problem']}", warn, remediation)
    return passed("no policy enforced by ztunnel on the service's pods carries HTTP attributes")


# ---------------------------------------------------------------------------------------------
# WD405


def _principal_values(policy: AuthorizationPolicy) -> Iterable[tuple[str, str]]:
    for rule in policy.rules:
        for source in rule.sources or ():
            for field_name in ("principals", "notPrincipals"):
                values = source.principals if field_name == "principals" else source.not_principals
                for index, value in enumerate(values):
                    yield f"{source.location}.{field_name}[{index}]", value
        for condition in rule.conditions:
            if condition.key == "source.principal":
                for index, value in enumerate((*condition.values, *condition.not_values)):
                    yield f"{condition.location}.values[{index}]", value


@check("WD405", "Principals are well formed", category="policy", reads=(AP, "services", "configmaps"))
def principals_well_formed(ctx: CheckContext) -> Outcome:
    """Principals read <trust-domain>/ns/<ns>/sa/<sa>, without spiffe://, in a trust domain the mesh knows."""
    inputs = policy_inputs(ctx)
    findings = []
    fixes = []
    known = {inputs.trust_domain, *inputs.aliases}
    for policy in inputs.meant_for_service:
        attachment = inputs.attachment(policy)
        at_ztunnel = attachment is not None and attachment.enforced_by is Enforcer.ZTUNNEL
        for location, value in _principal_values(policy):
            problem = None
            fixed = value
            if value.startswith(SPIFFE_PREFIX):
                fixed = value[len(SPIFFE_PREFIX) :]
                problem = "starts with spiffe://, so it never matches (the proxy adds the prefix itself)"
            elif "*" in value:
                continue
            elif parse_identity(value) is None:
                problem = "is not <trust-domain>/ns/<namespace>/sa/<service-account>"
            else:
                domain = value.split("/", 1)[0]
                # The waypoint rewrites cluster.local and the aliases to the mesh trust domain;
                # ztunnel compares literally (reference 5.3, 5.6), so there an alias only matches
                # peers still holding certificates of that domain. We read it as a mistake: the
                # mesh's own workloads, the waypoint included, present the mesh trust domain.
                accepted = {inputs.trust_domain} if at_ztunnel else known | {CLUSTER_LOCAL}
                if domain not in accepted:
                    where = (
                        "ztunnel compares trust domains literally"
                        if at_ztunnel
                        else "the mesh does not know it"
                    )
                    problem = f"trust domain {domain!r} is not the mesh's ({inputs.trust_domain!r}): {where}"
                    fixed = inputs.trust_domain + value[len(domain) :]
            if problem:
                findings.append(ap_evidence(policy, path=location, value=value, problem=problem))
                fixes.append(f"# {policy.key} {location}\n- {fixed}")
    if not findings:
        return passed("every principal is well formed and in the mesh's trust domain")
    e = findings[0]
    return failed(
        f"{e['namespace']}/{e['name']}: principal {e['value']!r} {e['problem']}", findings, "\n".join(fixes)
    )


# ---------------------------------------------------------------------------------------------
# WD406


@check(
    "WD406",
    "Named namespaces and service accounts exist",
    category="policy",
    reads=(AP, "namespaces", "serviceaccounts"),
)
def named_identities_exist(ctx: CheckContext) -> Outcome:
    """The namespaces and service accounts that principals, namespaces and serviceAccounts name exist."""
    inputs = policy_inputs(ctx)
    known_domains = {inputs.trust_domain, CLUSTER_LOCAL, *inputs.aliases}
    findings = []
    namespaces = set(ctx.view.names("namespaces"))
    for policy in inputs.meant_for_service:
        for rule in policy.rules:
            for source in rule.sources or ():
                wanted: list[tuple[str, str, str | None]] = []  # (location, namespace, sa or None)
                for name, values in source.fields():
                    for index, value in enumerate(values):
                        location = f"{source.location}.{name}[{index}]"
                        if name in ("principals", "notPrincipals"):
                            identity = parse_identity(value)
                            if identity and "*" not in value and identity.trust_domain in known_domains:
                                wanted.append((location, identity.namespace, identity.service_account))
                        elif name in ("namespaces", "notNamespaces") and "*" not in value:
                            wanted.append((location, value, None))
                        elif name in ("serviceAccounts", "notServiceAccounts") and "*" not in value:
                            ns, sa = split_service_account(value, policy.namespace)
                            wanted.append((location, ns, sa))
                for location, ns, sa in wanted:
                    if ctx.view.missing("namespaces") is None and ns not in namespaces:
                        hint = _did_you_mean(ns, namespaces)
                        findings.append(
                            ap_evidence(
                                policy, path=location, problem=f"namespace {ns!r} does not exist{hint}"
                            )
                        )
                    elif sa is not None and ctx.view.missing("serviceaccounts", ns) is None:
                        existing = ctx.view.names("serviceaccounts", ns)
                        if sa not in existing:
                            hint = _did_you_mean(sa, existing)
                            findings.append(
                                ap_evidence(
                                    policy,
                                    path=location,
                                    problem=f"service account {ns}/{sa} does not exist{hint}",
                                )
                            )
    if not findings:
        return passed("every namespace and service account the policies name exists")
    e = findings[0]
    return failed(
        f"{e['namespace']}/{e['name']}: {e['problem']}",
        findings,
        "Correct the name in the policy (a rule naming a missing identity never matches), or create the service "
        "account the client should run as.",
    )


# ---------------------------------------------------------------------------------------------
# WD407

_OPERATION_CODES = {
    "method-not-uppercase": True,
    "path-not-absolute": True,
    "path-template-invalid": True,
    "invalid-port": True,
    "empty-value": True,
    "empty-from": True,
    "empty-to": True,
    "empty-source": True,
    "empty-operation": True,
    "missing-source": True,
    "missing-operation": True,
    "method-unknown": False,
    "wildcard-position": False,
    "deny-http-only": False,
    # the rules' shape: values of the wrong type (a string for a list, a number for an action)
    # never reach a proxy as written (the API server's schema refuses them)
    "wrong-type": True,
    "invalid-action": True,
    "nil-rule": True,
    "not-an-object": True,
    "parse-failure": True,
}


def _is_target_ref_problem(location: str) -> bool:
    return location.startswith("spec.targetRef")  # WD402 reports those


@check("WD407", "Operations are well formed", category="policy", reads=(AP,))
def operations_well_formed(ctx: CheckContext) -> Outcome:
    """Methods are upper-case HTTP methods, paths start with '/', templates are valid, no empty from/to."""
    inputs = policy_inputs(ctx)
    fail = []
    warn = []
    for policy in inputs.meant_for_service:
        for problem in policy.problems:
            if problem.code not in _OPERATION_CODES or _is_target_ref_problem(problem.location):
                continue
            evidence = ap_evidence(policy, path=problem.location, code=problem.code, problem=problem.message)
            (fail if _OPERATION_CODES[problem.code] or problem.severity is Severity.ERROR else warn).append(
                evidence
            )
    remediation = (
        "Write methods in upper case (GET, POST), paths starting with '/', path templates with {*} or {**} as "
        "whole segments and {**} last, and leave out `from`/`to` instead of leaving them empty."
    )
    if fail:
        e = fail[0]
        return failed(
            f"{e['namespace']}/{e['name']} {e['path']}: {e['problem']}", [*fail, *warn], remediation
        )
    if warn:
        e = warn[0]
        return warned(f"{e['namespace']}/{e['name']} {e['path']}: {e['problem']}", warn, remediation)
    return passed("every method, path and rule structure is well formed")


# ---------------------------------------------------------------------------------------------
# WD408


@check("WD408", "WaypointAccepted status", category="policy", reads=(AP,))
def waypoint_accepted(ctx: CheckContext) -> Outcome:
    """targetRef policies for the service report WaypointAccepted=True, not PartiallyInvalid (1.24+)."""
    inputs = policy_inputs(ctx)
    policies = [p for p in inputs.meant_for_service if p.target_refs]
    if not policies:
        return passed("no targetRef policy concerns this service")
    with_status = [(p, p.condition("WaypointAccepted")) for p in policies]
    if all(c is None for _, c in with_status):
        return skipped(
            "no WaypointAccepted condition on the policies (Istio before 1.24, or status writing is off)"
        )
    fail = []
    warn = []
    ok = []
    for policy, condition in with_status:
        if condition is None:
            continue
        evidence = ap_evidence(
            policy,
            condition="WaypointAccepted",
            status=condition.status,
            reason=condition.reason,
            message=condition.message,
        )
        if condition.status != "True":
            fail.append(evidence)
        elif condition.reason == "PartiallyInvalid":
            warn.append(evidence)
        else:
            ok.append(evidence)
    remediation = _waypoint_accepted_fix(fail or warn, inputs)
    if fail:
        e = fail[0]
        return failed(
            f"{e['namespace']}/{e['name']} is not accepted by a waypoint: {e['reason']}: {e['message']}",
            [*fail, *warn],
            remediation,
        )
    if warn:
        e = warn[0]
        return warned(f"{e['namespace']}/{e['name']}: {e['message']}", warn, remediation)
    return passed(f"{_names(p for p, _ in with_status if _)} accepted by the waypoint", ok)


def _waypoint_accepted_fix(findings: list[dict[str, object]], inputs: PolicyInputs) -> str:
    if not findings:
        return ""
    reason = findings[0].get("reason")
    if reason == "AncestorNotBound":
        return f"kubectl label service {inputs.target.name} -n {inputs.target.namespace} istio.io/use-waypoint=<waypoint-name>"
    if reason == "TargetNotFound":
        return 'Point the targetRef at an existing Service (group "") or at the waypoint Gateway (see WD402).'
    return "Remove or correct the targetRefs listed in the message (see WD402)."


# ---------------------------------------------------------------------------------------------
# WD409


@check("WD409", "ztunnel policies admit the waypoint", category="policy", reads=(AP, "services", "pods"))
def ztunnel_admits_waypoint(ctx: CheckContext) -> Outcome:
    """Selector or namespace-wide policies at the destination ztunnel allow the waypoint's identity."""
    inputs = policy_inputs(ctx)
    if inputs.target.waypoint is None or inputs.waypoint_identity is None:
        return passed("the service is not bound to a waypoint: no waypoint-to-pod hop")
    at_ztunnel = ztunnel_policies_at_pods(ctx, inputs)
    port = workload_port(ctx)
    decision = evaluate(
        at_ztunnel,
        Request(principal=inputs.waypoint_identity, method=None, path=None, port=port),
        enforcer=Enforcer.ZTUNNEL,
        trust_domain=inputs.trust_domain,
        aliases=inputs.aliases,
    )
    evidence = [
        {
            "kind": "Hop",
            "hop": "waypoint->workload",
            "identity_seen": inputs.waypoint_identity,
            "verdict": decision.verdict.value,
            "reason": decision.reason,
            "policies": sorted(p.key for p in at_ztunnel),
        }
    ]
    if decision.verdict is Verdict.ALLOW:
        return passed(
            f"the destination ztunnel admits the waypoint identity {inputs.waypoint_identity}", evidence
        )
    allow_fix = {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "allow-waypoint", "namespace": inputs.target.namespace},
        "spec": {
            "selector": {"matchLabels": dict(inputs.target.service_selector or ())}
            if inputs.target.service_selector
            else None,
            "action": "ALLOW",
            "rules": [{"from": [{"source": {"principals": [inputs.waypoint_identity]}}]}],
        },
    }
    if allow_fix["spec"]["selector"] is None:  # type: ignore[index]
        del allow_fix["spec"]["selector"]  # type: ignore[attr-defined]
    remediation = "kubectl apply -f - <<'EOF'\n" + to_yaml(allow_fix) + "\nEOF"
    if decision.decided_by is not None and decision.decided_by.action is Action.DENY:
        remediation = (
            f"DENY policy {decision.decided_by.policy} matches the waypoint's identity: exclude it "
            f"(notPrincipals: [{inputs.waypoint_identity}]) or move the rule to a targetRef policy."
        )
    if decision.verdict is Verdict.UNKNOWN:
        return warned(
            f"cannot tell whether ztunnel admits the waypoint identity: {decision.reason}",
            evidence,
            remediation,
        )
    return failed(
        f"the destination ztunnel denies the waypoint ({inputs.waypoint_identity}): {decision.reason}",
        evidence,
        remediation,
    )


def ztunnel_policies_at_pods(ctx: CheckContext, inputs: PolicyInputs) -> list[AuthorizationPolicy]:
    """The policies the destination ztunnel enforces on the service's pods, with istiod's
    synthetic waypoint ALLOW when PILOT_AUTO_ALLOW_WAYPOINT_POLICY is on."""
    policies = [a.policy for a in inputs.applied if a.enforced_by is Enforcer.ZTUNNEL]
    waypoint = inputs.target.waypoint
    if ctx.facts.auto_allow_waypoint and waypoint is not None and inputs.waypoint_identity:
        policies.append(
            auto_allow_waypoint_policy(waypoint.namespace, waypoint.name, inputs.waypoint_identity)
        )
    return policies


def workload_port(ctx: CheckContext) -> int | None:
    service = ctx.facts.service
    ports = dig(service, "spec", "ports") if isinstance(service, dict) else None
    if isinstance(ports, list) and ports and isinstance(ports[0], dict):
        target = ports[0].get("targetPort", ports[0].get("port"))
        if isinstance(target, int) and not isinstance(target, bool):
            return target
        if isinstance(target, str) and target:
            # a named targetPort is the pods' container port of that name: ztunnel matches
            # destination ports on the port the pod listens on
            named = container_port_named(ctx.facts.service_pods, target)
            if named is not None:
                return named
        if isinstance(ports[0].get("port"), int):
            return ports[0]["port"]
    return None


# ---------------------------------------------------------------------------------------------
# WD410


@check("WD410", "Effective decision table", category="policy", reads=(AP, "services", "pods"))
def effective_decision_table(ctx: CheckContext) -> Outcome:
    """Per source principal and operation, the outcome through every hop (CUSTOM, DENY, ALLOW order)."""
    inputs = policy_inputs(ctx)
    known = sorted(
        {
            pod_identity(p, inputs.trust_domain)
            for p in ctx.view.list("pods", inputs.target.namespace)
            if not obj_labels(p).get(GATEWAY_NAME_LABEL) and obj_name(p) and obj_namespace(p)
        }
        - {pod_identity(p, inputs.trust_domain) for p in ctx.facts.service_pods}
    )
    table = decision_table(
        inputs.policies,
        inputs.target,
        known_principals=known,
        trust_domain=inputs.trust_domain,
        aliases=inputs.aliases,
        workload_port=workload_port(ctx),
    )
    evidence: list[dict[str, object]] = [
        {
            "kind": "Decision",
            "principal": cell.principal,
            "method": cell.probe.method,
            "path": cell.probe.path,
            "verdict": cell.verdict.value,
            "decided_by": cell.decided_by,
            "denied_at": cell.denied_at,
        }
        for cell in table.cells
    ]
    notes: list[str] = []
    for shadow in table.shadows:
        evidence.append(
            {
                "kind": "Shadow",
                "deny": f"{shadow.deny_policy} rule {shadow.deny_rule}",
                "allow": f"{shadow.allow_policy} rule {shadow.allow_rule}",
                "complete": shadow.complete,
                "example": list(shadow.example),
            }
        )
        notes.append(
            f"DENY {shadow.deny_policy} rule {shadow.deny_rule} shadows ALLOW {shadow.allow_policy} rule {shadow.allow_rule}"
        )
    for name in table.allow_nothing:
        evidence.append({"kind": "AllowNothing", "policy": name})
        notes.append(f"{name} allows nothing")
    for dead in table.dead_rules:
        evidence.append({"kind": "DeadRule", "policy": dead.policy, "rule": dead.rule, "reason": dead.reason})
        notes.append(f"{dead.policy} rule {dead.rule} can never match")
    allowed = sum(1 for c in table.cells if c.verdict is Verdict.ALLOW)
    summary = f"{allowed} of {len(table.cells)} principal x operation probes allowed"
    if notes:
        return warned(
            f"{summary}; {notes[0]}",
            evidence,
            "Review the rules listed: remove the shadowing DENY or narrow it, and fix or delete rules that cannot match.",
        )
    return informed(summary, evidence)


CHECKS = (
    l7_policies_use_target_refs,
    target_refs_valid,
    policy_namespace_matches_target,
    http_rules_at_ztunnel,
    principals_well_formed,
    named_identities_exist,
    operations_well_formed,
    waypoint_accepted,
    ztunnel_admits_waypoint,
    effective_decision_table,
)
