"""Decide one request against the policies enforced at one enforcer, with a full trace.

Semantics (reference 5.3, 5.6): CUSTOM, then DENY, then ALLOW. No ALLOW policy: allow. Some
ALLOW policy matches: allow. Otherwise deny. AUDIT never decides. A rule matches when at least
one ``from`` entry, at least one ``to`` entry and every ``when`` condition match; fields of an
entry are ANDed, values of a field ORed, ``not*`` fields negative.

Per enforcer:
- ``waypoint`` (Envoy): principals rewritten for ``cluster.local`` and trust-domain aliases,
  then compared as ``spiffe://`` + value. On a TCP port the HTTP-only attributes cannot be read:
  an ALLOW rule using one is not built (never matches); a DENY/AUDIT/CUSTOM rule ignores them
  (treated as matching, so broader).
- ``ztunnel``: only the L4 part of each rule, as istiod converts it (ALLOW rules with an HTTP
  attribute dropped whole, DENY rules stripped, entries with nothing L4 left never match);
  principals compared literally.

What the request does not say (a header, a JWT claim, the client IP) is UNKNOWN, never a guess;
a CUSTOM policy's external authorizer is UNKNOWN unless DENY or ALLOW already settle the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from waypoint_doctor.authz import match
from waypoint_doctor.authz.attach import Enforcer, RuleFate, ZtunnelConversion, convert_for_ztunnel
from waypoint_doctor.authz.attributes import (
    ENVOY_HTTP_ONLY_OPERATION_FIELDS,
    ENVOY_HTTP_ONLY_SOURCE_FIELDS,
    ZTUNNEL_OPERATION_FIELDS,
    ZTUNNEL_SOURCE_FIELDS,
    is_envoy_http_only_when_key,
    is_ztunnel_when_key,
)
from waypoint_doctor.authz.extauthz import ExtAuthz
from waypoint_doctor.authz.logic import Tri, tri_all, tri_any
from waypoint_doctor.authz.model import Action, AuthorizationPolicy, Condition, Operation, Rule, Source
from waypoint_doctor.authz.normalize import PathSettings, normalize_path


class Verdict(StrEnum):
    ALLOW = "ALLOW"
    DENY = "DENY"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class Request:
    """One request as the enforcer sees it.

    ``principal`` is the peer identity ``<td>/ns/<ns>/sa/<sa>`` (None: plaintext, no mTLS
    identity). For the optional attributes None means "the question did not say", which makes
    any rule that depends on them UNKNOWN; give an empty value to mean "absent".
    """

    principal: str | None
    method: str | None = "GET"
    path: str | None = "/"
    port: int | None = None
    host: str | None = None
    protocol: Literal["http", "tcp"] = "http"
    source_ip: str | None = None
    remote_ip: str | None = None
    destination_ip: str | None = None
    sni: str | None = None
    headers: tuple[tuple[str, str], ...] | None = None
    # "<iss>/<sub>" of the JWT a RequestAuthentication validated at this enforcer; "" when there is
    # none (no token, or no RequestAuthentication applies there); None when unknown
    request_principal: str | None = None
    claims: tuple[tuple[str, tuple[str, ...]], ...] | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers or ():
            if key.lower() == name.lower():
                return value
        return None


@dataclass(frozen=True)
class AttributeCheck:
    attribute: str  # API field name (``paths``, ``notPrincipals``) or ``when:<key>``
    location: str
    wanted: tuple[str, ...]
    got: str | None
    result: Tri
    negative: bool = False
    note: str | None = None


@dataclass(frozen=True)
class EntryTrace:
    kind: Literal["from", "to", "when"]
    index: int
    location: str
    checks: tuple[AttributeCheck, ...]
    result: Tri
    note: str | None = None


@dataclass(frozen=True)
class RuleTrace:
    index: int
    rule_id: str
    result: Tri
    sources: tuple[EntryTrace, ...] | None = None  # None: no `from` (any source)
    operations: tuple[EntryTrace, ...] | None = None  # None: no `to` (any operation)
    conditions: tuple[EntryTrace, ...] = ()
    skipped: str | None = None  # why this enforcer never matches the rule
    note: str | None = None


@dataclass(frozen=True)
class PolicyTrace:
    policy: str
    action: Action
    result: Tri
    rules: tuple[RuleTrace, ...]
    enforced: bool = True  # False for dry-run and AUDIT: evaluated, never deciding
    note: str | None = None

    def first_rule(self, result: Tri) -> RuleTrace | None:
        for rule in self.rules:
            if rule.result is result:
                return rule
        return None


@dataclass(frozen=True)
class DecidedBy:
    policy: str
    action: Action
    rule: int | None
    rule_id: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"policy": self.policy, "action": self.action.value, "rule": self.rule}


@dataclass(frozen=True)
class NearestMiss:
    """The ALLOW rule that came closest, and the one attribute that did not match."""

    policy: str
    rule: int
    rule_id: str
    attribute: str
    wanted: tuple[str, ...]
    got: str | None
    negative: bool = False
    matched: tuple[str, ...] = ()  # attributes of that rule that did match
    other_failures: tuple[str, ...] = ()
    location: str = ""
    reason: str | None = None  # set when the rule is not enforced here at all

    def to_dict(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "rule": self.rule,
            "attribute": self.attribute,
            "wanted": list(self.wanted),
            "got": self.got,
        }

    @property
    def explanation(self) -> str:
        name = self.policy.split("/", 1)[-1]
        head = f"rule {self.rule} of {name}"
        if self.reason:
            return f"{head} could have matched, but {self.reason}"
        matched = _human_list([_ATTRIBUTE_NOUNS.get(a, a) for a in self.matched])
        noun = _ATTRIBUTE_NOUNS.get(self.attribute, self.attribute)
        wanted = _human_list([f"`{w}`" for w in self.wanted], "or")
        got = "nothing" if self.got is None else f"`{self.got}`"
        if self.negative:
            miss = f"{noun} {got} is excluded by {self.attribute} {wanted}"
        else:
            miss = f"{noun} {got} ≠ {wanted}"
        more = ""
        if self.other_failures:
            more = f" (also: {_human_list([_ATTRIBUTE_NOUNS.get(a, a) for a in self.other_failures])})"
        if matched:
            return f"{head} matched the {matched}, but {miss}{more}"
        return f"{head}: {miss}{more}"


@dataclass(frozen=True)
class Decision:
    enforcer: Enforcer
    verdict: Verdict
    decided_by: DecidedBy | None
    reason: str
    trace: tuple[PolicyTrace, ...] = ()
    nearest_miss: NearestMiss | None = None
    unknowns: tuple[str, ...] = ()  # what could not be evaluated, when the verdict is UNKNOWN
    path_seen: str | None = None  # the path the waypoint compared, when normalisation changed it
    notes: tuple[str, ...] = ()  # how the request was rewritten or which policies were skipped

    @property
    def rule_id(self) -> str | None:
        return self.decided_by.rule_id if self.decided_by else None


_ATTRIBUTE_NOUNS = {
    "principals": "principal",
    "notPrincipals": "principal",
    "requestPrincipals": "request principal",
    "notRequestPrincipals": "request principal",
    "namespaces": "namespace",
    "notNamespaces": "namespace",
    "serviceAccounts": "service account",
    "notServiceAccounts": "service account",
    "ipBlocks": "source IP",
    "notIpBlocks": "source IP",
    "remoteIpBlocks": "remote IP",
    "notRemoteIpBlocks": "remote IP",
    "trustDomains": "trust domain",
    "notTrustDomains": "trust domain",
    "hosts": "host",
    "notHosts": "host",
    "ports": "port",
    "notPorts": "port",
    "methods": "method",
    "notMethods": "method",
    "paths": "path",
    "notPaths": "path",
}


def _human_list(items: Sequence[str], conjunction: str = "and") -> str:
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


# ---------------------------------------------------------------------------------------------
# evaluation context


@dataclass(frozen=True)
class _Context:
    enforcer: Enforcer
    request: Request
    trust_domain: str
    aliases: tuple[str, ...]
    policy: AuthorizationPolicy
    conversion: ZtunnelConversion | None = None
    unknowns: list[str] = field(default_factory=list, compare=False, hash=False)

    @property
    def at_waypoint(self) -> bool:
        return self.enforcer is Enforcer.WAYPOINT

    @property
    def tcp_at_waypoint(self) -> bool:
        return self.at_waypoint and self.request.protocol == "tcp"

    @property
    def lenient(self) -> bool:
        """DENY, AUDIT and CUSTOM drop what they cannot build (broader); ALLOW drops the rule."""
        return self.policy.action is not Action.ALLOW


def _field_check(
    attribute: str,
    location: str,
    values: Sequence[str],
    got: str | None,
    matches: Callable[[str], bool] | None,
    *,
    note: str | None = None,
) -> AttributeCheck:
    negative = attribute.startswith("not")
    if matches is None:
        return AttributeCheck(attribute, location, tuple(values), got, Tri.UNKNOWN, negative, note)
    hit = any(matches(v) for v in values)
    return AttributeCheck(attribute, location, tuple(values), got, Tri.of(hit != negative), negative, note)


def _source_matcher(name: str, ctx: _Context) -> tuple[str | None, Callable[[str], bool] | None, str | None]:
    """(shown value, matcher or None when unknown, note) for one Source field."""
    request, waypoint = ctx.request, ctx.at_waypoint
    principal = request.principal
    base = name[3].lower() + name[4:] if name.startswith("not") else name
    if base == "principals":
        if waypoint:

            def principal_matches(value: str) -> bool:
                expanded = match.waypoint_principal_values(value, ctx.trust_domain, ctx.aliases)
                return any(match.match_principal_waypoint(v, principal) for v in expanded)

            return principal, principal_matches, None
        return principal, lambda v: match.match_principal_ztunnel(v, principal), None
    if base == "namespaces":
        identity = match.parse_identity(principal)
        shown = identity.namespace if identity else principal
        if waypoint:
            return shown, lambda v: match.match_namespace_waypoint(v, principal), None
        return shown, lambda v: match.match_namespace_ztunnel(v, principal), None
    if base == "serviceAccounts":
        identity = match.parse_identity(principal)
        shown = f"{identity.namespace}/{identity.service_account}" if identity else principal
        ns = ctx.policy.namespace
        if waypoint:
            return shown, lambda v: match.match_service_account_waypoint(v, ns, principal), None
        return shown, lambda v: match.match_service_account_ztunnel(v, ns, principal), None
    if base == "trustDomains":
        identity = match.parse_identity(principal)
        shown = identity.trust_domain if identity else principal

        def trust_domain_matches(value: str) -> bool:
            expanded = match.waypoint_trust_domain_values(value, ctx.trust_domain, ctx.aliases)
            return any(match.match_trust_domain_waypoint(v, principal) for v in expanded)

        return shown, trust_domain_matches, None
    if base == "ipBlocks":
        ip = request.source_ip
        if ip is None:
            return None, None, "the source IP was not given"
        return ip, lambda v: match.match_ip_block(v, ip), None
    if base == "remoteIpBlocks":
        ip = request.remote_ip or request.source_ip
        if ip is None:
            return None, None, "the remote (original client) IP was not given"
        return ip, lambda v: match.match_ip_block(v, ip), None
    if base == "requestPrincipals":
        jwt = request.request_principal
        if jwt is None:
            return None, None, "whether the request carries a JWT (and its iss/sub) was not given"
        issuer, subject = match.split_request_principal(jwt) if jwt else (None, None)
        return (
            jwt or None,
            lambda v: match.match_request_principal(v, issuer, subject if subject is not None else ""),
            None,
        )
    return None, None, f"{name} is not an attribute this engine knows"


def _operation_matcher(
    name: str, ctx: _Context
) -> tuple[str | None, Callable[[str], bool] | None, str | None]:
    request = ctx.request
    base = name[3].lower() + name[4:] if name.startswith("not") else name
    if base == "ports":
        if request.port is None:
            return None, None, "the destination port was not given"
        port = request.port
        return str(port), lambda v: match.match_port(v, port), None
    if base == "methods":
        if request.method is None:
            return None, None, "the method was not given"
        method = request.method
        return method, lambda v: match.match_method(v, method), None
    if base == "paths":
        if request.path is None:
            return None, None, "the path was not given"
        path = request.path
        return path, lambda v: match.match_path(v, path), None
    if base == "hosts":
        if request.host is None:
            return None, None, "the host (:authority) was not given"
        host = request.host
        return host, lambda v: match.match_host(v, host), None
    return None, None, f"{name} is not an attribute this engine knows"


def _claim_values(request: Request, claim: str) -> tuple[str, ...] | None:
    if request.claims is None:
        return None
    for key, values in request.claims:
        if key == claim:
            return values
    return ()


def _condition_matcher(
    key: str, ctx: _Context
) -> tuple[str | None, Callable[[str], bool] | None, str | None]:
    request, waypoint = ctx.request, ctx.at_waypoint
    principal = request.principal
    if key == "source.principal":
        return _source_matcher("principals", ctx)
    if key == "source.namespace":
        return _source_matcher("namespaces", ctx)
    if key == "source.serviceAccount":
        return _source_matcher("serviceAccounts", ctx)
    if key == "source.trustDomain":
        return _source_matcher("trustDomains", ctx)
    if key == "source.ip":
        return _source_matcher("ipBlocks", ctx)
    if key == "remote.ip":
        return _source_matcher("remoteIpBlocks", ctx)
    if key == "destination.port":
        return _operation_matcher("ports", ctx)
    if key == "destination.ip":
        ip = request.destination_ip
        if ip is None:
            return None, None, "the destination IP was not given"
        return ip, lambda v: match.match_ip_block(v, ip), None
    if key == "connection.sni":
        if request.sni is None:
            return None, None, "the TLS SNI was not given"
        sni = request.sni
        return sni, lambda v: match.match_string(v, sni), None
    if key.startswith("request.headers[") and key.endswith("]"):
        if request.headers is None:
            return None, None, f"header {key[16:-1]!r} was not given"
        value = request.header(key[16:-1])
        return value, lambda v: value is not None and match.match_string(v, value), None
    if key == "request.auth.principal":
        return _source_matcher("requestPrincipals", ctx)
    claim = {"request.auth.audiences": "aud", "request.auth.presenter": "azp"}.get(key)
    if claim is None and key.startswith("request.auth.claims[") and key.endswith("]"):
        claim = key[len("request.auth.claims[") : -1].replace("][", ".")
    if claim is not None:
        values = _claim_values(request, claim)
        if values is None:
            return None, None, f"JWT claim {claim!r} was not given"
        return ", ".join(values) or None, lambda v: any(match.match_string(v, c) for c in values), None
    del principal, waypoint
    return None, None, f"{key} cannot be evaluated from the question"


# ---------------------------------------------------------------------------------------------
# rules


def _tcp_ignored(name: str, ctx: _Context) -> bool:
    return ctx.tcp_at_waypoint and (
        name in ENVOY_HTTP_ONLY_SOURCE_FIELDS or name in ENVOY_HTTP_ONLY_OPERATION_FIELDS
    )


def _evaluate_entry(
    kind: Literal["from", "to"],
    index: int,
    entry: Source | Operation,
    ctx: _Context,
) -> EntryTrace:
    checks: list[AttributeCheck] = []
    l4_fields = ZTUNNEL_SOURCE_FIELDS if kind == "from" else ZTUNNEL_OPERATION_FIELDS
    matcher_for = _source_matcher if kind == "from" else _operation_matcher
    stripped: list[str] = []
    for name, values in entry.fields():
        location = f"{entry.location}.{name}"
        if not ctx.at_waypoint:
            if name not in l4_fields:
                stripped.append(name)
                continue
            kept = [v for v in values if name not in ("ports", "notPorts") or match.parse_port(v) is not None]
            kept = [v for v in kept if name not in ("ipBlocks", "notIpBlocks") or match.parse_ip_block(v)]
            if not kept:
                stripped.append(name)
                continue
            values = tuple(kept)
        if _tcp_ignored(name, ctx):
            # Only reached for lenient actions: ALLOW rules with such fields are skipped whole.
            checks.append(
                AttributeCheck(
                    name,
                    location,
                    values,
                    None,
                    Tri.TRUE,
                    name.startswith("not"),
                    "HTTP-only attribute on a TCP port: ignored, so treated as matching",
                )
            )
            continue
        got, matcher, note = matcher_for(name, ctx)
        check = _field_check(name, location, values, got, matcher, note=note)
        if check.result is Tri.UNKNOWN:
            ctx.unknowns.append(f"{ctx.policy.key} {location}: {note}")
        checks.append(check)
    note = None
    if not ctx.at_waypoint and stripped:
        note = f"ztunnel ignores {', '.join(stripped)}"
    if not ctx.at_waypoint and not checks:
        # An empty match is skipped by ztunnel: this entry can never match.
        return EntryTrace(
            kind,
            index,
            entry.location,
            (),
            Tri.FALSE,
            (note + "; " if note else "") + "nothing L4 is left in this entry, so ztunnel never matches it",
        )
    return EntryTrace(kind, index, entry.location, tuple(checks), tri_all(c.result for c in checks), note)


def _evaluate_condition(index: int, condition: Condition, ctx: _Context) -> EntryTrace:
    location = condition.location
    attribute = f"when:{condition.key}"
    if not ctx.at_waypoint and not is_ztunnel_when_key(condition.key):
        return EntryTrace(
            "when",
            index,
            location,
            (),
            Tri.FALSE,
            f"ztunnel cannot evaluate {condition.key}: the condition never matches there",
        )
    if ctx.tcp_at_waypoint and is_envoy_http_only_when_key(condition.key):
        check = AttributeCheck(
            attribute,
            location,
            condition.values,
            None,
            Tri.TRUE,
            note="HTTP-only attribute on a TCP port: ignored, so treated as matching",
        )
        return EntryTrace("when", index, location, (check,), Tri.TRUE)
    got, matcher, note = _condition_matcher(condition.key, ctx)
    checks: list[AttributeCheck] = []
    for values, negative, suffix in (
        (condition.values, False, "values"),
        (condition.not_values, True, "notValues"),
    ):
        if not values:
            continue
        if not ctx.at_waypoint:
            key = condition.key
            if key == "destination.port":
                values = tuple(v for v in values if match.parse_port(v) is not None)
            elif key in ("source.ip", "destination.ip"):
                values = tuple(v for v in values if match.parse_ip_block(v))
            if not values:
                continue
        if matcher is None:
            result = Tri.UNKNOWN
            ctx.unknowns.append(f"{ctx.policy.key} {location}: {note}")
        else:
            hit = any(matcher(v) for v in values)
            result = Tri.of(hit != negative)
        checks.append(AttributeCheck(attribute, f"{location}.{suffix}", values, got, result, negative, note))
    if not ctx.at_waypoint and not checks:
        return EntryTrace("when", index, location, (), Tri.FALSE, "no value ztunnel can use: never matches")
    return EntryTrace("when", index, location, tuple(checks), tri_all(c.result for c in checks))


def _tcp_skip_reason(rule: Rule) -> str | None:
    """An ALLOW rule Envoy cannot build on a TCP filter chain, and why."""
    found: list[str] = []
    for source in rule.sources or ():
        found += [n for n, _ in source.fields() if n in ENVOY_HTTP_ONLY_SOURCE_FIELDS]
    for operation in rule.operations or ():
        found += [n for n, _ in operation.fields() if n in ENVOY_HTTP_ONLY_OPERATION_FIELDS]
    found += [c.key for c in rule.conditions if is_envoy_http_only_when_key(c.key)]
    if not found:
        return None
    return f"it uses HTTP-only attributes ({', '.join(sorted(set(found)))}) on a TCP port, so the ALLOW rule is not built"


def _evaluate_rule(rule: Rule, ctx: _Context) -> RuleTrace:
    rule_id = ctx.policy.rule_id(rule.index)
    if rule.skipped:
        return RuleTrace(rule.index, rule_id, Tri.FALSE, skipped=f"istiod skips this rule: {rule.skipped}")
    note = None
    if ctx.conversion is not None:
        fate = ctx.conversion.fate(rule.index)
        if fate is not None and fate.fate is RuleFate.DROPPED:
            return RuleTrace(
                rule.index,
                rule_id,
                Tri.FALSE,
                skipped=f"ztunnel drops this ALLOW rule: it uses HTTP attributes ({', '.join(fate.http_attributes)})",
            )
        if fate is not None and fate.fate is RuleFate.STRIPPED:
            note = f"enforced at ztunnel without its HTTP attributes ({', '.join(fate.http_attributes)}): broader"
        if fate is not None and fate.fate is RuleFate.VOID:
            note = "nothing L4 is left in some clause at ztunnel: this DENY rule has no effect there"
    if ctx.tcp_at_waypoint and not ctx.lenient:
        reason = _tcp_skip_reason(rule)
        if reason:
            return RuleTrace(rule.index, rule_id, Tri.FALSE, skipped=reason)
    sources = (
        tuple(_evaluate_entry("from", i, s, ctx) for i, s in enumerate(rule.sources))
        if rule.sources
        else None
    )
    operations = (
        tuple(_evaluate_entry("to", i, o, ctx) for i, o in enumerate(rule.operations))
        if rule.operations
        else None
    )
    conditions = tuple(_evaluate_condition(i, c, ctx) for i, c in enumerate(rule.conditions))
    parts = []
    if sources is not None:
        parts.append(tri_any(e.result for e in sources))
    if operations is not None:
        parts.append(tri_any(e.result for e in operations))
    parts.extend(c.result for c in conditions)
    return RuleTrace(rule.index, rule_id, tri_all(parts), sources, operations, conditions, note=note)


def _evaluate_policy(policy: AuthorizationPolicy, ctx: _Context) -> PolicyTrace:
    assert policy.action is not None
    enforced = policy.action is not Action.AUDIT and not policy.dry_run
    note = None
    if policy.dry_run:
        note = "dry-run: evaluated and logged, never enforced"
    elif policy.action is Action.AUDIT:
        note = "AUDIT: marks the request for auditing, never allows or denies"
    if not policy.rules:
        empty = "no rules: it matches nothing"
        if policy.action is Action.ALLOW:
            empty += " (allow-nothing: every request to the workloads it covers is denied)"
        return PolicyTrace(policy.key, policy.action, Tri.FALSE, (), enforced, note or empty)
    rules = tuple(_evaluate_rule(rule, ctx) for rule in policy.rules)
    return PolicyTrace(policy.key, policy.action, tri_any(r.result for r in rules), rules, enforced, note)


# ---------------------------------------------------------------------------------------------
# nearest miss


def _best_entry(entries: Sequence[EntryTrace]) -> EntryTrace:
    def score(entry: EntryTrace) -> tuple[int, int, int]:
        failed = sum(1 for c in entry.checks if c.result is Tri.FALSE) or (
            1 if entry.result is Tri.FALSE else 0
        )
        matched = sum(1 for c in entry.checks if c.result is Tri.TRUE)
        return (failed, -matched, entry.index)

    return min(entries, key=score)


def _miss_candidate(policy: PolicyTrace, rule: RuleTrace) -> tuple[tuple[object, ...], NearestMiss] | None:
    if rule.result is not Tri.FALSE:
        return None
    if rule.skipped:
        return (
            (99, 1, 0, policy.policy, rule.index),
            NearestMiss(
                policy.policy,
                rule.index,
                rule.rule_id,
                attribute="rule",
                wanted=(),
                got=None,
                reason=rule.skipped,
            ),
        )
    chosen: list[EntryTrace] = []
    source_ok = True
    if rule.sources is not None:
        best = _best_entry(rule.sources)
        chosen.append(best)
        source_ok = best.result is Tri.TRUE
    if rule.operations is not None:
        chosen.append(_best_entry(rule.operations))
    chosen.extend(rule.conditions)
    failed: list[tuple[EntryTrace, AttributeCheck | None]] = []
    matched: list[str] = []
    for entry in chosen:
        if entry.result is Tri.FALSE and not entry.checks:
            failed.append((entry, None))
        for check in entry.checks:
            if check.result is Tri.FALSE:
                failed.append((entry, check))
            elif check.result is Tri.TRUE and check.attribute not in matched:
                matched.append(check.attribute)
    if not failed:
        return None
    entry, check = failed[0]
    others = tuple(c.attribute for _, c in failed[1:] if c is not None)
    if check is None:
        miss = NearestMiss(
            policy.policy,
            rule.index,
            rule.rule_id,
            attribute=entry.kind,
            wanted=(),
            got=None,
            matched=tuple(matched),
            other_failures=others,
            location=entry.location,
            reason=entry.note,
        )
    else:
        miss = NearestMiss(
            policy.policy,
            rule.index,
            rule.rule_id,
            attribute=check.attribute,
            wanted=check.wanted,
            got=check.got,
            negative=check.negative,
            matched=tuple(matched),
            other_failures=others,
            location=check.location,
        )
    return ((len(failed), 0 if source_ok else 1, -len(matched), policy.policy, rule.index), miss)


def nearest_miss(traces: Iterable[PolicyTrace]) -> NearestMiss | None:
    """Among enforced ALLOW rules that did not match: fewest failed attributes, then a matching
    source (same caller) first, then most matched attributes."""
    best: tuple[tuple[object, ...], NearestMiss] | None = None
    for policy in traces:
        if policy.action is not Action.ALLOW or not policy.enforced:
            continue
        for rule in policy.rules:
            candidate = _miss_candidate(policy, rule)
            if candidate is not None and (best is None or candidate[0] < best[0]):  # type: ignore[operator]
                best = candidate
    return best[1] if best else None


# ---------------------------------------------------------------------------------------------
# decision


def _decided(policy: PolicyTrace, result: Tri) -> DecidedBy:
    rule = policy.first_rule(result)
    return DecidedBy(
        policy.policy, policy.action, rule.index if rule else None, rule.rule_id if rule else None
    )


def evaluate(
    policies: Iterable[AuthorizationPolicy],
    request: Request,
    *,
    enforcer: Enforcer | Literal["waypoint", "ztunnel"],
    trust_domain: str = match.CLUSTER_LOCAL,
    aliases: Sequence[str] = (),
    extension_providers: Collection[str] | None = None,
    ext_authz: ExtAuthz | None = None,
    path_settings: PathSettings | None = None,
) -> Decision:
    """Decide ``request`` against the policies enforced at ``enforcer``.

    ``policies`` are those that apply there (see :mod:`attach`); selector and namespace-wide
    policies are converted to their L4 form when ``enforcer`` is ztunnel. ``ext_authz`` is the
    mesh's ext-authz providers when known (``extension_providers``, names only, is the older
    form): a CUSTOM policy whose provider istiod cannot build denies what it matches.
    ``path_settings`` is the mesh's path normalisation (default BASE): at a waypoint the path is
    normalised before any rule sees it.
    """
    enforcer = Enforcer(enforcer)
    if ext_authz is None and extension_providers is not None:
        ext_authz = ExtAuthz.trusting(extension_providers)
    ordered = sorted(
        (p for p in policies if p.action is not None),
        key=lambda p: (p.namespace, p.name),
    )
    if enforcer is not Enforcer.WAYPOINT or request.protocol != "http" or request.path is None:
        return _evaluate_at(enforcer, ordered, request, trust_domain, aliases, ext_authz)
    normalized = normalize_path(request.path, path_settings)
    notes = tuple(f"path {request.path!r}: {note}" for note in normalized.notes)
    if normalized.rejected:
        return Decision(
            enforcer,
            Verdict.DENY,
            None,
            f"the waypoint never authorizes this request: {normalized.rejected}",
            notes=notes,
        )
    decisions = [
        _evaluate_at(enforcer, ordered, replace(request, path=candidate), trust_domain, aliases, ext_authz)
        for candidate in normalized.candidates
    ]
    first = decisions[0]
    seen = normalized.candidates[0] if normalized.changed else None
    if len(decisions) == 1 or all(
        d.verdict is first.verdict and d.decided_by == first.decided_by for d in decisions[1:]
    ):
        return replace(first, path_seen=seen, notes=notes + first.notes)
    readings = "; ".join(
        f"as {c!r}: {d.verdict.value.lower()} ({d.reason})"
        for c, d in zip(normalized.candidates, decisions, strict=True)
    )
    return Decision(
        enforcer,
        Verdict.UNKNOWN,
        None,
        f"the answer depends on whether this Envoy build decodes percent-encoded letters in the path: {readings}",
        tuple(first.trace),
        None,
        (f"path {request.path!r}: percent-decoding of unreserved characters differs between Envoy builds",),
        notes=notes,
    )


def _evaluate_at(
    enforcer: Enforcer,
    ordered: Sequence[AuthorizationPolicy],
    request: Request,
    trust_domain: str,
    aliases: Sequence[str],
    ext_authz: ExtAuthz | None,
) -> Decision:
    unknowns: list[str] = []
    traces: list[PolicyTrace] = []
    for policy in ordered:
        conversion = None
        if enforcer is Enforcer.ZTUNNEL:
            if policy.target_refs:
                continue  # ztunnel never receives targetRef policies
            conversion = convert_for_ztunnel(policy)
            if not conversion.supported:
                traces.append(
                    PolicyTrace(
                        policy.key,
                        policy.action or Action.ALLOW,
                        Tri.FALSE,
                        (),
                        False,
                        f"not sent to ztunnel: {conversion.unsupported_reason}",
                    )
                )
                continue
        ctx = _Context(enforcer, request, trust_domain, tuple(aliases), policy, conversion, unknowns)
        traces.append(_evaluate_policy(policy, ctx))
    return _decide(enforcer, traces, unknowns, ext_authz, ordered, request)


def _decide(
    enforcer: Enforcer,
    traces: list[PolicyTrace],
    unknowns: list[str],
    ext_authz: ExtAuthz | None,
    policies: Sequence[AuthorizationPolicy],
    request: Request,
) -> Decision:
    providers = {p.key: p.provider for p in policies}
    enforced = [t for t in traces if t.enforced]
    denies = [t for t in enforced if t.action is Action.DENY]
    allows = [t for t in enforced if t.action is Action.ALLOW]
    customs = [t for t in enforced if t.action is Action.CUSTOM]
    broken, customs, notes = _sort_customs(customs, providers, ext_authz, request)
    trace = tuple(traces)
    unknown_list = tuple(dict.fromkeys(unknowns))

    for policy, why_broken in [*broken, *((d, None) for d in denies)]:
        if policy.result is Tri.TRUE:
            decided = _decided(policy, Tri.TRUE)
            why = "denied"
            if why_broken:
                why = f"denied ({why_broken}, so istiod turns the CUSTOM policy into a DENY)"
            return Decision(
                enforcer,
                Verdict.DENY,
                decided,
                f"{why} by {policy.action.value} policy {policy.policy} rule {decided.rule}",
                trace,
                None,
                (),
                notes=notes,
            )
    denies = [*(t for t, _ in broken), *denies]

    # ALLOW stage.
    allow_verdict: Verdict
    allow_decided: DecidedBy | None = None
    miss: NearestMiss | None = None
    if not allows:
        allow_verdict, allow_reason = (
            Verdict.ALLOW,
            "no ALLOW policy applies here, so the request is allowed by default",
        )
    else:
        matched = [t for t in allows if t.result is Tri.TRUE]
        if matched:
            allow_decided = _decided(matched[0], Tri.TRUE)
            allow_verdict = Verdict.ALLOW
            allow_reason = f"allowed by ALLOW policy {matched[0].policy} rule {allow_decided.rule}"
        elif any(t.result is Tri.UNKNOWN for t in allows):
            allow_verdict = Verdict.UNKNOWN
            allow_reason = "an ALLOW rule depends on data the question did not give"
        else:
            allow_verdict = Verdict.DENY
            miss = nearest_miss(allows)
            allow_reason = "ALLOW policies apply here and none matched, so the request is denied by default"
            if all(not t.rules for t in allows):
                allow_reason = (
                    "an allow-nothing policy applies here (ALLOW with no rules), so every request is denied"
                )

    if allow_verdict is Verdict.DENY:
        reason = allow_reason
        if miss is not None:
            reason += f"; nearest miss: {miss.explanation}"
        return Decision(enforcer, Verdict.DENY, None, reason, trace, miss, (), notes=notes)

    deny_unknown = [t for t in denies if t.result is Tri.UNKNOWN]
    custom_hit = [t for t in customs if t.result is not Tri.FALSE]
    if custom_hit:
        decided = _decided(custom_hit[0], custom_hit[0].result)
        provider = providers.get(custom_hit[0].policy) or "?"
        return Decision(
            enforcer,
            Verdict.UNKNOWN,
            decided,
            f"CUSTOM policy {custom_hit[0].policy} sends the request to external authorizer {provider!r}, "
            f"whose answer cannot be known here ({allow_reason} otherwise)",
            trace,
            None,
            (*unknown_list, f"{custom_hit[0].policy}: external authorizer {provider!r}"),
            notes=notes,
        )
    if deny_unknown:
        return Decision(
            enforcer,
            Verdict.UNKNOWN,
            None,
            f"DENY policy {deny_unknown[0].policy} may match: it depends on data the question did not give",
            trace,
            None,
            unknown_list,
            notes=notes,
        )
    if allow_verdict is Verdict.UNKNOWN:
        return Decision(enforcer, Verdict.UNKNOWN, None, allow_reason, trace, None, unknown_list, notes=notes)
    return Decision(enforcer, Verdict.ALLOW, allow_decided, allow_reason, trace, None, (), notes=notes)


def _sort_customs(
    customs: list[PolicyTrace],
    providers: Mapping[str, str | None],
    ext_authz: ExtAuthz | None,
    request: Request,
) -> tuple[list[tuple[PolicyTrace, str]], list[PolicyTrace], tuple[str, ...]]:
    """(CUSTOM policies istiod turns into DENY with why, those sent to an authorizer, notes).

    builder.go: two providers on one workload deny through every CUSTOM policy (unless the 1.30+
    multi-provider switch is on); a provider ``getExtAuthz`` cannot resolve denies through its
    policies; an HTTP provider on a TCP filter chain is skipped (extauthz.go, buildTCP).
    """
    if not customs or ext_authz is None:
        return [], customs, ()
    names = sorted({providers.get(t.policy) or "" for t in customs})
    if len(names) > 1 and not ext_authz.multiple_providers:
        why = f"CUSTOM policies name {len(names)} providers ({', '.join(names)}) on one waypoint"
        return [(t, why) for t in customs], [], ()
    broken: list[tuple[PolicyTrace, str]] = []
    valid: list[PolicyTrace] = []
    notes: list[str] = []
    for policy in customs:
        name = providers.get(policy.policy)
        problem = ext_authz.provider_problem(name)
        if problem:
            broken.append((policy, f"provider {name!r}: {problem}" if name else problem))
            continue
        provider = ext_authz.providers.get(name or "")
        if request.protocol == "tcp" and provider is not None and provider.kind == "http":
            notes.append(
                f"CUSTOM policy {policy.policy} is skipped on this TCP port: its provider {name!r} is HTTP"
            )
            continue
        valid.append(policy)
    return broken, valid, tuple(notes)


def headers_from(mapping: Mapping[str, str] | None) -> tuple[tuple[str, str], ...] | None:
    """Convenience for building a :class:`Request` from a dict."""
    if mapping is None:
        return None
    return tuple((str(k), str(v)) for k, v in mapping.items())
