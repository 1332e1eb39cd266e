"""Which AuthorizationPolicy attributes are L4 and which need HTTP (reference 5.2, 5.3, 5.6).

Two different questions, with two different answers:
- ztunnel (istiod's ambient conversion, ambient/authorization.go) keeps only the L4 fields and
  flags the rest as HTTP attributes; ``trustDomains`` is neither converted nor flagged (HEAD).
- a waypoint (Envoy RBAC) serving a TCP port cannot evaluate the HTTP-only attributes; note that
  ``remoteIpBlocks`` and ``connection.sni`` still work there, unlike at ztunnel.
"""

from __future__ import annotations

from waypoint_doctor.authz.model import Condition, Operation, Rule, Source

# Source fields ztunnel converts (principals … serviceAccounts, 1.25+).
ZTUNNEL_SOURCE_FIELDS = frozenset(
    {
        "principals",
        "notPrincipals",
        "namespaces",
        "notNamespaces",
        "ipBlocks",
        "notIpBlocks",
        "serviceAccounts",
        "notServiceAccounts",
    }
)
# Source fields istiod flags as HTTP attributes for ztunnel (httpSources).
ZTUNNEL_HTTP_SOURCE_FIELDS = frozenset(
    {"remoteIpBlocks", "notRemoteIpBlocks", "requestPrincipals", "notRequestPrincipals"}
)
# Neither converted nor flagged in istio HEAD: silently ignored at ztunnel.
ZTUNNEL_IGNORED_SOURCE_FIELDS = frozenset({"trustDomains", "notTrustDomains"})

ZTUNNEL_OPERATION_FIELDS = frozenset({"ports", "notPorts"})
ZTUNNEL_HTTP_OPERATION_FIELDS = frozenset({"hosts", "notHosts", "methods", "notMethods", "paths", "notPaths"})

# `when` keys ztunnel understands (l4WhenAttributes); every other key is an HTTP attribute there.
ZTUNNEL_WHEN_KEYS = frozenset(
    {"source.ip", "source.namespace", "source.principal", "destination.ip", "destination.port"}
)

# Attributes Envoy cannot evaluate on a TCP filter chain ("… is HTTP only").
ENVOY_HTTP_ONLY_SOURCE_FIELDS = frozenset({"requestPrincipals", "notRequestPrincipals"})
ENVOY_HTTP_ONLY_OPERATION_FIELDS = ZTUNNEL_HTTP_OPERATION_FIELDS
ENVOY_HTTP_ONLY_WHEN_PREFIXES = ("request.headers", "request.auth.")

# Every `when` key istiod's authz model can build (anything else: the rule is skipped).
KNOWN_WHEN_KEYS = frozenset(
    {
        "source.ip",
        "remote.ip",
        "source.namespace",
        "source.serviceAccount",
        "source.trustDomain",
        "source.principal",
        "request.auth.principal",
        "request.auth.audiences",
        "request.auth.presenter",
        "destination.ip",
        "destination.port",
        "connection.sni",
    }
)
KNOWN_WHEN_KEY_PREFIXES = ("request.headers[", "request.auth.claims[", "experimental.envoy.filters.")


def is_known_when_key(key: str) -> bool:
    return key in KNOWN_WHEN_KEYS or key.startswith(KNOWN_WHEN_KEY_PREFIXES)


def is_ztunnel_when_key(key: str) -> bool:
    return key in ZTUNNEL_WHEN_KEYS


def is_envoy_http_only_when_key(key: str) -> bool:
    return key.startswith(ENVOY_HTTP_ONLY_WHEN_PREFIXES)


def source_http_fields(source: Source) -> list[str]:
    return [name for name, _ in source.fields() if name in ZTUNNEL_HTTP_SOURCE_FIELDS]


def operation_http_fields(operation: Operation) -> list[str]:
    return [name for name, _ in operation.fields() if name in ZTUNNEL_HTTP_OPERATION_FIELDS]


def condition_is_http(condition: Condition) -> bool:
    return not is_ztunnel_when_key(condition.key)


def ztunnel_http_attributes(rule: Rule) -> list[str]:
    """The HTTP attributes istiod reports for this rule in ZtunnelAccepted (sorted, unique)."""
    found: set[str] = set()
    for operation in rule.operations or ():
        found.update(operation_http_fields(operation))
    for source in rule.sources or ():
        found.update(source_http_fields(source))
    for condition in rule.conditions:
        if condition_is_http(condition):
            found.add(condition.key)
    return sorted(found)


def source_l4_fields(source: Source) -> list[tuple[str, tuple[str, ...]]]:
    return [(name, values) for name, values in source.fields() if name in ZTUNNEL_SOURCE_FIELDS]


def operation_l4_fields(operation: Operation) -> list[tuple[str, tuple[str, ...]]]:
    return [(name, values) for name, values in operation.fields() if name in ZTUNNEL_OPERATION_FIELDS]


def rule_uses_http(rule: Rule) -> bool:
    return bool(ztunnel_http_attributes(rule))
