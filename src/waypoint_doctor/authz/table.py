"""The effective decision table of a Service (WD410): who may do what, end to end.

Rows are known source principals (given by the caller, plus those the policies name) crossed
with probe operations (the methods and paths the policies name, made concrete, plus one
generic "other" probe). Each cell walks the hops of :mod:`hops`. Alongside: DENY rules that
shadow ALLOW rules on those probes, allow-nothing policies, and ALLOW rules that can never match.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from waypoint_doctor.authz.attach import Attachment, Enforcer, RuleFate, ServiceTarget, attach_policies
from waypoint_doctor.authz.evaluate import Request, Verdict
from waypoint_doctor.authz.hops import HopsResult, evaluate_hops
from waypoint_doctor.authz.match import (
    CLUSTER_LOCAL,
    HTTP_METHODS,
    MATCH_ANY_TEMPLATE,
    MATCH_ONE_TEMPLATE,
    SPIFFE_PREFIX,
    contains_path_template,
    parse_identity,
    path_template_regex,
    split_service_account,
)
from waypoint_doctor.authz.model import Action, AuthorizationPolicy, Rule

OTHER_PATH = "/waypoint-doctor-probe"
UNLISTED_SERVICE_ACCOUNT = "waypoint-doctor-unlisted"


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    label: str  # where it comes from: "policy ns/name rule i" or "other"


@dataclass(frozen=True)
class Cell:
    principal: str
    probe: Probe
    verdict: Verdict
    decided_by: str | None  # "ns/name rule i (ACTION)" or None for a default
    denied_at: str | None  # the hop that denied, if any
    result: HopsResult


@dataclass(frozen=True)
class Shadow:
    deny_policy: str
    deny_rule: int
    allow_policy: str
    allow_rule: int
    example: tuple[str, str, str]  # (principal, method, path)
    complete: bool  # every probe the ALLOW rule matches is denied by this DENY


@dataclass(frozen=True)
class DeadRule:
    policy: str
    rule: int
    reason: str


@dataclass(frozen=True)
class DecisionTable:
    principals: tuple[str, ...]
    probes: tuple[Probe, ...]
    cells: tuple[Cell, ...]
    shadows: tuple[Shadow, ...]
    allow_nothing: tuple[str, ...]
    dead_rules: tuple[DeadRule, ...]
    attachments: tuple[Attachment, ...]

    def cell(self, principal: str, method: str, path: str) -> Cell | None:
        for cell in self.cells:
            if cell.principal == principal and cell.probe.method == method and cell.probe.path == path:
                return cell
        return None


def _concrete_path(pattern: str) -> str | None:
    if pattern == "*":
        return "/"
    if contains_path_template(pattern):
        path = pattern.replace(MATCH_ANY_TEMPLATE, "probe").replace(MATCH_ONE_TEMPLATE, "probe")
        regex = path_template_regex(pattern)
        return path if regex is not None and regex.fullmatch(path) else None
    if pattern.startswith("*"):
        return "/probe" + pattern[1:]
    if pattern.endswith("*"):
        return pattern[:-1] + ("probe" if pattern[:-1].endswith("/") else "")
    return pattern


def _concrete_method(pattern: str) -> str | None:
    if pattern == "*":
        return "GET"
    if pattern.endswith("*"):
        return next((m for m in sorted(HTTP_METHODS) if m.startswith(pattern[:-1])), None)
    if pattern.startswith("*"):
        return next((m for m in sorted(HTTP_METHODS) if m.endswith(pattern[1:])), None)
    return pattern


def probes_for(policies: Iterable[AuthorizationPolicy]) -> tuple[Probe, ...]:
    """Every method the policies name crossed with every path they name (made concrete), plus one
    generic "other" probe that no policy names."""
    methods: dict[str, str] = {}
    paths: dict[str, str] = {}
    for policy in sorted(policies, key=lambda p: (p.namespace, p.name)):
        for rule in policy.rules:
            label = f"policy {policy.key} rule {rule.index}"
            for operation in rule.operations or ():
                for method in filter(
                    None, map(_concrete_method, (*operation.methods, *operation.not_methods))
                ):
                    methods.setdefault(method, label)
                for path in filter(None, map(_concrete_path, (*operation.paths, *operation.not_paths))):
                    paths.setdefault(path, label)
    probes: dict[tuple[str, str], Probe] = {}
    for method, method_label in (methods or {"GET": "default"}).items():
        for path, path_label in (paths or {"/": "default"}).items():
            label = method_label if method_label == path_label else f"{method_label}; {path_label}"
            probes[(method, path)] = Probe(method, path, label)
    other_method = next(
        (m for m in ("GET", "DELETE", "PUT", "PATCH", "POST", "HEAD") if m not in methods), "OPTIONS"
    )
    probes.setdefault((other_method, OTHER_PATH), Probe(other_method, OTHER_PATH, "other"))
    return tuple(sorted(probes.values(), key=lambda p: (p.label == "other", p.path, p.method)))


def principals_for(
    policies: Iterable[AuthorizationPolicy], known: Sequence[str], trust_domain: str, namespace: str
) -> tuple[str, ...]:
    """Known principals, the exact principals and service accounts the policies name, and one
    principal nobody names (to show the default)."""
    found: list[str] = []

    def add(principal: str) -> None:
        if principal not in found:
            found.append(principal)

    for principal in known:
        add(principal[len(SPIFFE_PREFIX) :] if principal.startswith(SPIFFE_PREFIX) else principal)
    for policy in sorted(policies, key=lambda p: (p.namespace, p.name)):
        for rule in policy.rules:
            for source in rule.sources or ():
                for value in source.principals:
                    identity = parse_identity(value)
                    if identity is not None and "*" not in value and not value.startswith(SPIFFE_PREFIX):
                        domain = (
                            trust_domain if identity.trust_domain == CLUSTER_LOCAL else identity.trust_domain
                        )
                        add(f"{domain}/ns/{identity.namespace}/sa/{identity.service_account}")
                for value in source.service_accounts:
                    ns, sa = split_service_account(value, policy.namespace)
                    if ns and sa and "*" not in value:
                        add(f"{trust_domain}/ns/{ns}/sa/{sa}")
    add(f"{trust_domain}/ns/{namespace}/sa/{UNLISTED_SERVICE_ACCOUNT}")
    return tuple(found)


def never_matches(rule: Rule, policy: AuthorizationPolicy, attachment: Attachment | None) -> str | None:
    """Why an ALLOW rule can never match where it is enforced (None: it can)."""
    if rule.skipped:
        return f"istiod skips it: {rule.skipped}"
    if attachment is not None and attachment.ztunnel is not None:
        fate = attachment.ztunnel.fate(rule.index)
        if fate is not None and fate.fate is RuleFate.DROPPED:
            return f"ztunnel drops it: it uses HTTP attributes ({', '.join(fate.http_attributes)})"
    if rule.sources and all(_source_impossible(s.principals) for s in rule.sources):
        return "every principal it names starts with spiffe://, which never matches"
    if rule.operations and all(
        _methods_impossible(op.methods) or _paths_impossible(op.paths) for op in rule.operations
    ):
        return "every operation names only methods or paths no request can have (lower-case method, relative path, invalid template)"
    return None


def _source_impossible(principals: Sequence[str]) -> bool:
    return bool(principals) and all(p.startswith(SPIFFE_PREFIX) for p in principals)


def _methods_impossible(methods: Sequence[str]) -> bool:
    return bool(methods) and all("*" not in m and m not in HTTP_METHODS for m in methods)


def _paths_impossible(paths: Sequence[str]) -> bool:
    def impossible(path: str) -> bool:
        if contains_path_template(path):
            return path_template_regex(path) is None
        return path != "*" and not path.startswith(("/", "*"))

    return bool(paths) and all(impossible(p) for p in paths)


def _decider(result: HopsResult) -> tuple[str | None, str | None]:
    for hop in result.hops:
        if not hop.reached:
            continue
        if hop.verdict is Verdict.DENY:
            by = hop.decided_by
            return (f"{by.policy} rule {by.rule} ({by.action.value})" if by else None), hop.hop
    for hop in reversed(result.hops):
        if hop.decided_by is not None:
            by = hop.decided_by
            return f"{by.policy} rule {by.rule} ({by.action.value})", None
    return None, None


def decision_table(
    policies: Iterable[AuthorizationPolicy],
    target: ServiceTarget,
    *,
    known_principals: Sequence[str] = (),
    trust_domain: str = CLUSTER_LOCAL,
    aliases: Sequence[str] = (),
    port: int | None = None,
    workload_port: int | None = None,
) -> DecisionTable:
    policies = tuple(policies)
    attachments = attach_policies(policies, target)
    applied = [a.policy for a in attachments if a.applies]
    probes = probes_for(applied)
    principals = principals_for(applied, known_principals, trust_domain, target.namespace)
    cells: list[Cell] = []
    for principal in principals:
        for probe in probes:
            request = Request(principal=principal, method=probe.method, path=probe.path, port=port)
            result = evaluate_hops(
                policies,
                request,
                target,
                trust_domain=trust_domain,
                aliases=aliases,
                workload_port=workload_port,
            )
            decided_by, denied_at = _decider(result)
            cells.append(Cell(principal, probe, result.verdict, decided_by, denied_at, result))

    by_key = {a.policy.key: a for a in attachments}
    allow_nothing: list[str] = []
    dead: list[DeadRule] = []
    for attachment in attachments:
        policy = attachment.policy
        if not attachment.applies or policy.action is not Action.ALLOW:
            continue
        if not policy.rules:
            # `spec: {}` beside other ALLOW policies at the same proxy is the documented
            # default-deny pattern (e.g. mesh-wide in the root namespace, or on every waypoint
            # through the GatewayClass): it only matters when it is the sole ALLOW there.
            if not any(
                other.applies
                and other.policy.key != policy.key
                and other.policy.action is Action.ALLOW
                and other.policy.rules
                and other.enforced_by is attachment.enforced_by
                for other in attachments
            ):
                allow_nothing.append(policy.key)
            continue
        reasons = [never_matches(rule, policy, attachment) for rule in policy.rules]
        for rule, reason in zip(policy.rules, reasons, strict=True):
            if reason:
                dead.append(DeadRule(policy.key, rule.index, reason))
        if all(reasons):
            allow_nothing.append(policy.key)
    return DecisionTable(
        principals=principals,
        probes=probes,
        cells=tuple(cells),
        shadows=_shadows(cells),
        allow_nothing=tuple(allow_nothing),
        dead_rules=tuple(dead),
        attachments=tuple(by_key.values()),
    )


def _shadows(cells: Sequence[Cell]) -> tuple[Shadow, ...]:
    """DENY rules that match requests some ALLOW rule on the same hop also matches."""
    pairs: dict[tuple[str, int, str, int], list[tuple[str, str, str]]] = {}
    allow_hits: dict[tuple[str, int], int] = {}
    for cell in cells:
        for hop in cell.result.hops:
            traces = hop.decision.trace
            denies = [
                (t.policy, r.index)
                for t in traces
                if t.action is Action.DENY and t.enforced
                for r in t.rules
                if r.result.is_true
            ]
            allows = [
                (t.policy, r.index)
                for t in traces
                if t.action is Action.ALLOW and t.enforced
                for r in t.rules
                if r.result.is_true
            ]
            for allow in allows:
                allow_hits[allow] = allow_hits.get(allow, 0) + 1
                for deny in denies:
                    pairs.setdefault((*deny, *allow), []).append(
                        (cell.principal, cell.probe.method, cell.probe.path)
                    )
    shadows = [
        Shadow(
            deny_policy,
            deny_rule,
            allow_policy,
            allow_rule,
            examples[0],
            len(examples) >= allow_hits[(allow_policy, allow_rule)],
        )
        for (deny_policy, deny_rule, allow_policy, allow_rule), examples in sorted(pairs.items())
    ]
    return tuple(shadows)


__all__ = [
    "Cell",
    "DeadRule",
    "DecisionTable",
    "Enforcer",
    "Probe",
    "Shadow",
    "decision_table",
    "never_matches",
    "principals_for",
    "probes_for",
]
