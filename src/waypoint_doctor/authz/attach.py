"""Where each AuthorizationPolicy is enforced for one Service (reference 5.1, 5.2, 5.6).

- A policy with ``targetRefs`` (or the legacy ``targetRef``) is for waypoints only: ztunnel never
  sees it (istiod's ztunnel conversion returns nothing for it). It attaches to the Service's
  waypoint through ``kind: Service`` (group ``""``/``core``, same namespace as the Service),
  ``kind: Gateway`` (group ``gateway.networking.k8s.io``, same namespace as the waypoint, name =
  the waypoint), ``kind: GatewayClass`` ``istio-waypoint`` (policy in the root namespace only) or
  ``kind: ServiceEntry`` (``networking.istio.io``, same namespace).
- A policy with a ``selector``, or with neither selector nor targetRef (namespace-wide; mesh-wide
  in the root namespace), is for the destination ztunnel only: waypoints ignore it. ztunnel
  enforces only its L4 part (:func:`convert_for_ztunnel`).

Each decision carries a reason a person can read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from waypoint_doctor.authz.attributes import (
    ZTUNNEL_WHEN_KEYS,
    operation_l4_fields,
    source_l4_fields,
    ztunnel_http_attributes,
)
from waypoint_doctor.authz.match import SpiffeIdentity, parse_ip_block, parse_port
from waypoint_doctor.authz.model import Action, AuthorizationPolicy, Rule, TargetRef

WAYPOINT_GATEWAY_CLASS = "istio-waypoint"
GATEWAY_GROUP = "gateway.networking.k8s.io"
SERVICE_ENTRY_GROUP = "networking.istio.io"
DEFAULT_ROOT_NAMESPACE = "istio-system"


class Enforcer(StrEnum):
    WAYPOINT = "waypoint"
    ZTUNNEL = "ztunnel"


@dataclass(frozen=True)
class WaypointRef:
    """The waypoint Gateway a Service is bound to."""

    name: str
    namespace: str
    service_account: str | None = None  # `gateway.istio.io/service-account` override, if any

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def identity(self, trust_domain: str) -> SpiffeIdentity:
        """The waypoint's own identity: its service account is named after the Gateway."""
        return SpiffeIdentity(trust_domain, self.namespace, self.service_account or self.name)


TARGET_KIND_SINCE = {"ServiceEntry": (1, 24), "GatewayClass": (1, 25)}


@dataclass(frozen=True)
class ServiceTarget:
    """The Service (or ServiceEntry) being diagnosed, and what decides policy attachment to it."""

    namespace: str
    name: str
    kind: str = "Service"  # or "ServiceEntry"
    waypoint: WaypointRef | None = None
    root_namespace: str = DEFAULT_ROOT_NAMESPACE
    # Labels of the Service's pods, one tuple of (key, value) pairs per pod; None when unknown,
    # in which case selector policies are judged against `service_selector`.
    workload_labels: tuple[tuple[tuple[str, str], ...], ...] | None = None
    service_selector: tuple[tuple[str, str], ...] | None = None
    # The control plane's (major, minor) when known: targetRef kinds arrived in steps
    # (Service and Gateway 1.22, ServiceEntry 1.24, GatewayClass 1.25; reference 0, 5.1).
    istio_version: tuple[int, int] | None = None

    def supports_kind(self, kind: str) -> bool:
        needed = TARGET_KIND_SINCE.get(kind)
        return needed is None or self.istio_version is None or self.istio_version >= needed

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @staticmethod
    def labels(pairs: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
        # a value that is not a string (a malformed object) is compared as text: it matches
        # no real label, so the selector stays as narrow as written
        if not isinstance(pairs, Mapping):
            return ()
        return tuple(sorted((str(k), v if isinstance(v, str) else str(v)) for k, v in pairs.items()))


class RuleFate(StrEnum):
    KEPT = "kept"  # no HTTP attribute: enforced as written
    DROPPED = "dropped"  # ALLOW rule with an HTTP attribute: omitted entirely
    STRIPPED = "stripped"  # DENY rule: HTTP attributes removed, the L4 rest enforced (broader)
    VOID = "void"  # DENY rule: nothing L4 left in some clause, it can never match (no effect)


@dataclass(frozen=True)
class ZtunnelRule:
    index: int
    fate: RuleFate
    http_attributes: tuple[str, ...] = ()
    ignored_attributes: tuple[str, ...] = ()  # trustDomains/notTrustDomains: neither kept nor flagged


@dataclass(frozen=True)
class ZtunnelConversion:
    """What istiod sends ztunnel for a selector or namespace-wide policy."""

    supported: bool
    rules: tuple[ZtunnelRule, ...] = ()
    http_attributes: tuple[str, ...] = ()
    unsupported_reason: str | None = None
    # What istiod writes in the ZtunnelAccepted condition for this policy.
    expected_status: str = "True"
    expected_reason: str = "Accepted"
    expected_message: str = "attached to ztunnel"

    @property
    def kept_rules(self) -> tuple[ZtunnelRule, ...]:
        return tuple(r for r in self.rules if r.fate in (RuleFate.KEPT, RuleFate.STRIPPED))

    def fate(self, index: int) -> ZtunnelRule | None:
        for rule in self.rules:
            if rule.index == index:
                return rule
        return None


class Scope(StrEnum):
    TARGET_SERVICE = "targetRef:Service"
    TARGET_SERVICE_ENTRY = "targetRef:ServiceEntry"
    TARGET_GATEWAY = "targetRef:Gateway"
    TARGET_GATEWAY_CLASS = "targetRef:GatewayClass"
    SELECTOR = "selector"
    NAMESPACE = "namespace"
    GLOBAL = "global"


@dataclass(frozen=True)
class Attachment:
    policy: AuthorizationPolicy
    enforced_by: Enforcer | None  # None: enforced nowhere for this Service
    reason: str
    scope: Scope | None = None
    via: TargetRef | None = None
    ztunnel: ZtunnelConversion | None = None
    # targetRefs that did not attach, each with why (for WD402/WD403).
    unattached_refs: tuple[tuple[TargetRef, str], ...] = field(default=())
    malformed: bool = False  # istiod cannot decode the policy's shape (see attach_policy)

    @property
    def applies(self) -> bool:
        return self.enforced_by is not None


# ---------------------------------------------------------------------------------------------


DRY_RUN_UNSUPPORTED = (
    'found policy "{key}" using dry-run annotation, but support for ambient dry-run authorizationPolicies '
    "isn't enabled"
)
_HTTP_RULE_FMT = (
    "ztunnel does not support HTTP attributes (found: {found}). In ambient mode you must use a waypoint proxy "
    "to enforce HTTP rules. {boilerplate}"
)
_ALLOW_BOILERPLATE = "Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested."
_DENY_MIXED_BOILERPLATE = "DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive than requested."
_DENY_NO_EFFECT_BOILERPLATE = (
    "After omitting unsupported HTTP attributes, this DENY policy has no enforceable rules at ztunnel and will "
    "have no effect. Deploy a waypoint proxy and use a targetRef to enforce this policy."
)


def _ztunnel_rule_is_effective(rule: Rule) -> bool:
    """Whether every clause of the converted rule keeps a non-empty match (hasEffectiveRules).

    ztunnel skips empty matches, so a clause whose every match is empty is false; a rule with no
    clause at all (``{}``) matches everything.
    """
    if rule.operations and not any(_operation_has_l4(op) for op in rule.operations):
        return False
    if rule.sources and not any(_source_has_l4(source) for source in rule.sources):
        return False
    for condition in rule.conditions:
        if condition.key not in ZTUNNEL_WHEN_KEYS or not _l4_values(
            condition.key, condition.values + condition.not_values
        ):
            return False
    return True


def _operation_has_l4(operation: object) -> bool:
    return any(_l4_values("destination.port", values) for _, values in operation_l4_fields(operation))  # type: ignore[arg-type]


def _source_has_l4(source: object) -> bool:
    for name, values in source_l4_fields(source):  # type: ignore[arg-type]
        key = "source.ip" if name in ("ipBlocks", "notIpBlocks") else "source.principal"
        if _l4_values(key, values):
            return True
    return False


def _l4_values(key: str, values: Sequence[str]) -> list[str]:
    """The values istiod keeps when converting for ztunnel (unparseable ports and IPs are dropped)."""
    if key == "destination.port":
        return [v for v in values if parse_port(v) is not None]
    if key in ("source.ip", "destination.ip"):
        return [v for v in values if v and parse_ip_block(v) is not None]
    return list(values)


def convert_for_ztunnel(policy: AuthorizationPolicy, *, dry_run_supported: bool = False) -> ZtunnelConversion:
    """istiod's ambient conversion of a selector or namespace-wide policy (reference 5.2, 5.6)."""
    if policy.dry_run and not dry_run_supported:
        message = DRY_RUN_UNSUPPORTED.format(key=policy.key)
        return ZtunnelConversion(
            supported=False,
            unsupported_reason=message,
            expected_status="False",
            expected_reason="UnsupportedValue",
            expected_message=message,
        )
    if policy.action not in (Action.ALLOW, Action.DENY):
        action = policy.action.value if policy.action else "unknown"
        message = f"ztunnel does not support the {action} action"
        return ZtunnelConversion(
            supported=False,
            unsupported_reason=message,
            expected_status="False",
            expected_reason="UnsupportedValue",
            expected_message=message,
        )
    rules: list[ZtunnelRule] = []
    found: set[str] = set()
    for rule in policy.rules:
        http = ztunnel_http_attributes(rule) if not rule.skipped else []
        ignored = sorted(
            {
                name
                for s in rule.sources or ()
                for name, _ in s.fields()
                if name in ("trustDomains", "notTrustDomains")
            }
        )
        found.update(http)
        if rule.skipped:
            fate = RuleFate.DROPPED if policy.action is Action.ALLOW else RuleFate.VOID
        elif policy.action is Action.ALLOW:
            fate = RuleFate.DROPPED if http else RuleFate.KEPT
        elif not _ztunnel_rule_is_effective(rule):
            fate = RuleFate.VOID
        else:
            fate = RuleFate.STRIPPED if http else RuleFate.KEPT
        rules.append(ZtunnelRule(rule.index, fate, tuple(http), tuple(ignored)))
    if not found:
        return ZtunnelConversion(supported=True, rules=tuple(rules))
    if policy.action is Action.DENY and not any(r.fate in (RuleFate.KEPT, RuleFate.STRIPPED) for r in rules):
        boilerplate = _DENY_NO_EFFECT_BOILERPLATE
    elif policy.action is Action.DENY:
        boilerplate = _DENY_MIXED_BOILERPLATE
    else:
        boilerplate = _ALLOW_BOILERPLATE
    return ZtunnelConversion(
        supported=True,
        rules=tuple(rules),
        http_attributes=tuple(sorted(found)),
        expected_status="True",
        expected_reason="UnsupportedValue",
        expected_message=_HTTP_RULE_FMT.format(found=", ".join(sorted(found)), boilerplate=boilerplate),
    )


# ---------------------------------------------------------------------------------------------


def _selects(selector: tuple[tuple[str, str], ...], labels: tuple[tuple[str, str], ...]) -> bool:
    return set(selector) <= set(labels)


def _selector_decision(policy: AuthorizationPolicy, target: ServiceTarget) -> tuple[bool, str]:
    selector = policy.selector or ()
    shown = ", ".join(f"{k}={v}" for k, v in selector) or "(no labels: every workload)"
    if target.workload_labels is not None:
        if not target.workload_labels:
            return False, f"its selector ({shown}) has no pod of the Service to select (no pods known)"
        chosen = sum(1 for labels in target.workload_labels if _selects(selector, labels))
        if chosen == 0:
            return False, f"its selector ({shown}) matches none of the Service's pods"
        total = len(target.workload_labels)
        which = "all" if chosen == total else f"{chosen} of {total}"
        return True, f"its selector ({shown}) matches {which} of the Service's pods"
    if target.service_selector is not None and _selects(selector, target.service_selector):
        return (
            True,
            f"its selector ({shown}) is contained in the Service's selector, so it selects the Service's pods",
        )
    return False, f"its selector ({shown}) is not contained in the Service's selector (pod labels unknown)"


def _ref_decision(
    ref: TargetRef, policy: AuthorizationPolicy, target: ServiceTarget
) -> tuple[Scope | None, str]:
    """(scope if this targetRef attaches the policy to the Service's waypoint, reason)."""
    waypoint = target.waypoint
    kind, group = ref.kind, ref.canonical_group
    if not target.supports_kind(kind):
        major, minor = TARGET_KIND_SINCE[kind]
        return None, f"a {kind} targetRef needs Istio {major}.{minor}+; this control plane ignores it"
    if kind == "Service" and group == "core":
        if target.kind != "Service" or ref.name != target.name:
            return None, f"targets Service {ref.name!r}, not {target.kind} {target.name!r}"
        if policy.namespace != target.namespace:
            return None, (
                f"targets Service {ref.name!r} from namespace {policy.namespace!r}; a Service targetRef only "
                f"applies to the Service of the policy's own namespace ({target.namespace!r})"
            )
        if waypoint is None:
            return (
                None,
                f"targets Service {target.key}, which is not bound to a waypoint (ztunnel ignores targetRef policies)",
            )
        return (
            Scope.TARGET_SERVICE,
            f"targetRef Service {target.key} and the Service is bound to waypoint {waypoint.key}",
        )
    if kind == "Service":
        return None, (
            f'targetRef kind Service with group {ref.group!r}: only group "" (core) attaches; the waypoint ignores it '
            "even if WaypointAccepted says True"
        )
    if kind == "ServiceEntry" and group == SERVICE_ENTRY_GROUP:
        if target.kind != "ServiceEntry" or ref.name != target.name:
            return None, f"targets ServiceEntry {ref.name!r}, not {target.kind} {target.name!r}"
        if policy.namespace != target.namespace:
            return None, f"targets ServiceEntry {ref.name!r} from another namespace ({policy.namespace!r})"
        if waypoint is None:
            return None, f"targets ServiceEntry {target.key}, which is not bound to a waypoint"
        return (
            Scope.TARGET_SERVICE_ENTRY,
            f"targetRef ServiceEntry {target.key} bound to waypoint {waypoint.key}",
        )
    if kind == "GatewayClass" and group == GATEWAY_GROUP:
        if ref.name != WAYPOINT_GATEWAY_CLASS:
            return (
                None,
                f"targets GatewayClass {ref.name!r}; only {WAYPOINT_GATEWAY_CLASS!r} applies to waypoints",
            )
        if policy.namespace != target.root_namespace:
            return None, (
                f"targets GatewayClass {WAYPOINT_GATEWAY_CLASS} but lives in {policy.namespace!r}; it must be in the "
                f"root namespace {target.root_namespace!r}"
            )
        if waypoint is None:
            return (
                None,
                "targets every waypoint (GatewayClass istio-waypoint), but the Service has no waypoint",
            )
        return (
            Scope.TARGET_GATEWAY_CLASS,
            f"targetRef GatewayClass {WAYPOINT_GATEWAY_CLASS} from the root namespace: all waypoints",
        )
    if kind == "Gateway" and group == GATEWAY_GROUP:
        if waypoint is None:
            return None, f"targets Gateway {ref.name!r}, but the Service is not bound to a waypoint"
        if ref.name != waypoint.name:
            return None, f"targets Gateway {ref.name!r}, not the Service's waypoint {waypoint.key}"
        if policy.namespace != waypoint.namespace:
            return None, (
                f"targets Gateway {ref.name!r} from namespace {policy.namespace!r}; a Gateway targetRef must live in "
                f"the waypoint's namespace ({waypoint.namespace!r})"
            )
        if ref.namespace not in (None, "", waypoint.namespace):
            return (
                None,
                f"targetRef namespace {ref.namespace!r} differs from the waypoint's; it never matches",
            )
        return Scope.TARGET_GATEWAY, f"targetRef Gateway {waypoint.key}: all traffic through the waypoint"
    if kind == "Gateway":
        return None, f"targetRef kind Gateway needs group {GATEWAY_GROUP!r}, not {ref.group!r}"
    return None, f"targetRef {ref.group or 'core'}/{kind} is not a kind a waypoint policy can target"


_SHAPE_FIELDS = frozenset({"spec", "spec.targetRefs", "spec.targetRef", "spec.selector", "spec.rules"})


def attach_policy(
    policy: AuthorizationPolicy, target: ServiceTarget, *, dry_run_supported: bool = False
) -> Attachment:
    """Decide where (if anywhere) ``policy`` is enforced for traffic to ``target``."""
    undecodable = next(
        (p for p in policy.problems if p.code == "wrong-type" and p.location in _SHAPE_FIELDS), None
    )
    if undecodable is not None:
        # The API server's schema refuses such an object, and istiod could not decode it into
        # the AuthorizationPolicy type: it is enforced nowhere. Above all, a malformed
        # `targetRefs` must not turn the policy into a namespace-wide one.
        return Attachment(
            policy=policy,
            enforced_by=None,
            reason=f"not enforced: {undecodable.location} is malformed ({undecodable.message}); istiod cannot decode it",
            malformed=True,
        )
    if policy.target_refs:
        unattached: list[tuple[TargetRef, str]] = []
        for ref in policy.target_refs:
            scope, reason = _ref_decision(ref, policy, target)
            if scope is not None:
                others = [r for r in policy.target_refs if r is not ref]
                for other in others:
                    other_scope, other_reason = _ref_decision(other, policy, target)
                    if other_scope is None:
                        unattached.append((other, other_reason))
                return Attachment(
                    policy=policy,
                    enforced_by=Enforcer.WAYPOINT,
                    reason=f"enforced by the waypoint: {reason}",
                    scope=scope,
                    via=ref,
                    unattached_refs=tuple(unattached),
                )
            unattached.append((ref, reason))
        reasons = "; ".join(reason for _, reason in unattached)
        return Attachment(
            policy=policy,
            enforced_by=None,
            reason=f"not enforced for {target.key}: {reasons}. ztunnel ignores policies with targetRefs",
            unattached_refs=tuple(unattached),
        )

    # selector or namespace-wide: destination ztunnel only.
    if policy.namespace not in (target.namespace, target.root_namespace):
        return Attachment(
            policy=policy,
            enforced_by=None,
            reason=f"lives in namespace {policy.namespace!r}: it applies neither to {target.namespace!r} nor mesh-wide",
        )
    conversion = convert_for_ztunnel(policy, dry_run_supported=dry_run_supported)
    waypoint_note = " (waypoints ignore selector and namespace-wide policies)"
    if policy.selector is not None:
        selected, reason = _selector_decision(policy, target)
        where = (
            ""
            if policy.namespace == target.namespace
            else " from the root namespace, which selects in every namespace"
        )
        if not selected:
            return Attachment(
                policy=policy, enforced_by=None, reason=f"not enforced: {reason}{where}", scope=Scope.SELECTOR
            )
        scope, text = Scope.SELECTOR, f"{reason}{where}"
    elif policy.namespace == target.root_namespace:
        scope, text = (
            Scope.GLOBAL,
            f"no selector and no targetRef in the root namespace {target.root_namespace!r}: mesh-wide",
        )
    else:
        scope, text = (
            Scope.NAMESPACE,
            f"no selector and no targetRef: every workload of namespace {policy.namespace!r}",
        )
    if not conversion.supported:
        return Attachment(
            policy=policy,
            enforced_by=None,
            reason=f"not enforced: {text}, but {conversion.unsupported_reason}",
            scope=scope,
            ztunnel=conversion,
        )
    return Attachment(
        policy=policy,
        enforced_by=Enforcer.ZTUNNEL,
        reason=f"enforced by the destination ztunnel, L4 only: {text}{waypoint_note}",
        scope=scope,
        ztunnel=conversion,
    )


def attach_policies(
    policies: Iterable[AuthorizationPolicy], target: ServiceTarget, *, dry_run_supported: bool = False
) -> tuple[Attachment, ...]:
    ordered = sorted(policies, key=lambda p: (p.namespace, p.name))
    return tuple(attach_policy(p, target, dry_run_supported=dry_run_supported) for p in ordered)


def enforced_at(attachments: Iterable[Attachment], enforcer: Enforcer) -> tuple[AuthorizationPolicy, ...]:
    return tuple(a.policy for a in attachments if a.enforced_by is enforcer)
