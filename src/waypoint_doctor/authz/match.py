"""Value matchers with Istio's semantics, per enforcer.

Every function here is pure and total: it never raises on any string, and a value Istio would
refuse (a bad CIDR, a non-numeric port, an invalid path template) simply does not match.

Where the waypoint (Envoy, built by istiod's authz builder) and ztunnel differ, there is one
function per enforcer (reference sections 5.3 and 5.6):
- waypoint principals are compiled as ``spiffe://`` + value, after ``cluster.local`` and
  trust-domain aliases are rewritten to the mesh trust domain;
- ztunnel strips ``spiffe://`` from the peer identity and compares the policy value literally.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

SPIFFE_PREFIX = "spiffe://"
CLUSTER_LOCAL = "cluster.local"

# {*} and {**} turn a path into an Envoy URI template (Istio 1.22+).
MATCH_ONE_TEMPLATE = "{*}"
MATCH_ANY_TEMPLATE = "{**}"

# RFC 3986 pchar as Envoy's URI-template library accepts it in a literal or a glob: note that
# Envoy excludes '=' and '*', while istiod's validation admits '='.
_ENVOY_PCHAR = r"a-zA-Z0-9\-._~%!$&'()+,;:@"
_ENVOY_LITERAL = re.compile(f"^[{_ENVOY_PCHAR}]+$")
_ISTIO_LITERAL = re.compile(r"^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$")
_PATH_GLOB = f"[{_ENVOY_PCHAR}]+"
_TEXT_GLOB = f"[{_ENVOY_PCHAR}/]*"
_PRINTABLE_PATH = re.compile(r"^/[\x21-\x7e]*$")


class MatchKind(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    PRESENCE = "presence"


@dataclass(frozen=True)
class StringPattern:
    """An Istio string pattern: ``abc`` exact, ``abc*`` prefix, ``*abc`` suffix, ``*`` presence."""

    raw: str
    kind: MatchKind
    literal: str

    def matches(self, value: str | None, *, ignore_case: bool = False) -> bool:
        if value is None:
            return False
        literal, candidate = self.literal, value
        if ignore_case:
            literal, candidate = literal.lower(), candidate.lower()
        if self.kind is MatchKind.PRESENCE:
            return candidate != ""
        if self.kind is MatchKind.PREFIX:
            return candidate.startswith(literal)
        if self.kind is MatchKind.SUFFIX:
            return candidate.endswith(literal)
        return candidate == literal


def parse_string_pattern(raw: str) -> StringPattern:
    """Classify like istiod does: ``*`` first, then a leading ``*``, then a trailing ``*``."""
    if raw == "*":
        return StringPattern(raw, MatchKind.PRESENCE, "")
    if raw.startswith("*"):
        return StringPattern(raw, MatchKind.SUFFIX, raw[1:])
    if raw.endswith("*"):
        return StringPattern(raw, MatchKind.PREFIX, raw[:-1])
    return StringPattern(raw, MatchKind.EXACT, raw)


def match_string(pattern: str, value: str | None, *, ignore_case: bool = False) -> bool:
    return parse_string_pattern(pattern).matches(value, ignore_case=ignore_case)


def wildcard_problem(value: str) -> str | None:
    """A ``*`` anywhere but first or last is compared literally, which is rarely what was meant."""
    count = value.count("*")
    if count > 1 and value != "*":
        return f"{value!r} has more than one '*'; only a leading or trailing '*' is a wildcard"
    if count == 1 and value != "*" and not value.startswith("*") and not value.endswith("*"):
        return f"{value!r} has a '*' in the middle; it is matched literally, not as a wildcard"
    return None


# ---------------------------------------------------------------------------------------------
# paths


def strip_query(path: str) -> str:
    """Envoy's path matchers ignore the query string and the fragment."""
    for separator in ("?", "#"):
        index = path.find(separator)
        if index >= 0:
            path = path[:index]
    return path


def contains_path_template(pattern: str) -> bool:
    return MATCH_ONE_TEMPLATE in pattern or MATCH_ANY_TEMPLATE in pattern


def path_template_problems(pattern: str) -> list[str]:
    """The path-template rules istiod's validating webhook enforces (empty list: valid)."""
    problems: list[str] = []
    is_template = contains_path_template(pattern)
    seen_match_any = False
    for segment in pattern.strip("/").split("/"):
        if segment in (MATCH_ONE_TEMPLATE, MATCH_ANY_TEMPLATE):
            if seen_match_any:
                problems.append(f"{pattern!r}: {{**}} must be the last operator of a path template")
                break
            seen_match_any = segment == MATCH_ANY_TEMPLATE
            continue
        if "{" in segment or "}" in segment:
            problems.append(
                f"{pattern!r}: segment {segment!r} has '{{' or '}}' outside a {{*}} or {{**}} operator "
                "(an operator must be the whole segment)"
            )
            break
        if is_template and not _ISTIO_LITERAL.match(segment):
            problems.append(
                f"{pattern!r}: segment {segment!r} is not a valid literal in a path template "
                "(no '*', no empty segment, only RFC 3986 path characters)"
            )
            break
    return problems


def path_template_regex(pattern: str) -> re.Pattern[str] | None:
    """Translate an Istio path template to the regex Envoy's URI-template matcher uses.

    ``{*}`` becomes one non-empty segment, ``{**}`` zero or more characters including '/'.
    Returns None when Envoy would refuse the template.
    """
    template = pattern.replace(MATCH_ANY_TEMPLATE, "**").replace(MATCH_ONE_TEMPLATE, "*")
    if not _PRINTABLE_PATH.match(template):
        return None
    rest = template[1:]
    parts: list[str] = []
    suffix = ""
    seen_text_glob = False
    while rest:
        if rest.startswith("**"):
            if seen_text_glob:
                return None
            parts.append(_TEXT_GLOB)
            seen_text_glob = True
            rest = rest[2:]
        elif rest.startswith("*"):
            if seen_text_glob:
                return None
            parts.append(_PATH_GLOB)
            rest = rest[1:]
        else:
            literal = rest.split("/", 1)[0]
            if not _ENVOY_LITERAL.match(literal):
                return None
            parts.append(re.escape(literal))
            rest = rest[len(literal) :]
        if not rest:
            break
        if rest == "/":
            parts.append("")  # a single trailing '/' is an empty literal segment
            break
        if rest.startswith("/"):
            rest = rest[1:]
            continue
        literal = rest.split("/", 1)[0]
        if literal != rest or not _ENVOY_LITERAL.match(literal):
            return None
        suffix = re.escape(literal)
        break
    return re.compile("/" + "/".join(parts) + suffix)


def match_path(pattern: str, path: str | None) -> bool:
    """Case-sensitive; query string stripped; no trailing-slash folding; templates per Envoy."""
    if path is None:
        return False
    path = strip_query(path)
    if contains_path_template(pattern):
        regex = path_template_regex(pattern)
        return bool(regex is not None and regex.fullmatch(path))
    return match_string(pattern, path)


# ---------------------------------------------------------------------------------------------
# methods, hosts, ports, IPs

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def match_method(pattern: str, method: str | None) -> bool:
    """``:method`` header matcher: exact, prefix or suffix, case-sensitive; ``*`` is presence."""
    return match_string(pattern, method)


def match_host(pattern: str, host: str | None) -> bool:
    """``:authority`` matcher, case-insensitive."""
    return match_string(pattern, host, ignore_case=True)


def parse_port(value: str) -> int | None:
    """Ports are decimal strings in [0, 65535]; anything else is ignored by istiod."""
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        return None
    port = int(text)
    return port if port <= 65535 else None


def match_port(pattern: str, port: int | None) -> bool:
    expected = parse_port(pattern)
    return expected is not None and port is not None and expected == port


def parse_ip_block(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        if "/" in value:
            return ipaddress.ip_network(value, strict=False)
        address = ipaddress.ip_address(value)
        return ipaddress.ip_network(address)
    except ValueError:
        return None


def match_ip_block(block: str, ip: str | None) -> bool:
    network = parse_ip_block(block)
    if network is None or ip is None:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return address.version == network.version and address in network


# ---------------------------------------------------------------------------------------------
# identities


@dataclass(frozen=True)
class SpiffeIdentity:
    """``<trust-domain>/ns/<namespace>/sa/<service-account>``."""

    trust_domain: str
    namespace: str
    service_account: str

    @property
    def principal(self) -> str:
        """The form AuthorizationPolicy uses: no ``spiffe://``."""
        return f"{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"

    @property
    def uri(self) -> str:
        return SPIFFE_PREFIX + self.principal

    def __str__(self) -> str:
        return self.principal


def parse_identity(value: str | None) -> SpiffeIdentity | None:
    """Parse a peer identity given with or without ``spiffe://``; None if it is not one."""
    if not value:
        return None
    text = value[len(SPIFFE_PREFIX) :] if value.startswith(SPIFFE_PREFIX) else value
    parts = text.split("/")
    if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa" or not all(parts[i] for i in (0, 2, 4)):
        return None
    return SpiffeIdentity(parts[0], parts[2], parts[4])


def peer_uri(principal: str | None) -> str | None:
    """The URI SAN a proxy sees for a peer whose principal is given (None: no mTLS identity)."""
    if not principal:
        return None
    return principal if principal.startswith(SPIFFE_PREFIX) else SPIFFE_PREFIX + principal


def _trust_domain_matches_bundle(trust_domain: str, bundle: Sequence[str]) -> bool:
    for entry in bundle:
        if trust_domain == entry or entry == "*":
            return True
        for a, b in ((trust_domain, entry), (entry, trust_domain)):
            if b.endswith("*") and a.startswith(b[:-1]):
                return True
            if b.startswith("*") and a.endswith(b[1:]):
                return True
    return False


def waypoint_principal_values(value: str, trust_domain: str, aliases: Sequence[str] = ()) -> tuple[str, ...]:
    """What istiod compiles a policy principal into for a waypoint (trustdomain.Bundle).

    A principal of five '/'-parts whose trust domain is ``cluster.local``, the mesh trust domain
    or an alias is expanded to the mesh trust domain and every alias. ``*`` as trust domain, or
    any other shape (``spiffe://…`` included), is kept as written.
    """
    parts = value.split("/")
    if len(parts) != 5 or parts[0] == "*":
        return (value,)
    bundle = [trust_domain, *aliases]
    source_domain = parts[0]
    if not (_trust_domain_matches_bundle(source_domain, bundle) or source_domain == CLUSTER_LOCAL):
        return (value,)
    expanded: list[str] = []
    for domain in bundle:
        if source_domain.startswith("*") and domain.endswith(source_domain[1:]):
            candidate = value
        else:
            candidate = "/".join([domain, *parts[1:]])
        if candidate not in expanded:
            expanded.append(candidate)
    return tuple(expanded)


def match_principal_waypoint(value: str, principal: str | None) -> bool:
    """Envoy: ``StringMatcherWithPrefix(value, "spiffe://")`` against the peer URI.

    ``value`` must already be rewritten with :func:`waypoint_principal_values`.
    """
    uri = peer_uri(principal)
    if uri is None:
        return False
    if value == "*":
        return True  # compiled to the regex '.+'
    if value.startswith("*"):
        return uri.startswith(SPIFFE_PREFIX) and uri.endswith(value[1:])
    if value.endswith("*"):
        return uri.startswith(SPIFFE_PREFIX + value[:-1])
    return uri == SPIFFE_PREFIX + value


def match_principal_ztunnel(value: str, principal: str | None) -> bool:
    """ztunnel: strip ``spiffe://`` from the peer (fail if absent), then compare literally."""
    uri = peer_uri(principal)
    if uri is None:
        return False
    return match_string(value, uri[len(SPIFFE_PREFIX) :])


def match_namespace_waypoint(value: str, principal: str | None) -> bool:
    """Envoy: regex ``.*/ns/<value, each '*' as '.*'>/.*`` on the peer URI."""
    uri = peer_uri(principal)
    if uri is None:
        return False
    glob = ".*".join(re.escape(part) for part in value.split("*"))
    return re.fullmatch(f".*/ns/{glob}/.*", uri, flags=re.DOTALL) is not None


def match_namespace_ztunnel(value: str, principal: str | None) -> bool:
    identity = parse_identity(principal)
    return match_string(value, identity.namespace if identity else "")


def split_service_account(value: str, policy_namespace: str) -> tuple[str, str]:
    namespace, slash, name = value.partition("/")
    if not slash:
        return policy_namespace, value
    return namespace, name


def match_service_account_waypoint(value: str, policy_namespace: str, principal: str | None) -> bool:
    """Envoy: ``spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)?``: any trust domain."""
    uri = peer_uri(principal)
    if uri is None:
        return False
    namespace, name = split_service_account(value, policy_namespace)
    regex = f"spiffe://.+/ns/{re.escape(namespace)}/(.+/|)sa/{re.escape(name)}(/.+)?"
    return re.fullmatch(regex, uri, flags=re.DOTALL) is not None


def match_service_account_ztunnel(value: str, policy_namespace: str, principal: str | None) -> bool:
    identity = parse_identity(principal)
    if identity is None:
        return False
    namespace, name = split_service_account(value, policy_namespace)
    return identity.namespace == namespace and identity.service_account == name


def waypoint_trust_domain_values(
    value: str, trust_domain: str, aliases: Sequence[str] = ()
) -> tuple[str, ...]:
    """``trustDomains`` equal to the mesh trust domain or an alias expand to all of them."""
    bundle = (trust_domain, *aliases)
    return bundle if value in bundle else (value,)


def match_trust_domain_waypoint(value: str, principal: str | None) -> bool:
    uri = peer_uri(principal)
    if uri is None:
        return False
    if value == "*":
        return uri.startswith(SPIFFE_PREFIX)
    if "*" not in value:
        return uri.startswith(f"{SPIFFE_PREFIX}{value}/")
    head, _, tail = value.partition("*")
    regex = f"spiffe://{re.escape(head)}[^/]*{re.escape(tail)}/.*"
    return re.fullmatch(regex, uri, flags=re.DOTALL) is not None


# ---------------------------------------------------------------------------------------------
# JWT request principals


def split_request_principal(value: str) -> tuple[str, str | None]:
    """``<iss>/<sub>`` split at the last '/', since an issuer may be a URL (sub None: no '/')."""
    index = value.rfind("/")
    if index < 0:
        return value, None
    return value[:index], value[index + 1 :]


def match_request_principal(pattern: str, issuer: str | None, subject: str | None) -> bool:
    """istiod's requestPrincipalGenerator: the pattern becomes a matcher on the JWT's ``iss`` and
    another on its ``sub`` (pilot/pkg/security/authz/model/generator.go, ``extendedPrincipal``).

    ``*`` is any non-empty issuer and subject; ``*<suffix>`` matches the issuer by suffix (or, with
    no '/', the subject by suffix); ``<prefix>*`` the subject by prefix (or, with no '/', the issuer
    by prefix); anything else is ``iss`` and ``sub`` exactly. A missing claim matches nothing.
    """
    if issuer is None or subject is None:
        return False
    iss, sub = split_request_principal(pattern)
    found = sub is not None
    sub = sub or ""

    def anything(value: str) -> bool:
        return value != ""  # the regex '.+'

    if pattern == "*":
        return anything(issuer) and anything(subject)
    if pattern.startswith("*"):
        if found:
            iss_ok = anything(issuer) if iss == "*" else issuer.endswith(iss[1:])
            return iss_ok and subject == sub
        return anything(issuer) and subject.endswith(pattern[1:])
    if pattern.endswith("*"):
        if found:
            sub_ok = anything(subject) if sub == "*" else subject.startswith(sub[:-1])
            return issuer == iss and sub_ok
        return issuer.startswith(pattern[:-1]) and anything(subject)
    return issuer == iss and subject == sub
