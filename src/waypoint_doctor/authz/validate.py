"""Semantic problems of a parsed policy: what istiod's webhook refuses, and what it lets through
that will not do what it seems to say.

Codes are stable identifiers (checks and tests key on them); severities say whether Istio would
refuse the object (``error``) or accept it (``warning``). The webhook rules follow
pkg/config/validation (ValidateAuthorizationPolicy, validatePolicyTargetReference) and
pkg/config/security (CheckValidPathTemplate, CheckServiceAccount, ValidateAttribute).
"""

from __future__ import annotations

import re
from typing import Protocol

from waypoint_doctor.authz.attributes import (
    ZTUNNEL_OPERATION_FIELDS,
    is_known_when_key,
)
from waypoint_doctor.authz.match import (
    HTTP_METHODS,
    SPIFFE_PREFIX,
    parse_ip_block,
    parse_port,
    path_template_problems,
    wildcard_problem,
)
from waypoint_doctor.authz.model import (
    Action,
    AuthorizationPolicy,
    Operation,
    Problem,
    Rule,
    Severity,
    Source,
)

# kind -> canonical group, as validation.go allowedTargetRefs.
ALLOWED_TARGET_REFS: dict[str, str] = {
    "Service": "core",
    "ServiceEntry": "networking.istio.io",
    "Gateway": "gateway.networking.k8s.io",
    "GatewayClass": "gateway.networking.k8s.io",
}


class _Add(Protocol):
    def __call__(self, code: str, location: str, message: str, severity: Severity = ...) -> None: ...


_PRINCIPAL_SHAPE = re.compile(r"^[^/]+/ns/[^/]+/sa/[^/]+$")
_SOURCE_WITH_TCP_MEANING = (
    "principals",
    "notPrincipals",
    "ipBlocks",
    "notIpBlocks",
    "namespaces",
    "notNamespaces",
    "remoteIpBlocks",
    "notRemoteIpBlocks",
    "serviceAccounts",
    "notServiceAccounts",
)


def validate_policy(policy: AuthorizationPolicy, *, selector_and_target: int = 0) -> list[Problem]:
    problems: list[Problem] = []

    def add(code: str, location: str, message: str, severity: Severity = Severity.ERROR) -> None:
        problems.append(Problem(code, location, message, severity))

    if selector_and_target > 1:
        add(
            "selector-and-target-ref",
            "spec",
            "only one of selector, targetRef and targetRefs may be set (the webhook refuses the policy)",
        )
    if policy.selector is not None:
        if not policy.selector:
            add(
                "selector-without-labels",
                "spec.selector",
                "the selector has no labels: it selects every workload of the namespace",
                Severity.WARNING,
            )
        for key, value in policy.selector:
            if not key:
                add("selector-empty-key", "spec.selector.matchLabels", "empty label key in the selector")
            if "*" in key or "*" in value:
                add(
                    "selector-wildcard",
                    f"spec.selector.matchLabels.{key}",
                    "wildcards are not supported in selectors",
                )
    if len(policy.target_refs) > 16:
        add("too-many-target-refs", "spec.targetRefs", "at most 16 targetRefs are allowed")
    for ref in policy.target_refs:
        if not ref.name:
            add("target-ref-missing-name", ref.location, "targetRef name must be set")
        if ref.namespace:
            add(
                "target-ref-namespace-set",
                f"{ref.location}.namespace",
                "targetRef namespace must not be set; cross namespace referencing is not supported",
            )
        if ALLOWED_TARGET_REFS.get(ref.kind) != ref.canonical_group:
            shown_group = ref.group or '""'
            add(
                "target-ref-kind-not-allowed",
                ref.location,
                f'targetRef must be Service (group ""), ServiceEntry (networking.istio.io), Gateway or '
                f"GatewayClass (gateway.networking.k8s.io), but was {shown_group}/{ref.kind}",
            )

    if policy.action is Action.CUSTOM:
        if not policy.rules_present:
            add(
                "custom-without-rules",
                "spec.rules",
                "CUSTOM action without `rules` is never triggered; add an empty rule `{}` to trigger it for every request",
            )
        elif not policy.provider:
            add(
                "custom-without-provider",
                "spec.provider.name",
                "`provider.name` must be set for a CUSTOM action",
            )
    elif policy.provider:
        add("provider-without-custom", "spec.provider", "`provider` may only be used with the CUSTOM action")
    if policy.action is Action.DENY and not policy.rules_present:
        add(
            "deny-without-rules",
            "spec.rules",
            "DENY action without `rules` is never triggered; use `rules: [{}]` to deny every request",
        )
    if len(policy.rules) > 512:
        add("too-many-rules", "spec.rules", "at most 512 rules are allowed")

    for rule in policy.rules:
        _validate_rule(policy, rule, add)
    return problems


def _validate_rule(policy: AuthorizationPolicy, rule: Rule, add: _Add) -> None:
    if rule.skipped:
        return
    for source in rule.sources or ():
        _validate_source(policy, source, add)
    for operation in rule.operations or ():
        _validate_operation(operation, add)
    for condition in rule.conditions:
        location = condition.location
        if not condition.key:
            add("when-missing-key", f"{location}.key", "`key` must not be empty")
            continue
        if not condition.values and not condition.not_values:
            add(
                "when-without-values",
                location,
                f"at least one of `values` or `notValues` must be set for {condition.key}",
            )
        if not is_known_when_key(condition.key):
            add(
                "when-unknown-key",
                f"{location}.key",
                f"{condition.key!r} is not an attribute istiod knows; the proxy skips this rule",
            )
            continue
        for field_name, values in (("values", condition.values), ("notValues", condition.not_values)):
            for index, value in enumerate(values):
                message = _condition_value_problem(condition.key, value)
                if message:
                    add("when-invalid-value", f"{location}.{field_name}[{index}]", message)
        if policy.action is Action.CUSTOM and (
            condition.key
            in ("source.namespace", "source.serviceAccount", "source.trustDomain", "source.principal")
            or condition.key.startswith("request.auth.")
        ):
            add(
                "custom-unsupported-field",
                f"{location}.key",
                f"{condition.key} is not supported with the CUSTOM action",
            )

    if policy.action is Action.DENY and _deny_rule_is_http_only(rule):
        add(
            "deny-http-only",
            rule.location,
            "this DENY rule uses only HTTP attributes: on a TCP port it denies all traffic; "
            "at ztunnel it has no effect. Scope it with `ports`",
            Severity.WARNING,
        )


def _deny_rule_is_http_only(rule: Rule) -> bool:
    """The webhook's warning: only HTTP attributes in a DENY rule (no port, no TCP source)."""
    from_exists = bool(rule.sources)
    to_exists = bool(rule.operations)
    tcp_in_from = any(
        any(name in _SOURCE_WITH_TCP_MEANING for name, _ in source.fields()) for source in rule.sources or ()
    )
    tcp_in_to = any(
        any(name in ZTUNNEL_OPERATION_FIELDS for name, _ in operation.fields())
        for operation in rule.operations or ()
    )
    return (from_exists and not to_exists and not tcp_in_from) or (to_exists and not tcp_in_to)


def _validate_source(policy: AuthorizationPolicy, source: Source, add: _Add) -> None:
    location = source.location
    if source.is_empty:
        add("empty-source", location, "`from.source` must not be empty")
        return
    fields = dict(source.fields())
    if ({"principals", "notPrincipals", "namespaces", "notNamespaces"} & fields.keys()) and (
        {"serviceAccounts", "notServiceAccounts"} & fields.keys()
    ):
        add(
            "service-accounts-with-principals",
            location,
            "cannot set serviceAccounts with namespaces or principals",
        )
    if policy.action is Action.CUSTOM:
        for name in fields:
            if name not in ("ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"):
                add(
                    "custom-unsupported-field",
                    f"{location}.{name}",
                    f"From.{name} is not supported with the CUSTOM action",
                )
    for name, values in fields.items():
        for index, value in enumerate(values):
            value_location = f"{location}.{name}[{index}]"
            if value == "":
                add("empty-value", value_location, f"empty value in {name}")
                continue
            if name in ("ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"):
                if parse_ip_block(value) is None:
                    add("invalid-ip", value_location, f"{value!r} is not an IP address or CIDR range")
            elif name in ("serviceAccounts", "notServiceAccounts"):
                message = _service_account_problem(value)
                if message:
                    code = "service-account-wildcard" if "*" in value else "service-account-format"
                    add(code, value_location, message)
            elif name in ("trustDomains", "notTrustDomains"):
                message = wildcard_problem(value)
                if message or "/" in value:
                    add(
                        "trust-domain-format",
                        value_location,
                        message or f"trust domain {value!r} must not contain '/'",
                    )
            elif name in ("principals", "notPrincipals"):
                _lint_principal(value, value_location, add)
            elif name in ("namespaces", "notNamespaces"):
                message = wildcard_problem(value)
                if message:
                    add("wildcard-position", value_location, message, Severity.WARNING)
        if name in ("serviceAccounts", "notServiceAccounts") and len(values) > 16:
            add("too-many-service-accounts", f"{location}.{name}", f"{name} may not have more than 16 values")


def _lint_principal(value: str, location: str, add: _Add) -> None:
    if value.startswith(SPIFFE_PREFIX):
        add(
            "principal-spiffe-prefix",
            location,
            f"{value!r} starts with spiffe://: the waypoint compiles it to spiffe://spiffe://… and it never "
            f"matches; write {value[len(SPIFFE_PREFIX) :]!r}",
            Severity.WARNING,
        )
        return
    message = wildcard_problem(value)
    if message:
        add("wildcard-position", location, message, Severity.WARNING)
        return
    if "*" in value:
        return
    if not _PRINCIPAL_SHAPE.match(value):
        add(
            "principal-format",
            location,
            f"{value!r} is not of the form <trust-domain>/ns/<namespace>/sa/<service-account>",
            Severity.WARNING,
        )


def _service_account_problem(value: str) -> str | None:
    if "*" in value:
        return f"wildcards are not allowed in serviceAccounts: {value!r}"
    if value.count("/") > 1:
        return f"expected 'serviceAccount' or 'namespace/serviceAccount', found {value!r}"
    namespace, slash, name = value.partition("/")
    if slash and (not namespace or not name):
        return f"expected 'serviceAccount' or 'namespace/serviceAccount', found {value!r}"
    if len(value) > 320:
        return "a service account value cannot exceed 320 characters"
    return None


def _validate_operation(operation: Operation, add: _Add) -> None:
    location = operation.location
    if operation.is_empty:
        add("empty-operation", location, "`to.operation` must not be empty")
        return
    for name, values in operation.fields():
        for index, value in enumerate(values):
            value_location = f"{location}.{name}[{index}]"
            if value == "":
                add("empty-value", value_location, f"empty value in {name}")
                continue
            if name in ("ports", "notPorts"):
                if parse_port(value) is None:
                    add("invalid-port", value_location, f"{value!r} is not a port number (0-65535)")
            elif name in ("paths", "notPaths"):
                for message in path_template_problems(value):
                    add("path-template-invalid", value_location, message)
                if value != "*" and not value.startswith(("/", "*")):
                    add(
                        "path-not-absolute",
                        value_location,
                        f"path {value!r} does not start with '/': request paths always do, so it never matches",
                        Severity.WARNING,
                    )
                if "{" not in value:
                    message = wildcard_problem(value)
                    if message:
                        add("wildcard-position", value_location, message, Severity.WARNING)
            elif name in ("methods", "notMethods"):
                _lint_method(value, value_location, add)
            elif name in ("hosts", "notHosts"):
                message = wildcard_problem(value)
                if message:
                    add("wildcard-position", value_location, message, Severity.WARNING)


def _lint_method(value: str, location: str, add: _Add) -> None:
    if "*" in value:
        message = wildcard_problem(value)
        if message:
            add("wildcard-position", location, message, Severity.WARNING)
        return
    if value.upper() in HTTP_METHODS and value != value.upper():
        add(
            "method-not-uppercase",
            location,
            f"method {value!r} is matched case-sensitively and requests use {value.upper()!r}: it never matches",
            Severity.WARNING,
        )
    elif value not in HTTP_METHODS:
        add(
            "method-unknown",
            location,
            f"{value!r} is not a standard HTTP method ({', '.join(sorted(HTTP_METHODS))})",
            Severity.WARNING,
        )


def _condition_value_problem(key: str, value: str) -> str | None:
    if value == "":
        return f"empty value not allowed for {key}"
    if key in ("source.ip", "remote.ip", "destination.ip") and parse_ip_block(value) is None:
        return f"{value!r} is not an IP address or CIDR range"
    if key == "destination.port" and parse_port(value) is None:
        return f"{value!r} is not a port number"
    if key == "source.serviceAccount":
        return _service_account_problem(value)
    if key == "source.trustDomain":
        return wildcard_problem(value)
    if (key.startswith("request.headers") or key.startswith("request.auth.claims")) and not re.match(
        r"^[^\[]+\[.+\]$", key
    ):
        return f"bad key {key!r}: should have the form a[b]"
    return None
