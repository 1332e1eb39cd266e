"""The mesh's ext-authz providers, as istiod resolves them for CUSTOM policies.

istiod reads ``extensionProviders`` from the mesh config (pilot/pkg/security/authz/builder/
extauthz.go, ``processExtensionProvider``): only ``envoyExtAuthzHttp`` and ``envoyExtAuthzGrpc``
entries become authorizers; each is validated (pkg/config/validation/agent/extensionprovider.go)
and its ``service`` looked up in the service registry (``model.LookupCluster``). A provider with
any error, a name that is empty or not unique, or a name the mesh does not define, makes istiod
build DENY rules out of the CUSTOM policies naming it (``getExtAuthz`` fails, the builder logs
"will generate deny configs" and calls ``getBadCustomDenyRules``): what the policy matches is
denied. The same happens to every CUSTOM policy of a workload when two providers meet on it
(``notAllTheSame`` up to 1.29; from 1.30 unless istiod runs with
``PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS=true``).

On a TCP filter chain an HTTP provider has no network filter: istiod skips the CUSTOM policy
there ("ignored CUSTOM action with HTTP provider on TCP filter chain"). Only a valid provider
hands the request to an external authorizer, whose answer cannot be known from configuration.

This module is pure: ``parse_extension_providers`` reads the mesh config's shape; whether a
provider's Service exists is asked through a lookup function the caller builds from the view.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

ProviderKind = Literal["http", "grpc"]
Lookup = Literal["found", "missing", "ambiguous", "unknown"]

_KINDS: dict[str, ProviderKind] = {"envoyExtAuthzHttp": "http", "envoyExtAuthzGrpc": "grpc"}
# The other provider types of MeshConfig.ExtensionProvider: valid entries, but not authorizers.
_OTHER_KINDS = (
    "zipkin",
    "lightstep",
    "datadog",
    "stackdriver",
    "opencensus",
    "skywalking",
    "opentelemetry",
    "prometheus",
    "envoyFileAccessLog",
    "envoyHttpAls",
    "envoyTcpAls",
    "envoyOtelAls",
    "sds",
)
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# envoy.type.v3.StatusCode: the codes istiod accepts for statusOnError
_STATUS_CODES = frozenset(
    {100, *range(200, 209), 226, *range(300, 309), *range(400, 419), *range(421, 427), 428, 429, 431}
    | {*range(500, 509), 510, 511}
)


@dataclass(frozen=True)
class ExtAuthzProvider:
    name: str
    kind: ProviderKind | None  # None: an extension provider that is not an authorizer
    service: str = ""
    port: int | None = None
    problems: tuple[str, ...] = ()  # what makes istiod refuse it (then CUSTOM policies deny)
    service_lookup: Lookup = "unknown"

    @property
    def problem(self) -> str | None:
        if self.kind is None:
            return f"extension provider {self.name!r} is not an ext-authz provider"
        if self.problems:
            return "; ".join(self.problems)
        if self.service_lookup == "missing":
            return f"its service {self.service!r} is not in the service registry"
        if self.service_lookup == "ambiguous":
            return f"its service {self.service!r} exists in several namespaces: write <namespace>/<hostname>"
        return None


@dataclass(frozen=True)
class ExtAuthz:
    """The ext-authz providers a run knows, and istiod's multi-provider switch."""

    providers: Mapping[str, ExtAuthzProvider] = field(default_factory=dict)
    multiple_providers: bool = False  # PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS (1.30+)
    source: str | None = None  # where the mesh config came from; None: not read

    def provider_problem(self, name: str | None) -> str | None:
        """Why istiod turns a CUSTOM policy naming ``name`` into a DENY, or None."""
        if not name:
            return "the policy names no provider"
        provider = self.providers.get(name)
        if provider is None:
            known = ", ".join(sorted(p for p, v in self.providers.items() if v.kind)) or "none"
            return f"the mesh defines no ext-authz provider {name!r} (defined: {known})"
        return provider.problem

    @classmethod
    def trusting(cls, names: Iterable[str]) -> ExtAuthz:
        """Providers known by name only, each assumed valid (HTTP): for callers without a mesh config."""
        return cls({n: ExtAuthzProvider(n, "http", service_lookup="found") for n in names})


def parse_extension_providers(mesh: Mapping[str, Any] | None) -> dict[str, ExtAuthzProvider]:
    """``extensionProviders`` as processExtensionProvider resolves them (a later duplicate wins, in error)."""
    raw = mesh.get("extensionProviders") if isinstance(mesh, Mapping) else None
    resolved: dict[str, ExtAuthzProvider] = {}
    others: dict[str, ExtAuthzProvider] = {}  # tracing, logging…: not authorizers
    for index, entry in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(entry, Mapping):
            continue
        name = entry.get("name")
        name = name if isinstance(name, str) else ""
        kind_key = next((k for k in _KINDS if k in entry), None)
        if kind_key is None:
            if any(k in entry for k in _OTHER_KINDS):
                others.setdefault(name, ExtAuthzProvider(name, None))
            continue
        problems: list[str] = []
        if not name:
            problems.append(f"extension provider name must not be empty, found empty at index: {index}")
        elif name in resolved:
            problems.append(f"extension provider name must be unique, found duplicate: {name}")
        config = entry.get(kind_key)
        config = config if isinstance(config, Mapping) else {}
        service = config.get("service")
        service = service if isinstance(service, str) else ""
        port = config.get("port")
        port = port if isinstance(port, int) and not isinstance(port, bool) else None
        problems.extend(_validate(kind_key, config, service, port))
        resolved[name] = ExtAuthzProvider(name, _KINDS[kind_key], service, port, tuple(problems))
    return {**{n: p for n, p in others.items() if n not in resolved}, **resolved}


def _validate(kind_key: str, config: Mapping[str, Any], service: str, port: int | None) -> list[str]:
    problems = []
    if port is None or not 1 <= port <= 65535:
        problems.append(f"port must be in the range [1, 65535], found: {config.get('port')}")
    service_problem = _service_problem(service)
    if service_problem:
        problems.append(service_problem)
    status = config.get("statusOnError")
    if status not in (None, ""):
        text = str(status)
        if not text.lstrip("-").isdigit() or int(text) not in _STATUS_CODES:
            problems.append(f"unsupported statusOnError {text}")
    if kind_key == "envoyExtAuthzHttp":
        prefix = config.get("pathPrefix")
        if isinstance(prefix, str) and prefix and not prefix.startswith("/"):
            problems.append(f"pathPrefix must begin with `/`, found: {prefix!r}")
        for key in (
            "includeRequestHeadersInCheck",
            "includeHeadersInCheck",
            "headersToDownstreamOnDeny",
            "headersToDownstreamOnAllow",
            "headersToUpstreamOnAllow",
        ):
            values = config.get(key)
            if isinstance(values, list) and "*" in values:
                problems.append(f'a single wildcard ("*") is not supported in {key}')
    return problems


def _service_problem(service: str) -> str | None:
    """validateExtensionProviderService: an FQDN or IP, or ``<namespace>/<hostname>``."""
    if not service:
        return "service must not be empty"
    namespace, slash, host = service.partition("/")
    if slash:
        if not namespace or not host:
            return f"invalid service {service!r}: namespace and hostname must not be empty"
        if namespace not in ("*", ".") and not _DNS1123_LABEL.match(namespace.lstrip("~")):
            return f"invalid namespace {namespace!r} in service {service!r}"
        return None
    labels = service.split(".")
    bad_name = len(service) > 255 or not all(_DNS1123_LABEL.match(label) for label in labels if label)
    if bad_name and not _is_ip(service):
        return f"invalid service {service!r}: not a DNS name or an IP"
    return None


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def with_service_lookup(
    providers: Mapping[str, ExtAuthzProvider], lookup: Callable[[str, str | None], Lookup]
) -> dict[str, ExtAuthzProvider]:
    """Resolve each provider's ``[<namespace>/]<hostname>`` with ``lookup(hostname, namespace)``."""
    out = {}
    for name, provider in providers.items():
        if provider.kind is None or not provider.service or provider.problems:
            out[name] = provider
            continue
        namespace, slash, host = provider.service.partition("/")
        out[name] = replace(
            provider, service_lookup=lookup(host, namespace) if slash else lookup(provider.service, None)
        )
    return out
