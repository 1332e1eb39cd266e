"""A read-only fake Kubernetes API server that serves one scenario directory.

It speaks enough of the real apiserver's HTTP API for the official Python client and for the
real kubectl: discovery (legacy and aggregated), list/get with selectors and pagination,
server-side Table printing, pod logs, Status errors, RBAC-style denials and the two access
review APIs. It exists so end-to-end tests can run waypoint-doctor against "a cluster" offline.

Only the standard library serves HTTP (`http.server` + `ssl`); PyYAML reads scenarios.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import dataclasses
import datetime as dt
import email.utils
import hashlib
import json
import re
import shutil
import socket
import ssl
import struct
import tarfile
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from .certs import TlsBundle, shared_tls_bundle
from .rbac import Attributes, Rbac

JSON = dict[str, Any]

DEFAULT_TOKEN = "fakeapi-token"
DEFAULT_USER = "system:serviceaccount:waypoint-doctor:waypoint-doctor"
DEFAULT_GROUPS = (
    "system:serviceaccounts",
    "system:serviceaccounts:waypoint-doctor",
    "system:authenticated",
)
DEFAULT_SERVER_VERSION = "v1.36.2"
CONFIG_FILE = "fakeapi.yaml"
SNAPSHOT_FILE = "snapshot.yaml"
SKIPPED_TOP_DIRS = frozenset({"logs", "istioctl"})

READ_VERBS = ("get", "list", "watch")
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Paths anonymous users may read on a real cluster (the system:public-info-viewer role).
PUBLIC_PATHS = frozenset({"/version", "/version/", "/healthz", "/livez", "/readyz"})
# POST endpoints that only evaluate a question and store nothing.
REVIEW_RESOURCES = frozenset(
    {
        ("authorization.k8s.io", "selfsubjectaccessreviews"),
        ("authorization.k8s.io", "selfsubjectrulesreviews"),
        ("authentication.k8s.io", "selfsubjectreviews"),
    }
)


# What every authenticated user may do without a binding of their own (the default
# system:basic-user and system:discovery ClusterRoles), as a rules review lists it.
BASIC_USER_RULES: tuple[JSON, ...] = (
    {
        "verbs": ["create"],
        "apiGroups": ["authorization.k8s.io"],
        "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
    },
    {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]},
)
DISCOVERY_RULE: JSON = {
    "verbs": ["get"],
    "nonResourceURLs": [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/openapi",
        "/openapi/*",
        "/readyz",
        "/version",
        "/version/",
    ],
}


# --------------------------------------------------------------------------------------------
# Errors


class ApiError(Exception):
    """Raised inside request handling; becomes a `Status` response."""

    def __init__(self, code: int, reason: str, message: str, details: JSON | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> JSON:
        return status_object(self.code, self.reason, self.message, self.details)


def status_object(code: int, reason: str, message: str, details: JSON | None = None) -> JSON:
    body: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


# --------------------------------------------------------------------------------------------
# Time


def parse_time(text: str) -> dt.datetime:
    """RFC 3339 (with any number of fractional digits, `Z` or an offset) to an aware datetime."""
    value = dt.datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def format_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_time_nano(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond * 1000:09d}Z"


def human_duration(delta: dt.timedelta) -> str:
    """The AGE format of the apiserver's table printer (k8s.io/apimachinery duration.HumanDuration)."""
    seconds = int(delta.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


_LOG_TIMESTAMP = re.compile(
    r"^\[?(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:?\d{2}))[\] \t]"
)


def log_line_time(line: str) -> dt.datetime | None:
    """The RFC 3339 timestamp a log line starts with (optionally in brackets, as Envoy writes it)."""
    match = _LOG_TIMESTAMP.match(line)
    if not match:
        return None
    try:
        return parse_time(match.group(1).replace(" ", "T"))
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# Label and field selectors


_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SELECTOR_TOKEN = re.compile(r"\s*(==|!=|=|!|,|\(|\)|<|>|[^\s,=!()<>]+)")


def validate_label_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        raise ValueError(f"invalid label key {key!r}: prefix part must be a DNS subdomain")
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        raise ValueError(
            f"invalid label key {key!r}: name part must consist of alphanumeric characters, '-', '_' "
            "or '.', and must start and end with an alphanumeric character"
        )


def validate_label_value(value: str) -> None:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(
            f"invalid label value {value!r}: a valid label must be an empty string or consist of "
            "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )


@dataclass(frozen=True)
class Requirement:
    """One comma-separated term of a label selector."""

    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!", ">", "<"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if not present:
            return False
        try:
            actual, bound = int(str(value)), int(self.values[0])
        except ValueError:
            return False
        return actual > bound if self.operator == ">" else actual < bound


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the `labelSelector` grammar of k8s.io/apimachinery/pkg/labels; ValueError when invalid."""
    if text is None or not text.strip():
        return LabelSelector()
    tokens: list[str] = []
    position = 0
    while position < len(text):
        match = _SELECTOR_TOKEN.match(text, position)
        if not match:
            if text[position:].strip():
                raise ValueError(f"unable to parse requirement: unexpected character at {position}")
            break
        tokens.append(match.group(1))
        position = match.end()
    requirements: list[Requirement] = []
    index = 0

    def peek() -> str | None:
        return tokens[index] if index < len(tokens) else None

    def take() -> str:
        nonlocal index
        if index >= len(tokens):
            raise ValueError("unable to parse requirement: unexpected end of selector")
        token = tokens[index]
        index += 1
        return token

    def identifier(token: str) -> str:
        if token in {"==", "!=", "=", "!", ",", "(", ")", "<", ">"}:
            raise ValueError(f"unable to parse requirement: found {token!r}, expected an identifier")
        return token

    while True:
        negated = peek() == "!"
        if negated:
            take()
        key = identifier(take())
        validate_label_key(key)
        following = peek()
        if negated:
            requirements.append(Requirement(key, "!"))
        elif following is None or following == ",":
            requirements.append(Requirement(key, "exists"))
        elif following in ("=", "==", "!="):
            operator = "!=" if take() == "!=" else "="
            value = ""
            if peek() not in (None, ","):
                value = identifier(take())
            validate_label_value(value)
            requirements.append(Requirement(key, operator, (value,)))
        elif following in ("in", "notin"):
            operator = take()
            if take() != "(":
                raise ValueError(f"unable to parse requirement: expected '(' after {operator}")
            values: list[str] = []
            expect_value = True
            while True:
                token = take()
                if token == ")":
                    if expect_value and values:
                        values.append("")
                    break
                if token == ",":
                    if expect_value:
                        values.append("")
                    expect_value = True
                    continue
                if not expect_value:
                    raise ValueError("unable to parse requirement: expected ',' or ')' between values")
                validate_label_value(token)
                values.append(token)
                expect_value = False
            if not values:
                raise ValueError(
                    f"unable to parse requirement: for '{operator}' operator, values set can't be empty"
                )
            requirements.append(Requirement(key, operator, tuple(values)))
        elif following in (">", "<"):
            operator = take()
            bound = identifier(take())
            try:
                int(bound)
            except ValueError:
                raise ValueError(
                    f"unable to parse requirement: for '{operator}' operator, the value must be an integer"
                ) from None
            requirements.append(Requirement(key, operator, (bound,)))
        else:
            raise ValueError(f"unable to parse requirement: found {following!r}, expected an operator")
        if peek() is None:
            break
        if take() != ",":
            raise ValueError("unable to parse requirement: expected ',' between requirements")
    return LabelSelector(tuple(requirements))


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    negated: bool
    value: str


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unescape_field_value(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_field_selector(text: str | None) -> tuple[FieldRequirement, ...]:
    """Parse `fieldSelector` (`a.b=c,d!=e`, with `\\,` `\\=` escapes); ValueError when invalid."""
    if text is None or not text.strip():
        return ()
    requirements = []
    for term in _split_unescaped(text, ","):
        match = re.match(r"^\s*([^=!\s]+)\s*(==|!=|=)(.*)$", term)
        if not match:
            raise ValueError(f"invalid field selector: {term!r}")
        requirements.append(
            FieldRequirement(
                match.group(1), match.group(2) == "!=", _unescape_field_value(match.group(3).strip())
            )
        )
    return tuple(requirements)


def _lookup_path(obj: Mapping[str, Any], dotted: str) -> Any:
    current: Any = obj
    for part in dotted.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def field_value(obj: Mapping[str, Any], dotted: str) -> str:
    value = _lookup_path(obj, dotted)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


# --------------------------------------------------------------------------------------------
# A JSONPath subset, enough for CRD printer columns: .a.b, [n], [*], [?(@.k=="v")]

_JSONPATH_TOKEN = re.compile(
    r"""\.(?P<name>[A-Za-z0-9_\-]+)
      | \[(?P<index>-?\d+|\*)\]
      | \[['"](?P<quoted>[^'"]+)['"]\]
      | \[\?\(@\.(?P<fpath>[A-Za-z0-9_.\-]+)\s*(?P<fop>==|!=)\s*['"]?(?P<fval>[^'")]*)['"]?\)\]""",
    re.VERBOSE,
)


def jsonpath_results(obj: Any, path: str) -> list[Any]:
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    if path.startswith("$"):
        path = path[1:]
    current = [obj]
    position = 0
    while position < len(path):
        match = _JSONPATH_TOKEN.match(path, position)
        if not match:
            return []
        position = match.end()
        following: list[Any] = []
        for value in current:
            if match.group("name") is not None or match.group("quoted") is not None:
                key = match.group("name") or match.group("quoted")
                if isinstance(value, Mapping) and key in value:
                    following.append(value[key])
            elif match.group("index") is not None:
                if not isinstance(value, list):
                    continue
                if match.group("index") == "*":
                    following.extend(value)
                else:
                    with contextlib.suppress(IndexError):
                        following.append(value[int(match.group("index"))])
            else:
                items = value if isinstance(value, list) else []
                for item in items:
                    if not isinstance(item, Mapping):
                        continue
                    equal = field_value(item, match.group("fpath")) == match.group("fval")
                    if equal != (match.group("fop") == "!="):
                        following.append(item)
        current = following
    return current


# --------------------------------------------------------------------------------------------
# The resource catalogue


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""
    format: str = ""


AGE_COLUMN = PrinterColumn("Age", ".metadata.creationTimestamp", "date")


@dataclass(frozen=True)
class ResourceType:
    """One API resource: how it is named in URLs and discovery, and which versions serve it."""

    group: str
    plural: str
    kind: str
    versions: tuple[str, ...]  # preferred first
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    printer_columns: tuple[PrinterColumn, ...] = ()  # CRD style; Name is always first
    field_selectors: tuple[str, ...] = ()  # besides metadata.name and metadata.namespace
    singular: str = ""

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def group_resource(self) -> str:
        """`pods` or `gateways.gateway.networking.k8s.io`, as real error messages spell it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_GWAPI = "gateway.networking.k8s.io"
_GWAPI_CATEGORIES = ("gateway-api",)
_ISTIO_SEC = ("istio-io", "security-istio-io")
_ISTIO_NET = ("istio-io", "networking-istio-io")
_WORKLOAD_SUB = ("status", "scale")


def _condition_column(name: str, condition: str, description: str = "") -> PrinterColumn:
    return PrinterColumn(
        name, f'.status.conditions[?(@.type=="{condition}")].status', description=description
    )


BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    # core/v1
    ResourceType("", "namespaces", "Namespace", ("v1",), False, ("ns",), (), ("status", "finalize"),
                 ("create", "delete", "get", "list", "patch", "update", "watch"), field_selectors=("status.phase",)),
    ResourceType("", "pods", "Pod", ("v1",), True, ("po",), ("all",),
                 ("attach", "binding", "ephemeralcontainers", "eviction", "exec", "log", "portforward", "proxy", "resize", "status"),
                 field_selectors=_POD_FIELDS),
    ResourceType("", "services", "Service", ("v1",), True, ("svc",), ("all",), ("proxy", "status"),
                 ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")),
    ResourceType("", "serviceaccounts", "ServiceAccount", ("v1",), True, ("sa",), (), ("token",)),
    ResourceType("", "configmaps", "ConfigMap", ("v1",), True, ("cm",)),
    ResourceType("", "secrets", "Secret", ("v1",), True, field_selectors=("type",)),
    ResourceType("", "nodes", "Node", ("v1",), False, ("no",), (), ("proxy", "status"),
                 field_selectors=("spec.unschedulable",)),
    ResourceType("", "endpoints", "Endpoints", ("v1",), True, ("ep",), singular="endpoints"),
    ResourceType("", "events", "Event", ("v1",), True, ("ev",), field_selectors=_EVENT_FIELDS),
    # apps/v1
    ResourceType("apps", "deployments", "Deployment", ("v1",), True, ("deploy",), ("all",), _WORKLOAD_SUB),
    ResourceType("apps", "daemonsets", "DaemonSet", ("v1",), True, ("ds",), ("all",), ("status",)),
    ResourceType("apps", "replicasets", "ReplicaSet", ("v1",), True, ("rs",), ("all",), _WORKLOAD_SUB),
    ResourceType("apps", "statefulsets", "StatefulSet", ("v1",), True, ("sts",), ("all",), _WORKLOAD_SUB),
    # the access review APIs: create only, and answered rather than stored
    ResourceType("authentication.k8s.io", "selfsubjectreviews", "SelfSubjectReview", ("v1",), False, verbs=("create",)),
    ResourceType("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview", ("v1",), False,
                 verbs=("create",)),
    ResourceType("authorization.k8s.io", "selfsubjectrulesreviews", "SelfSubjectRulesReview", ("v1",), False,
                 verbs=("create",)),
    ResourceType("authorization.k8s.io", "subjectaccessreviews", "SubjectAccessReview", ("v1",), False,
                 verbs=("create",)),
    ResourceType("rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", ("v1",), False),
    ResourceType("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", ("v1",), False),
    ResourceType("rbac.authorization.k8s.io", "rolebindings", "RoleBinding", ("v1",), True),
    ResourceType("rbac.authorization.k8s.io", "roles", "Role", ("v1",), True),
    ResourceType("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration",
                 ("v1",), False, categories=("api-extensions",)),
    ResourceType("admissionregistration.k8s.io", "validatingwebhookconfigurations",
                 "ValidatingWebhookConfiguration", ("v1",), False, categories=("api-extensions",)),
    ResourceType("apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition", ("v1",), False,
                 ("crd", "crds"), ("api-extensions",), ("status",),
                 printer_columns=(PrinterColumn("Created At", ".metadata.creationTimestamp", "date"),)),
    ResourceType("discovery.k8s.io", "endpointslices", "EndpointSlice", ("v1",), True),
    # Gateway API (CRDs); the printer columns are those of the upstream CRDs
    ResourceType(_GWAPI, "gatewayclasses", "GatewayClass", ("v1", "v1beta1"), False, ("gc",), _GWAPI_CATEGORIES,
                 ("status",), printer_columns=(
                     PrinterColumn("Controller", ".spec.controllerName"),
                     _condition_column("Accepted", "Accepted"),
                     AGE_COLUMN,
                     PrinterColumn("Description", ".spec.description", priority=1))),
    ResourceType(_GWAPI, "gateways", "Gateway", ("v1", "v1beta1"), True, ("gtw",), _GWAPI_CATEGORIES, ("status",),
                 printer_columns=(
                     PrinterColumn("Class", ".spec.gatewayClassName"),
                     PrinterColumn("Address", ".status.addresses[*].value"),
                     _condition_column("Programmed", "Programmed"),
                     AGE_COLUMN)),
    ResourceType(_GWAPI, "httproutes", "HTTPRoute", ("v1", "v1beta1"), True, (), _GWAPI_CATEGORIES, ("status",),
                 printer_columns=(PrinterColumn("Hostnames", ".spec.hostnames"), AGE_COLUMN)),
    ResourceType(_GWAPI, "grpcroutes", "GRPCRoute", ("v1",), True, (), _GWAPI_CATEGORIES, ("status",),
                 printer_columns=(PrinterColumn("Hostnames", ".spec.hostnames"), AGE_COLUMN)),
    ResourceType(_GWAPI, "referencegrants", "ReferenceGrant", ("v1beta1",), True, ("refgrant",), _GWAPI_CATEGORIES),
    # Istio (CRDs)
    ResourceType("security.istio.io", "authorizationpolicies", "AuthorizationPolicy", ("v1", "v1beta1"), True,
                 ("ap",), _ISTIO_SEC, ("status",), printer_columns=(
                     PrinterColumn("Action", ".spec.action", description="The operation to take."), AGE_COLUMN)),
    ResourceType("security.istio.io", "peerauthentications", "PeerAuthentication", ("v1", "v1beta1"), True,
                 ("pa",), _ISTIO_SEC, ("status",), printer_columns=(
                     PrinterColumn("Mode", ".spec.mtls.mode", description="Defines the mTLS mode used for peer authentication."),
                     AGE_COLUMN)),
    ResourceType("security.istio.io", "requestauthentications", "RequestAuthentication", ("v1", "v1beta1"), True,
                 ("ra",), _ISTIO_SEC, ("status",)),
    ResourceType("networking.istio.io", "serviceentries", "ServiceEntry", ("v1", "v1beta1", "v1alpha3"), True,
                 ("se",), _ISTIO_NET, ("status",), printer_columns=(
                     PrinterColumn("Hosts", ".spec.hosts", description="The hosts associated with the ServiceEntry"),
                     PrinterColumn("Location", ".spec.location", description="Whether the service is external to the mesh or part of the mesh (MESH_EXTERNAL or MESH_INTERNAL)"),
                     PrinterColumn("Resolution", ".spec.resolution", description="Service resolution mode for the hosts (NONE, STATIC, or DNS)"),
                     AGE_COLUMN)),
    ResourceType("networking.istio.io", "destinationrules", "DestinationRule", ("v1", "v1beta1", "v1alpha3"), True,
                 ("dr",), _ISTIO_NET, ("status",), printer_columns=(
                     PrinterColumn("Host", ".spec.host", description="The name of a service from the service registry"),
                     AGE_COLUMN)),
    ResourceType("networking.istio.io", "virtualservices", "VirtualService", ("v1", "v1beta1", "v1alpha3"), True,
                 ("vs",), _ISTIO_NET, ("status",), printer_columns=(
                     PrinterColumn("Gateways", ".spec.gateways", description="The names of gateways and sidecars that should apply these routes"),
                     PrinterColumn("Hosts", ".spec.hosts", description="The destination hosts to which traffic is being sent"),
                     AGE_COLUMN)),
    ResourceType("networking.istio.io", "gateways", "Gateway", ("v1", "v1beta1", "v1alpha3"), True, ("gw",),
                 _ISTIO_NET, ("status",)),
    ResourceType("networking.istio.io", "sidecars", "Sidecar", ("v1", "v1beta1", "v1alpha3"), True, (), _ISTIO_NET,
                 ("status",)),
    ResourceType("telemetry.istio.io", "telemetries", "Telemetry", ("v1", "v1alpha1"), True, ("telemetry",),
                 ("istio-io", "telemetry-istio-io"), ("status",)),
)  # fmt: skip

# Groups a real cluster always serves, in the order a real apiserver lists them.
BUILTIN_GROUP_ORDER = (
    "",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "rbac.authorization.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "discovery.k8s.io",
)


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version ordering: GA before beta before alpha, higher numbers first; sorts ascending."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    stage = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    return (stage, -int(match.group(1)), -int(match.group(3) or 0))


def plural_of(kind: str) -> str:
    """The plural resource name Kubernetes' RESTMapper would guess for a kind."""
    lower = kind.lower()
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def resource_type_from_crd(crd: Mapping[str, Any]) -> ResourceType | None:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not (group and plural and kind):
        return None
    served = [v for v in spec.get("versions") or [] if v.get("served", True) and v.get("name")]
    if not served:
        return None
    versions = tuple(sorted((v["name"] for v in served), key=version_priority))
    preferred = next(v for v in served if v["name"] == versions[0])
    subresources: list[str] = []
    for version in served:
        for name in version.get("subresources") or {}:
            if name not in subresources:
                subresources.append(name)
    columns = tuple(
        PrinterColumn(
            name=column.get("name", ""),
            json_path=column.get("jsonPath", ""),
            type=column.get("type", "string"),
            priority=int(column.get("priority", 0) or 0),
            description=column.get("description", ""),
            format=column.get("format", ""),
        )
        for column in preferred.get("additionalPrinterColumns") or []
    )
    return ResourceType(
        group=group,
        plural=plural,
        kind=kind,
        versions=versions,
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        subresources=tuple(sorted(subresources)),
        printer_columns=columns or (AGE_COLUMN,),
        singular=names.get("singular", ""),
    )


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class ForbidRule:
    """Denies matching requests with 403. A field left as None matches anything.

    `namespace` also denies the cluster-wide form of a namespaced request (listing pods in all
    namespaces), as real RBAC does when a user lacks a ClusterRoleBinding.
    """

    verb: str | None = None
    resource: str | None = None
    group: str | None = None
    subresource: str | None = None
    namespace: str | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ForbidRule:
        unknown = set(raw) - {"verb", "resource", "group", "subresource", "namespace"}
        if unknown:
            raise ValueError(f"unknown forbid rule keys: {sorted(unknown)}")
        return cls(**{k: (None if v is None else str(v)) for k, v in raw.items()})

    def matches(
        self, verb: str, group: str, resource: str, subresource: str, namespace: str, namespaced: bool
    ) -> bool:
        def same(rule: str | None, asked: str) -> bool:
            return rule is None or rule == "*" or asked == "*" or rule == asked

        if not (same(self.verb, verb) and same(self.group, group) and same(self.resource, resource)):
            return False
        if not same(self.subresource, subresource):
            return False
        if self.namespace is None or self.namespace == "*":
            return True
        return namespace == self.namespace or (namespace == "" and namespaced)

    def describe(self) -> str:
        parts = [f"{name}={value!r}" for name, value in dataclasses.asdict(self).items() if value is not None]
        return "forbid rule {" + ", ".join(parts) + "}"


MID_BODY_FAULTS = ("reset", "truncate", "stall")


@dataclass
class Fault:
    """Answer matching requests with an error, a dropped connection, or a real answer cut short.

    A request matches on `path_regex` and `method`; then it is hit with `probability`, drawn from
    `seed` and the request itself (method, path, query, and how many times this fault has seen that
    request before), so a run is reproducible whatever order concurrent requests arrive in, and a
    retry of a request gets a draw of its own. `times` caps how many requests are hit.

    `mid_body` serves the real answer but, after the first `at` fraction of its body:
    `reset` cuts the connection (TCP RST) with the rest unsent; `truncate` ends the body there with
    consistent framing (a well-formed HTTP message whose JSON does not parse); `stall` sends
    nothing more for `stall_s` seconds, then resets.
    """

    path_regex: str = ".*"
    status: int = 500
    times: int | None = None  # None: every time
    body: Any = None  # a string, or a mapping sent as JSON; default a Status for `status`
    method: str | None = None
    drop_connection: bool = False
    retry_after: int | None = None
    probability: float = 1.0
    seed: int = 0
    mid_body: str | None = None  # one of MID_BODY_FAULTS
    at: float = 0.5
    stall_s: float = 30.0
    served: int = 0
    seen: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Fault:
        known = {f.name for f in dataclasses.fields(cls)} - {"served", "seen"}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        fault = cls(**dict(raw))
        if fault.mid_body is not None and fault.mid_body not in MID_BODY_FAULTS:
            raise ValueError(f"mid_body must be one of {', '.join(MID_BODY_FAULTS)}, not {fault.mid_body!r}")
        if not 0.0 <= fault.probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, not {fault.probability!r}")
        if not 0.0 <= fault.at < 1.0:
            raise ValueError(f"at must be a fraction of the body in [0, 1), not {fault.at!r}")
        return fault

    def applies(self, method: str, path: str, query: str = "") -> bool:
        """Whether this request is hit; call with the faults lock held (it counts the draw)."""
        if self.method and self.method.upper() != method:
            return False
        if self.times is not None and self.served >= self.times:
            return False
        if re.search(self.path_regex, path) is None:
            return False
        if self.probability >= 1.0:
            return True
        key = f"{method} {path}?{query}"
        nth = self.seen.get(key, 0)
        self.seen[key] = nth + 1
        digest = hashlib.sha256(f"{self.seed}|{key}|{nth}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.probability

    def describe(self) -> str:
        if self.mid_body:
            return f"{self.mid_body} at {self.at:.0%}"
        if self.drop_connection:
            return "drop"
        return f"status {self.status}" + (
            f" retry-after {self.retry_after}" if self.retry_after is not None else ""
        )


@dataclass(frozen=True)
class LatencyRule:
    ms: float
    path_regex: str | None = None


_FAULT_REASONS = {
    400: "BadRequest",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

_UNSET: Any = object()


@dataclass(frozen=True)
class FakeApiConfig:
    """The resolved options: `fakeapi.yaml`, then constructor arguments over it."""

    token: str | None = DEFAULT_TOKEN
    user: str = DEFAULT_USER
    groups: tuple[str, ...] = DEFAULT_GROUPS
    forbid: tuple[ForbidRule, ...] = ()
    remove_groups: frozenset[str] = frozenset()
    latency: tuple[LatencyRule, ...] = ()
    faults: tuple[Mapping[str, Any], ...] = ()
    now: dt.datetime | None = None
    page_size_max: int | None = None
    aggregated_discovery: bool = True
    server_version: str = DEFAULT_SERVER_VERSION
    request_log_path: Path | None = None
    rbac: Rbac | None = None  # None: no RBAC objects, everything not forbidden is allowed

    OPTION_NAMES = (
        "token",
        "user",
        "groups",
        "forbid",
        "remove_groups",
        "latency_ms",
        "faults",
        "now",
        "page_size_max",
        "aggregated_discovery",
        "server_version",
        "request_log",
        "rbac",
    )

    @classmethod
    def build(cls, file_options: Mapping[str, Any], overrides: Mapping[str, Any]) -> FakeApiConfig:
        options = dict(file_options)
        options.update({k: v for k, v in overrides.items() if v is not _UNSET})
        unknown = set(options) - set(cls.OPTION_NAMES)
        if unknown:
            raise ValueError(f"unknown fakeapi options: {sorted(unknown)}")
        latency_raw = options.get("latency_ms")
        latency: list[LatencyRule] = []
        if isinstance(latency_raw, int | float):
            latency.append(LatencyRule(float(latency_raw)))
        elif isinstance(latency_raw, Mapping):
            latency.extend(LatencyRule(float(ms), regex) for regex, ms in latency_raw.items())
        elif latency_raw:
            for entry in latency_raw:
                latency.append(LatencyRule(float(entry["ms"]), entry.get("path_regex")))
        now = options.get("now")
        if isinstance(now, str):
            now = parse_time(now)
        elif isinstance(now, dt.datetime) and now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        faults = tuple(
            dict(f) if isinstance(f, Mapping) else dataclasses.asdict(f) for f in options.get("faults") or ()
        )
        for fault in faults:
            Fault.from_mapping(fault)  # validate early
        request_log = options.get("request_log")
        rbac = options.get("rbac")
        return cls(
            token=options.get("token", DEFAULT_TOKEN),
            user=options.get("user", DEFAULT_USER),
            groups=tuple(options.get("groups", DEFAULT_GROUPS)),
            forbid=tuple(
                r if isinstance(r, ForbidRule) else ForbidRule.from_mapping(r)
                for r in options.get("forbid") or ()
            ),
            remove_groups=frozenset(options.get("remove_groups") or ()),
            latency=tuple(latency),
            faults=faults,
            now=now,
            page_size_max=options.get("page_size_max"),
            aggregated_discovery=bool(options.get("aggregated_discovery", True)),
            server_version=str(options.get("server_version", DEFAULT_SERVER_VERSION)),
            request_log_path=Path(request_log) if request_log else None,
            rbac=rbac if isinstance(rbac, Rbac) or rbac is None else Rbac.load(rbac),
        )


# --------------------------------------------------------------------------------------------
# Scenario loading


class _NoTimestampLoader(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as the strings Kubernetes means them to be."""


_NoTimestampLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _documents(path: Path) -> Iterator[Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        yield json.loads(text)
    else:
        yield from yaml.load_all(text, Loader=_NoTimestampLoader)


def _objects_in(document: Any) -> Iterator[JSON]:
    if not isinstance(document, dict):
        return
    kind = document.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(document.get("items"), list):
        for item in document["items"]:
            yield from _objects_in(item)
    elif isinstance(kind, str) and isinstance(document.get("apiVersion"), str):
        yield document


@dataclass(frozen=True)
class StoredObject:
    resource: ResourceType
    namespace: str  # "" when cluster-scoped
    name: str
    body: JSON

    @property
    def sort_key(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass
class Scenario:
    """Everything the server serves, read once from a scenario directory."""

    resources: dict[tuple[str, str], ResourceType] = field(default_factory=dict)
    # (group, plural) -> objects in apiserver (etcd key) order, for lists
    objects: dict[tuple[str, str], list[StoredObject]] = field(default_factory=dict)
    # (group, plural, namespace, name) -> object, version-agnostic, for gets
    by_key: dict[tuple[str, str, str, str], StoredObject] = field(default_factory=dict)
    logs: dict[tuple[str, str], dict[str, Path]] = field(default_factory=dict)
    previous_logs: dict[tuple[str, str], dict[str, Path]] = field(default_factory=dict)
    snapshot_meta: JSON = field(default_factory=dict)
    resource_version: int = 1

    @classmethod
    def load(cls, directory: Path | None, now: dt.datetime) -> Scenario:
        scenario = cls()
        for builtin in BUILTIN_RESOURCES:
            scenario.resources[(builtin.group, builtin.plural)] = builtin
        if directory is None:
            return scenario
        if not directory.is_dir():
            raise FileNotFoundError(f"scenario directory not found: {directory}")
        raw_objects: list[JSON] = []
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory)
            if not path.is_file() or relative.parts[0] in SKIPPED_TOP_DIRS:
                continue
            if path.suffix not in (".yaml", ".yml", ".json"):
                continue
            if str(relative) in (SNAPSHOT_FILE, CONFIG_FILE):
                continue
            for document in _documents(path):
                raw_objects.extend(_objects_in(document))
        # CRDs first: they name resources the built-in table may not know.
        for obj in raw_objects:
            if obj.get("kind") == "CustomResourceDefinition":
                from_crd = resource_type_from_crd(obj)
                if from_crd is not None:
                    scenario.resources[(from_crd.group, from_crd.plural)] = from_crd
        by_kind = {(r.group, r.kind): r for r in scenario.resources.values()}
        stored: dict[tuple[str, str, str, str], JSON] = {}
        for obj in raw_objects:
            group, version = split_api_version(obj["apiVersion"])
            metadata = obj.get("metadata")
            if not isinstance(metadata, dict) or not metadata.get("name"):
                continue
            resource = by_kind.get((group, obj["kind"]))
            if resource is None:
                # An object of a kind we have no table entry or CRD for: serve it anyway, as a
                # cluster with its CRD installed would.
                resource = ResourceType(
                    group, plural_of(obj["kind"]), obj["kind"], (version,), "namespace" in metadata,
                    printer_columns=(AGE_COLUMN,),
                )  # fmt: skip
                scenario.resources[(group, resource.plural)] = resource
                by_kind[(group, obj["kind"])] = resource
            namespace = (metadata.get("namespace") or "default") if resource.namespaced else ""
            stored[(group, resource.plural, namespace, metadata["name"])] = obj
        # Fill what a real apiserver always sets, deterministically.
        for key in sorted(stored):
            group, plural, namespace, name = key
            body = copy.deepcopy(stored[key])
            metadata = body["metadata"]
            if namespace:
                metadata["namespace"] = namespace
            else:
                metadata.pop("namespace", None)
            scenario.resource_version += 1
            metadata.setdefault("resourceVersion", str(scenario.resource_version))
            metadata.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, "fakeapi/" + "/".join(key))))
            metadata.setdefault("creationTimestamp", format_time(now - dt.timedelta(hours=1)))
            stored_object = StoredObject(scenario.resources[(group, plural)], namespace, name, body)
            scenario.objects.setdefault((group, plural), []).append(stored_object)
            scenario.by_key[key] = stored_object
        for items in scenario.objects.values():
            items.sort(key=lambda o: o.sort_key)
        scenario._load_logs(directory)
        return scenario

    def _load_logs(self, directory: Path) -> None:
        for path in sorted((directory / "logs").glob("*/*/*.log")):
            namespace, pod = path.parent.parent.name, path.parent.name
            if path.name.endswith(".previous.log"):
                self.previous_logs.setdefault((namespace, pod), {})[path.name[: -len(".previous.log")]] = path
            else:
                self.logs.setdefault((namespace, pod), {})[path.stem] = path
        snapshot_file = directory / SNAPSHOT_FILE
        if snapshot_file.is_file():
            loaded = yaml.load(snapshot_file.read_text(encoding="utf-8"), Loader=_NoTimestampLoader)
            self.snapshot_meta = loaded if isinstance(loaded, dict) else {}


def _scenario_root(owner: object, source: str | Path | None) -> Path | None:
    """The scenario directory; a `.tar.gz` snapshot is unpacked into a temp dir owned by `owner`."""
    if source is None:
        return None
    path = Path(source)
    if not (path.is_file() and path.name.endswith((".tar.gz", ".tgz"))):
        return path
    target = Path(tempfile.mkdtemp(prefix="fakeapi-scenario-"))
    weakref.finalize(owner, shutil.rmtree, target, True)
    with tarfile.open(path, "r:gz") as archive:
        archive.extractall(target, filter="data")
    entries = list(target.iterdir())
    # "a .tar.gz of one" directory: its single top-level folder is the scenario
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else target


def read_config_file(directory: Path | None) -> JSON:
    if directory is None:
        return {}
    path = directory / CONFIG_FILE
    if not path.is_file():
        return {}
    loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoTimestampLoader)
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping of options")
    return loaded


def default_now(directory: Path | None) -> dt.datetime:
    """`takenAt` of the scenario's snapshot.yaml, else the wall clock."""
    if directory is not None and (directory / SNAPSHOT_FILE).is_file():
        meta = yaml.load((directory / SNAPSHOT_FILE).read_text(encoding="utf-8"), Loader=_NoTimestampLoader)
        if isinstance(meta, dict) and meta.get("takenAt"):
            return parse_time(str(meta["takenAt"]))
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


# --------------------------------------------------------------------------------------------
# The request log


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it. The bearer token itself is never kept."""

    method: str
    path: str
    query: str
    status: int  # 0 when a fault dropped the connection
    has_bearer_token: bool
    verb: str = ""  # the Kubernetes verb (list, get, watch, create, ...), "" for non-resource paths
    accept: str = ""
    user_agent: str = ""
    duration_ms: float = 0.0
    started_s: float | None = None  # when it arrived, in seconds since the server started
    fault: str = ""  # the injected fault that hit it ("status 503", "drop", "reset at 50%"...), "" if none

    @property
    def params(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.query, keep_blank_values=True).items()}

    @property
    def is_mutation(self) -> bool:
        """A request that would change cluster state (the access-review POSTs do not)."""
        if self.method not in MUTATING_METHODS:
            return False
        return not any(self.path.rstrip("/").endswith("/" + resource) for _, resource in REVIEW_RESOURCES)

    def to_json(self) -> JSON:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------
# Media types


@dataclass(frozen=True)
class MediaType:
    type: str
    params: Mapping[str, str]

    @property
    def is_json(self) -> bool:
        return self.type in ("application/json", "*/*", "application/*")


def parse_accept(header: str | None) -> list[MediaType]:
    if not header:
        return [MediaType("*/*", {})]
    result = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";") if p.strip()]
        if not pieces:
            continue
        params = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        result.append(MediaType(pieces[0].lower(), params))
    return result or [MediaType("*/*", {})]


AGGREGATED_DISCOVERY_VERSIONS = ("v2", "v2beta1")


# --------------------------------------------------------------------------------------------
# Protobuf, just enough for the access reviews kubectl's typed client sends that way

PROTOBUF_MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_PROTOBUF_MAGIC = b"k8s\x00"
# Field numbers from k8s.io/api/authorization/v1/generated.proto.
_RESOURCE_ATTRIBUTE_FIELDS = {
    1: "namespace",
    2: "verb",
    3: "group",
    4: "version",
    5: "resource",
    6: "subresource",
    7: "name",
}
_NON_RESOURCE_ATTRIBUTE_FIELDS = {1: "path", 2: "verb"}


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def protobuf_fields(data: bytes) -> list[tuple[int, Any]]:
    """(field number, value) pairs of one protobuf message; nested messages stay bytes."""
    fields: list[tuple[int, Any]] = []
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == 0:
            value, position = _varint(data, position)
        elif wire_type == 2:
            length, position = _varint(data, position)
            value, position = data[position : position + length], position + length
        elif wire_type == 1:
            value, position = data[position : position + 8], position + 8
        elif wire_type == 5:
            value, position = data[position : position + 4], position + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        fields.append((number, value))
    return fields


def _strings(data: bytes, names: Mapping[int, str]) -> dict[str, str]:
    return {names[n]: v.decode() for n, v in protobuf_fields(data) if n in names and isinstance(v, bytes)}


def decode_review_protobuf(body: bytes) -> JSON:
    """A SelfSubject{Access,Rules}Review or SelfSubjectReview sent as protobuf, as its JSON form.

    The envelope is `k8s\\0` + runtime.Unknown{typeMeta=1{apiVersion=1, kind=2}, raw=2}; the
    review's spec is its field 2.
    """
    if not body.startswith(_PROTOBUF_MAGIC):
        raise ValueError("not a Kubernetes protobuf envelope")
    envelope = dict(protobuf_fields(body[len(_PROTOBUF_MAGIC) :]))
    type_meta = _strings(envelope.get(1, b""), {1: "apiVersion", 2: "kind"})
    review = dict(protobuf_fields(envelope.get(2, b"")))
    spec_fields = dict(protobuf_fields(review.get(2, b"")))
    spec: JSON = {}
    if type_meta.get("kind") == "SelfSubjectAccessReview":
        if 1 in spec_fields:
            spec["resourceAttributes"] = _strings(spec_fields[1], _RESOURCE_ATTRIBUTE_FIELDS)
        if 2 in spec_fields:
            spec["nonResourceAttributes"] = _strings(spec_fields[2], _NON_RESOURCE_ATTRIBUTE_FIELDS)
    elif type_meta.get("kind") == "SelfSubjectRulesReview":
        spec = _strings(review.get(2, b""), {1: "namespace"})
    return {**type_meta, "spec": spec}


# --------------------------------------------------------------------------------------------
# Table printing


def _pod_row(pod: JSON, now: dt.datetime) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len(spec.get("containers") or []) or len(statuses)
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount", 0) or 0) for s in statuses)
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for container in statuses:
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    gates = spec.get("readinessGates") or []
    return [
        f"{ready}/{total}",
        reason,
        str(restarts),
        _age(pod, now),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        f"{len(gates)}/{len(gates)}" if gates else "<none>",
    ]


def _service_row(service: JSON, now: dt.datetime) -> list[Any]:
    spec = service.get("spec") or {}
    ports = ",".join(
        f"{p.get('port')}"
        + (f":{p['nodePort']}" if p.get("nodePort") else "")
        + f"/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    )
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = ",".join(i.get("ip") or i.get("hostname") or "" for i in ingress) or (
        ",".join(spec.get("externalIPs") or [])
        or ("<pending>" if spec.get("type") == "LoadBalancer" else "<none>")
    )
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or "<none>",
        external,
        ports or "<none>",
        _age(service, now),
        selector,
    ]


def _deployment_row(deployment: JSON, now: dt.datetime) -> list[Any]:
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    return [
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(deployment, now),
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())),
    ]


def _daemonset_row(daemonset: JSON, now: dt.datetime) -> list[Any]:
    status = daemonset.get("status") or {}
    node_selector = (((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "nodeSelector"
    ) or {}
    return [
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in sorted(node_selector.items())) or "<none>",
        _age(daemonset, now),
    ]


def _age(obj: JSON, now: dt.datetime) -> str:
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    try:
        return human_duration(now - parse_time(str(created)))
    except ValueError:
        return "<unknown>"


def _column(
    name: str, type_: str = "string", priority: int = 0, description: str = "", format_: str = ""
) -> JSON:
    return {"name": name, "type": type_, "format": format_, "description": description, "priority": priority}


_NAME_COLUMN = _column(
    "Name",
    format_="name",
    description="Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically.",
)
_AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created."
)
_BUILTIN_PRINTERS: dict[tuple[str, str], tuple[list[JSON], Callable[[JSON, dt.datetime], list[Any]]]] = {
    ("", "pods"): (
        [
            _column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
            _column("Status", description="The aggregate status of the containers in this pod."),
            _column(
                "Restarts", description="The number of times the containers in this pod have been restarted."
            ),
            _column("Age", description=_AGE_DESCRIPTION),
            _column("IP", priority=1, description="IP address allocated to the pod."),
            _column("Node", priority=1, description="Name of the Node this pod is running on."),
            _column("Nominated Node", priority=1, description="Name of the Node nominated to run this pod."),
            _column("Readiness Gates", priority=1, description="Readiness gates of this pod."),
        ],
        _pod_row,
    ),
    ("", "services"): (
        [
            _column("Type"),
            _column("Cluster-IP"),
            _column("External-IP"),
            _column("Port(s)"),
            _column("Age", description=_AGE_DESCRIPTION),
            _column("Selector", priority=1),
        ],
        _service_row,
    ),
    ("", "namespaces"): (
        [_column("Status"), _column("Age", description=_AGE_DESCRIPTION)],
        lambda ns, now: [(ns.get("status") or {}).get("phase", "Active"), _age(ns, now)],
    ),
    ("apps", "deployments"): (
        [
            _column("Ready"),
            _column("Up-to-date", "integer"),
            _column("Available", "integer"),
            _column("Age", description=_AGE_DESCRIPTION),
            _column("Containers", priority=1),
            _column("Images", priority=1),
            _column("Selector", priority=1),
        ],
        _deployment_row,
    ),
    ("apps", "daemonsets"): (
        [
            _column("Desired", "integer"),
            _column("Current", "integer"),
            _column("Ready", "integer"),
            _column("Up-to-date", "integer"),
            _column("Available", "integer"),
            _column("Node Selector"),
            _column("Age", description=_AGE_DESCRIPTION),
        ],
        _daemonset_row,
    ),
    ("", "configmaps"): (
        [_column("Data", "integer"), _column("Age", description=_AGE_DESCRIPTION)],
        lambda cm, now: [len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), _age(cm, now)],
    ),
    ("", "secrets"): (
        [_column("Type"), _column("Data", "integer"), _column("Age", description=_AGE_DESCRIPTION)],
        lambda s, now: [s.get("type", "Opaque"), len(s.get("data") or {}), _age(s, now)],
    ),
}


def _crd_cell(column: PrinterColumn, obj: JSON, now: dt.datetime) -> Any:
    """One cell as the apiserver's CRD table convertor renders it: the first JSONPath result."""
    results = jsonpath_results(obj, column.json_path)
    if not results or results[0] is None:
        return None
    value = results[0]
    if column.type == "date":
        try:
            return human_duration(now - parse_time(str(value)))
        except ValueError:
            return None
    if column.type == "string":
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if column.type == "integer":
        return value if isinstance(value, int) else None
    if column.type == "number":
        return value if isinstance(value, int | float) else None
    if column.type == "boolean":
        return value if isinstance(value, bool) else None
    return value


def table_columns(resource: ResourceType) -> list[JSON]:
    builtin = _BUILTIN_PRINTERS.get((resource.group, resource.plural))
    if builtin:
        return [_NAME_COLUMN, *builtin[0]]
    columns = resource.printer_columns or (AGE_COLUMN,)
    return [_NAME_COLUMN] + [
        _column(c.name, "string" if c.type == "date" else c.type, c.priority, c.description, c.format)
        for c in columns
    ]


def table_cells(resource: ResourceType, obj: JSON, now: dt.datetime) -> list[Any]:
    name = obj["metadata"]["name"]
    builtin = _BUILTIN_PRINTERS.get((resource.group, resource.plural))
    if builtin:
        return [name, *builtin[1](obj, now)]
    return [name] + [_crd_cell(c, obj, now) for c in resource.printer_columns or (AGE_COLUMN,)]


# --------------------------------------------------------------------------------------------
# HTTP plumbing


class _Dropped(Exception):
    """A fault asked for the connection to be cut without an answer."""


class _Cut(Exception):
    """A mid-body fault sent part of an answer; the connection must now be reset."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 64

    def __init__(self, app: FakeApiServer, ssl_context: ssl.SSLContext | None) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        connection = request
        try:
            # Headers and body go out in separate writes; without this, Nagle's algorithm and the
            # client's delayed ACK stall every keep-alive request by 40 ms.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                # The handshake runs here, in the connection's own thread, so a slow or broken
                # client cannot hold up the accept loop.
                request.settimeout(10)
                connection = self.ssl_context.wrap_socket(request, server_side=True)
            with self._connections_lock:
                self._connections.add(connection)
            _Handler(connection, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            if connection is not request:
                with contextlib.suppress(OSError):
                    connection.close()

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up mid-stream all the time (kubectl on --limit-bytes, tests on purpose).
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeapi"
    sys_version = ""
    timeout = 60
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the scenario's clock, the one the log windows use, as a
        # real API server's Date follows the clock its sinceSeconds counts from.
        return email.utils.format_datetime(self.server.app.now.astimezone(dt.UTC), usegmt=True)

    def do_GET(self) -> None:
        self.server.app._handle(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET


# --------------------------------------------------------------------------------------------
# The server


@dataclass
class _Request:
    handler: _Handler
    method: str
    path: str
    query: str
    params: dict[str, str]
    accept: list[MediaType]
    body: bytes
    has_token: bool
    started: float
    verb: str = ""
    status: int = 0
    recorded: bool = False
    fault: Fault | None = None  # the injected fault that hit this request


class FakeApiServer:
    """A read-only Kubernetes API server over a scenario directory; see tests/fakeapi/README.md.

    Options passed here override those of `<scenario>/fakeapi.yaml`; leave one out to keep the
    file's (or the default) value.
    """

    def __init__(
        self,
        scenario_dir: str | Path | None = None,
        *,
        token: str | None = _UNSET,
        user: str = _UNSET,
        groups: Sequence[str] = _UNSET,
        forbid: Sequence[Mapping[str, Any] | ForbidRule] = _UNSET,
        remove_groups: Iterable[str] = _UNSET,
        latency_ms: float | Sequence[Mapping[str, Any]] | Mapping[str, float] = _UNSET,
        faults: Sequence[Mapping[str, Any]] = _UNSET,
        now: str | dt.datetime = _UNSET,
        page_size_max: int | None = _UNSET,
        aggregated_discovery: bool = _UNSET,
        server_version: str = _UNSET,
        request_log: str | Path | None = _UNSET,
        rbac: str | Path | Sequence[Mapping[str, Any]] | Rbac | None = _UNSET,
        tls: bool = True,
        tls_bundle: TlsBundle | None = None,
    ) -> None:
        self.scenario_dir = _scenario_root(self, scenario_dir)
        overrides = {
            "token": token,
            "user": user,
            "groups": groups,
            "forbid": forbid,
            "remove_groups": remove_groups,
            "latency_ms": latency_ms,
            "faults": faults,
            "now": now,
            "page_size_max": page_size_max,
            "aggregated_discovery": aggregated_discovery,
            "server_version": server_version,
            "request_log": request_log,
            "rbac": rbac,
        }
        file_options = read_config_file(self.scenario_dir)
        if isinstance(file_options.get("rbac"), str) and self.scenario_dir is not None:
            file_options["rbac"] = self.scenario_dir / file_options["rbac"]  # relative to the scenario
        self.config = FakeApiConfig.build(file_options, overrides)
        self.now: dt.datetime = self.config.now or default_now(self.scenario_dir)
        self.scenario = Scenario.load(self.scenario_dir, self.now)
        self.tls = tls
        self.tls_bundle = (tls_bundle or shared_tls_bundle()) if tls else None
        self.kubeconfig_path: Path | None = None
        self._faults = [Fault.from_mapping(f) for f in self.config.faults]
        self._faults_lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._requests_lock = threading.Lock()
        self._request_log_file: Any = None
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._started_at = time.monotonic()
        self._stopping = threading.Event()  # wakes stalled answers when the server stops

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeApiServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        context = None
        if self.tls_bundle is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(self.tls_bundle.cert_path, self.tls_bundle.key_path)
            # No h2: http.server speaks HTTP/1.1 only, and Go falls back to it when told so.
            context.set_alpn_protocols(["http/1.1"])
        if self.config.request_log_path is not None:
            self._request_log_file = self.config.request_log_path.open("a", encoding="utf-8")
        self._httpd = _Server(self, context)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"fakeapi:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._request_log_file is not None:
            with self._requests_lock:
                self._request_log_file.close()
                self._request_log_file = None

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what tests read --------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake API server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def token(self) -> str | None:
        return self.config.token

    @property
    def started_at(self) -> float:
        """The `time.monotonic()` that requests' `started_s` count from."""
        return self._started_at

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log so far, oldest first."""
        with self._requests_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    def mutations(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.is_mutation]

    def write_kubeconfig(
        self,
        path: str | Path,
        context: str = "fake",
        namespace: str | None = None,
        *,
        token: str | None = _UNSET,
    ) -> Path:
        """Write a kubeconfig for this server; `token=None` writes a user without credentials."""
        path = Path(path)
        cluster: JSON = {"server": self.url}
        if self.tls_bundle is not None:
            cluster["certificate-authority-data"] = base64.b64encode(self.tls_bundle.ca_cert_pem).decode()
        user_token = self.config.token if token is _UNSET else token
        context_body: JSON = {"cluster": context, "user": context}
        if namespace:
            context_body["namespace"] = namespace
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": context, "user": {"token": user_token} if user_token else {}}],
            "contexts": [{"name": context, "context": context_body}],
            "current-context": context,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(kubeconfig, sort_keys=False), encoding="utf-8")
        path.chmod(0o600)
        self.kubeconfig_path = path
        return path

    # -- request handling -------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        authorization = handler.headers.get("Authorization") or ""
        request = _Request(
            handler=handler,
            method=handler.command,
            path=unquote(split.path) or "/",
            query=split.query,
            params={k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
            accept=parse_accept(handler.headers.get("Accept")),
            body=b"",
            has_token=authorization.lower().startswith("bearer ") and bool(authorization[7:].strip()),
            started=time.monotonic(),
        )
        try:
            request.body = self._read_body(handler)
            self._sleep_for_latency(request.path)
            self._apply_faults(request)
            self._authenticate(request, authorization)
            self._route(request)
        except _Answered:
            pass
        except ApiError as error:
            self._send_json(request, error.code, error.status())
        except (_Dropped, _Cut) as cut:
            if isinstance(cut, _Dropped):
                self._record(request, 0)
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                handler.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            handler.close_connection = True
        except Exception as error:  # a bug in the fake: say so the way an apiserver would
            if request.recorded:
                raise
            self._send_json(request, 500, status_object(500, "InternalError", f"fakeapi: {error!r}"))
        if not request.recorded:
            self._record(request, request.status)

    @staticmethod
    def _read_body(handler: _Handler) -> bytes:
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    handler.rfile.readline()
                    break
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
            return b"".join(chunks)
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length > 0 else b""

    def _record(self, request: _Request, status: int) -> None:
        """Log the request; called as its answer is committed, before the client can see it."""
        request.status = status
        request.recorded = True
        handler = request.handler
        record = RequestRecord(
            method=request.method,
            path=request.path,
            query=request.query,
            status=status,
            has_bearer_token=request.has_token,
            verb=request.verb,
            accept=handler.headers.get("Accept") or "",
            user_agent=handler.headers.get("User-Agent") or "",
            duration_ms=round((time.monotonic() - request.started) * 1000, 3),
            started_s=round(request.started - self._started_at, 6),
            fault=request.fault.describe() if request.fault is not None else "",
        )
        with self._requests_lock:
            self._requests.append(record)
            if self._request_log_file is not None:
                self._request_log_file.write(json.dumps(record.to_json()) + "\n")
                self._request_log_file.flush()

    def _sleep_for_latency(self, path: str) -> None:
        for rule in self.config.latency:
            if rule.path_regex is None or re.search(rule.path_regex, path):
                time.sleep(rule.ms / 1000)
                return

    def _apply_faults(self, request: _Request) -> None:
        with self._faults_lock:
            fault = next(
                (f for f in self._faults if f.applies(request.method, request.path, request.query)), None
            )
            if fault is None:
                return
            fault.served += 1
        request.fault = fault
        if fault.mid_body:
            return  # the real answer is served, then cut short by _send_bytes / _send_stream
        if fault.drop_connection:
            raise _Dropped()
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.body is None:
            reason = _FAULT_REASONS.get(fault.status, "InternalError")
            self._send_json(
                request,
                fault.status,
                status_object(fault.status, reason, f"fakeapi: injected fault ({reason})"),
                headers,
            )
        elif isinstance(fault.body, str):
            self._send_bytes(request, fault.status, fault.body.encode(), "text/plain; charset=utf-8", headers)
        else:
            self._send_json(request, fault.status, fault.body, headers)
        raise _Answered()

    def _authenticate(self, request: _Request, authorization: str) -> None:
        expected = self.config.token
        if expected is None:
            return
        if not authorization:
            if request.path in PUBLIC_PATHS:
                return  # anonymous may read these on a real cluster
            raise ApiError(401, "Unauthorized", "Unauthorized")
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or presented.strip() != expected:
            raise ApiError(401, "Unauthorized", "Unauthorized")

    # -- routing ----------------------------------------------------------------------------

    def _route(self, request: _Request) -> None:
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if request.method in ("GET", "HEAD"):
            if path == "/version":
                return self._send_json(request, 200, self._version())
            if path in ("/healthz", "/livez", "/readyz"):
                return self._send_bytes(request, 200, b"ok", "text/plain; charset=utf-8")
            if path == "/api":
                return self._discovery_root(request, legacy=True)
            if path == "/apis":
                return self._discovery_root(request, legacy=False)
            if parts == ["api", "v1"]:
                return self._send_json(request, 200, self._resource_list("", "v1"))
            if len(parts) == 2 and parts[0] == "apis":
                return self._send_json(request, 200, self._api_group(parts[1]))
            if len(parts) == 3 and parts[0] == "apis":
                self._require_group_version(parts[1], parts[2])
                return self._send_json(request, 200, self._resource_list(parts[1], parts[2]))
        if parts[:2] == ["api", "v1"]:
            return self._resource_request(request, "", "v1", parts[2:])
        if len(parts) >= 4 and parts[0] == "apis":
            self._require_group_version(parts[1], parts[2])
            return self._resource_request(request, parts[1], parts[2], parts[3:])
        if request.method in MUTATING_METHODS:
            raise _method_not_allowed()
        raise not_found_path()

    # -- discovery --------------------------------------------------------------------------

    def _version(self) -> JSON:
        git_version = self.config.server_version
        match = re.match(r"v?(\d+)\.(\d+)", git_version)
        major, minor = (match.group(1), match.group(2)) if match else ("1", "0")
        return {
            "major": major,
            "minor": minor,
            "emulationMajor": major,
            "emulationMinor": minor,
            "minCompatibilityMajor": major,
            "minCompatibilityMinor": str(max(int(minor) - 1, 0)),
            "gitVersion": git_version,
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.25.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    def served_resources(self) -> list[ResourceType]:
        """Every resource the server answers for, after `remove_groups`."""
        return [r for r in self.scenario.resources.values() if r.group not in self.config.remove_groups]

    def served_groups(self) -> dict[str, list[str]]:
        """group -> its served versions, preferred first, in the order discovery lists them."""
        versions: dict[str, set[str]] = {}
        for resource in self.served_resources():
            versions.setdefault(resource.group, set()).update(resource.versions)
        ordered = [g for g in BUILTIN_GROUP_ORDER if g in versions]
        ordered += sorted(g for g in versions if g not in BUILTIN_GROUP_ORDER)
        return {g: sorted(versions[g], key=version_priority) for g in ordered}

    def _require_group_version(self, group: str, version: str) -> None:
        if version not in self.served_groups().get(group, ()) or group == "":
            raise not_found_path()

    def _api_group(self, group: str) -> JSON:
        versions = self.served_groups().get(group)
        if not versions or group == "":
            raise not_found_path()
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": entries,
            "preferredVersion": entries[0],
        }

    def _resources_at(self, group: str, version: str) -> list[ResourceType]:
        return sorted(
            (r for r in self.served_resources() if r.group == group and version in r.versions),
            key=lambda r: r.plural,
        )

    def _resource_list(self, group: str, version: str) -> JSON:
        resources: list[JSON] = []
        for resource in self._resources_at(group, version):
            entry: JSON = {
                "name": resource.plural,
                "singularName": resource.singular_name,
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": list(resource.verbs),
            }
            if resource.short_names:
                entry["shortNames"] = list(resource.short_names)
            if resource.categories:
                entry["categories"] = list(resource.categories)
            resources.append(entry)
            for sub in resource.subresources:
                resources.append(
                    {
                        "name": f"{resource.plural}/{sub}",
                        "singularName": "",
                        "namespaced": resource.namespaced,
                        "kind": resource.kind,
                        "verbs": list(_subresource_verbs(sub)),
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

    def _discovery_root(self, request: _Request, legacy: bool) -> None:
        aggregated = self._wants_aggregated(request.accept)
        if aggregated is not None:
            return self._send_json(
                request,
                200,
                self._aggregated_discovery(legacy, aggregated),
                content_type=f"application/json;g=apidiscovery.k8s.io;v={aggregated};as=APIGroupDiscoveryList",
                extra_headers={"Vary": "Accept"},
            )
        if legacy:
            body: JSON = {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
                ],
            }
        else:
            groups = []
            for group in self.served_groups():
                if group:
                    entry = self._api_group(group)
                    groups.append({k: v for k, v in entry.items() if k not in ("kind", "apiVersion")})
            body = {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        self._send_json(request, 200, body, extra_headers={"Vary": "Accept"})

    def _wants_aggregated(self, accept: list[MediaType]) -> str | None:
        """The aggregated-discovery version to answer with, in the client's order of preference."""
        for media in accept:
            if media.is_json and media.params.get("as") == "APIGroupDiscoveryList":
                version = media.params.get("v")
                if (
                    self.config.aggregated_discovery
                    and media.params.get("g") == "apidiscovery.k8s.io"
                    and version in AGGREGATED_DISCOVERY_VERSIONS
                ):
                    return version
                continue
            if media.is_json and not media.params.get("as"):
                return None
        return None

    def _aggregated_discovery(self, legacy: bool, version: str) -> JSON:
        items = []
        for group, versions in self.served_groups().items():
            if (group == "") != legacy:
                continue
            version_entries = []
            for group_version in versions:
                resources = []
                for resource in self._resources_at(group, group_version):
                    entry: JSON = {
                        "resource": resource.plural,
                        "responseKind": {"group": group, "version": group_version, "kind": resource.kind},
                        "scope": "Namespaced" if resource.namespaced else "Cluster",
                        "singularResource": resource.singular_name,
                        "verbs": list(resource.verbs),
                    }
                    if resource.short_names:
                        entry["shortNames"] = list(resource.short_names)
                    if resource.categories:
                        entry["categories"] = list(resource.categories)
                    if resource.subresources:
                        entry["subresources"] = [
                            {
                                "subresource": sub,
                                "responseKind": {
                                    "group": group,
                                    "version": group_version,
                                    "kind": resource.kind,
                                },
                                "verbs": list(_subresource_verbs(sub)),
                            }
                            for sub in resource.subresources
                        ]
                    resources.append(entry)
                version_entries.append(
                    {"version": group_version, "resources": resources, "freshness": "Current"}
                )
            metadata: JSON = {"creationTimestamp": None}
            if group:
                metadata["name"] = group
            items.append({"metadata": metadata, "versions": version_entries})
        return {
            "kind": "APIGroupDiscoveryList",
            "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {},
            "items": items,
        }

    # -- resources --------------------------------------------------------------------------

    def _resource_request(self, request: _Request, group: str, version: str, rest: list[str]) -> None:
        resource, namespace, name, subresource = self._parse_resource_path(group, version, rest)
        method = request.method
        if method in ("GET", "HEAD"):
            watching = request.params.get("watch") in ("true", "1")
            request.verb = "watch" if watching else ("get" if name else "list")
        else:
            request.verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(
                method, "delete" if name else "deletecollection"
            )
        if (group, resource.plural) in REVIEW_RESOURCES and method == "POST" and not name:
            return self._review(request, resource)
        self._authorize(request.verb, resource, subresource, namespace, name)
        if method not in ("GET", "HEAD"):
            raise _method_not_allowed()
        if subresource == "log":
            return self._pod_log(request, namespace, name)
        if name:
            stored = self._find(resource, namespace, name)
            if subresource and subresource not in resource.subresources:
                raise not_found_path()
            if subresource and subresource != "status":
                raise _method_not_allowed()
            return self._send_object(request, resource, version, stored)
        return self._list(request, resource, version, namespace)

    def _parse_resource_path(
        self, group: str, version: str, rest: list[str]
    ) -> tuple[ResourceType, str, str, str]:
        """(resource, namespace, name, subresource) of a path below /api/v1 or /apis/g/v."""
        served = {r.plural: r for r in self._resources_at(group, version)}
        namespace = ""
        if (
            rest
            and rest[0] == "namespaces"
            and len(rest) >= 3
            and rest[2] in served
            and served[rest[2]].namespaced
        ):
            namespace, rest = rest[1], rest[2:]
        if not rest or rest[0] not in served or len(rest) > 3:
            raise not_found_path()
        resource = served[rest[0]]
        name = rest[1] if len(rest) > 1 else ""
        subresource = rest[2] if len(rest) > 2 else ""
        if resource.namespaced and name and not namespace:
            raise not_found_path()  # /api/v1/pods/x is not a path
        if subresource and subresource not in resource.subresources:
            raise not_found_path()
        return resource, namespace, name, subresource

    def allows(
        self, verb: str, group: str, resource: str, subresource: str = "", namespace: str = "", name: str = ""
    ) -> tuple[bool, ForbidRule | None]:
        """Whether the configured user may do this, and the forbid rule that says no (None when
        the RBAC objects, if any, grant nothing that covers it)."""
        allowed, rule, _ = self.decide(verb, group, resource, subresource, namespace, name)
        return allowed, rule

    def decide(
        self, verb: str, group: str, resource: str, subresource: str = "", namespace: str = "", name: str = ""
    ) -> tuple[bool, ForbidRule | None, str]:
        """(allowed, the forbid rule that denies, the reason an access review gives)."""
        known = self.scenario.resources.get((group, resource))
        namespaced = known.namespaced if known else True
        if (group, resource) == ("", "namespaces") and name and not namespace:
            namespace = name  # the apiserver's RequestInfo: a Namespace lives in itself
        for rule in self.config.forbid:
            if rule.matches(verb, group, resource, subresource, namespace, namespaced):
                return False, rule, f"fakeapi: denied by {rule.describe()}"
        if self.config.rbac is None:
            return True, None, "fakeapi: no forbid rule matches"
        attrs = Attributes(verb, group, resource, subresource, namespace, name)
        allowed, reason = self.config.rbac.authorize(self.config.user, self.config.groups, attrs)
        return allowed, None, reason

    def _authorize(
        self, verb: str, resource: ResourceType, subresource: str, namespace: str, name: str
    ) -> None:
        allowed, _ = self.allows(verb, resource.group, resource.plural, subresource, namespace, name)
        if allowed:
            return
        what = f"{resource.plural}/{subresource}" if subresource else resource.plural
        subject = f'{resource.group_resource} "{name}"' if name else resource.group_resource
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        message = (
            f'{subject} is forbidden: User "{self.config.user}" cannot {verb} resource "{what}" '
            f'in API group "{resource.group}" {where}'
        )
        details: JSON = {"name": name} if name else {}
        if resource.group:
            details["group"] = resource.group
        details["kind"] = resource.plural
        raise ApiError(403, "Forbidden", message, details)

    def _find(self, resource: ResourceType, namespace: str, name: str) -> StoredObject:
        stored = self.scenario.by_key.get((resource.group, resource.plural, namespace, name))
        if stored is not None and self._visible(stored):
            return stored
        details: JSON = {"name": name}
        if resource.group:
            details["group"] = resource.group
        details["kind"] = resource.plural
        raise ApiError(404, "NotFound", f'{resource.group_resource} "{name}" not found', details)

    def _visible(self, stored: StoredObject) -> bool:
        """CRDs of a removed group are gone too: that is what "CRD not installed" looks like."""
        if stored.resource.plural == "customresourcedefinitions":
            return (stored.body.get("spec") or {}).get("group") not in self.config.remove_groups
        return True

    def _served_body(self, stored: StoredObject, version: str) -> JSON:
        body = dict(stored.body)
        group = stored.resource.group
        body["apiVersion"] = f"{group}/{version}" if group else version
        return body

    def _list(self, request: _Request, resource: ResourceType, version: str, namespace: str) -> None:
        try:
            labels = parse_label_selector(request.params.get("labelSelector"))
        except ValueError as error:
            raise bad_request(str(error)) from None
        try:
            fields = parse_field_selector(request.params.get("fieldSelector"))
        except ValueError as error:
            raise bad_request(str(error)) from None
        supported = {"metadata.name", "metadata.namespace", *resource.field_selectors}
        for requirement in fields:
            if requirement.field not in supported:
                raise bad_request(f"field label not supported: {requirement.field}")
        matching = [
            stored
            for stored in self.scenario.objects.get((resource.group, resource.plural), [])
            if (not namespace or stored.namespace == namespace)
            and self._visible(stored)
            and labels.matches((stored.body.get("metadata") or {}).get("labels"))
            and all((field_value(stored.body, f.field) == f.value) != f.negated for f in fields)
        ]
        start_after = self._decode_continue(request.params.get("continue"))
        if start_after is not None:
            matching = [stored for stored in matching if stored.sort_key > start_after]
        limit = _positive_int(request.params.get("limit"))
        if limit and self.config.page_size_max:
            limit = min(limit, self.config.page_size_max)
        list_meta: JSON = {"resourceVersion": str(self.scenario.resource_version)}
        page = matching
        if limit and len(matching) > limit:
            page = matching[:limit]
            list_meta["continue"] = self._encode_continue(page[-1].sort_key)
            if labels.empty and not fields:
                # Like the real apiserver: only without selectors is the remainder known.
                list_meta["remainingItemCount"] = len(matching) - limit
        if request.verb == "watch":
            return self._watch(request, resource, version, page)
        representation = self._representation(request.accept, list_kind=True)
        if representation[0] == "Table":
            return self._send_json(
                request, 200, self._table(request, resource, version, page, list_meta, representation[1])
            )
        if representation[0] == "PartialObjectMetadataList":
            body = {
                "kind": "PartialObjectMetadataList",
                "apiVersion": f"meta.k8s.io/{representation[1]}",
                "metadata": list_meta,
                "items": [self._partial(s, representation[1]) for s in page],
            }
            return self._send_json(request, 200, body)
        body = {
            "kind": f"{resource.kind}List",
            "apiVersion": f"{resource.group}/{version}" if resource.group else version,
            "metadata": list_meta,
            "items": [self._served_body(s, version) for s in page],
        }
        self._send_json(request, 200, body)

    def _send_object(
        self, request: _Request, resource: ResourceType, version: str, stored: StoredObject
    ) -> None:
        representation = self._representation(request.accept, list_kind=False)
        if representation[0] == "Table":
            meta = {"resourceVersion": stored.body["metadata"].get("resourceVersion", "")}
            return self._send_json(
                request, 200, self._table(request, resource, version, [stored], meta, representation[1])
            )
        if representation[0] == "PartialObjectMetadata":
            return self._send_json(request, 200, self._partial(stored, representation[1]))
        self._send_json(request, 200, self._served_body(stored, version))

    def _representation(self, accept: list[MediaType], list_kind: bool) -> tuple[str, str]:
        """("Table"|"PartialObjectMetadata[List]"|"Object", meta.k8s.io version) per the Accept header."""
        for media in accept:
            if not media.is_json:
                continue
            as_kind = media.params.get("as")
            if not as_kind:
                return ("Object", "")
            if media.params.get("g") != "meta.k8s.io" or media.params.get("v") not in ("v1", "v1beta1"):
                continue
            wanted = {"Table", "PartialObjectMetadataList" if list_kind else "PartialObjectMetadata"}
            if as_kind in wanted:
                return (as_kind, media.params["v"])
        kinds = ", ".join(m.type for m in accept)
        raise ApiError(
            406,
            "NotAcceptable",
            f"only the following media types are accepted: application/json, application/json;as=Table;g=meta.k8s.io;v=v1 (asked for {kinds})",
        )

    def _partial(self, stored: StoredObject, meta_version: str) -> JSON:
        return {
            "kind": "PartialObjectMetadata",
            "apiVersion": f"meta.k8s.io/{meta_version}",
            "metadata": stored.body.get("metadata") or {},
        }

    def _table(
        self,
        request: _Request,
        resource: ResourceType,
        version: str,
        items: list[StoredObject],
        list_meta: JSON,
        meta_version: str,
    ) -> JSON:
        include = request.params.get("includeObject", "Metadata")
        rows = []
        for stored in items:
            row: JSON = {"cells": table_cells(resource, stored.body, self.now)}
            if include == "Object":
                row["object"] = self._served_body(stored, version)
            elif include != "None":
                row["object"] = self._partial(stored, meta_version)
            rows.append(row)
        return {
            "kind": "Table",
            "apiVersion": f"meta.k8s.io/{meta_version}",
            "metadata": list_meta,
            "columnDefinitions": table_columns(resource),
            "rows": rows,
        }

    def _watch(
        self, request: _Request, resource: ResourceType, version: str, items: list[StoredObject]
    ) -> None:
        """The initial ADDED events, then the stream ends: the scenario never changes."""
        events = (
            json.dumps({"type": "ADDED", "object": self._served_body(stored, version)}).encode() + b"\n"
            for stored in items
        )
        self._send_stream(request, 200, events, "application/json")

    @staticmethod
    def _encode_continue(last_key: str) -> str:
        raw = json.dumps({"v": "meta.k8s.io/v1", "start": last_key + "\x00"}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_continue(token: str | None) -> str | None:
        if not token:
            return None
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            return str(raw["start"]).rstrip("\x00")
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise bad_request(f"continue key is not valid: {token!r}") from None

    # -- pod logs ---------------------------------------------------------------------------

    def pod_containers(self, namespace: str, pod_name: str) -> list[str] | None:
        """The pod's containers (from its spec, else its log files), or None if the pod is unknown."""
        pod = self.scenario.by_key.get(("", "pods", namespace, pod_name))
        if pod is not None:
            return [c.get("name", "") for c in (pod.body.get("spec") or {}).get("containers") or []]
        files = self.scenario.logs.get((namespace, pod_name))
        return sorted(files) if files else None

    def _init_containers(self, namespace: str, pod_name: str) -> list[str]:
        pod = self.scenario.by_key.get(("", "pods", namespace, pod_name))
        spec = (pod.body.get("spec") or {}) if pod is not None else {}
        return [
            c.get("name", "")
            for c in (spec.get("initContainers") or []) + (spec.get("ephemeralContainers") or [])
        ]

    def _pod_log(self, request: _Request, namespace: str, pod_name: str) -> None:
        containers = self.pod_containers(namespace, pod_name)
        if containers is None:
            raise ApiError(
                404, "NotFound", f'pods "{pod_name}" not found', {"name": pod_name, "kind": "pods"}
            )
        init_containers = self._init_containers(namespace, pod_name)
        container = request.params.get("container", "")
        if not container:
            if len(containers) != 1:
                message = f"a container name must be specified for pod {pod_name}, choose one of: [{' '.join(containers)}]"
                if init_containers:
                    message += f" or one of the init containers: [{' '.join(init_containers)}]"
                raise bad_request(message)
            container = containers[0]
        elif container not in containers and container not in init_containers:
            raise bad_request(f"container {container} is not valid for pod {pod_name}")
        previous = request.params.get("previous") in ("true", "1")
        files = (self.scenario.previous_logs if previous else self.scenario.logs).get(
            (namespace, pod_name), {}
        )
        if previous and container not in files:
            raise bad_request(f'previous terminated container "{container}" in pod "{pod_name}" not found')
        path = files.get(container)
        text = path.read_text(encoding="utf-8", errors="replace") if path else ""
        lines = text.splitlines(keepends=True)
        tail = request.params.get("tailLines")
        if tail is not None:
            count = _non_negative_int(tail, "tailLines")
            lines = lines[-count:] if count else []
        cutoff = self._log_cutoff(request.params)
        timestamps = request.params.get("timestamps") in ("true", "1")
        selected: list[str] = []
        last_seen: dt.datetime | None = None
        for line in lines:
            stamp = log_line_time(line)
            if stamp is not None:
                last_seen = stamp
            if cutoff is not None and stamp is not None and stamp < cutoff:
                continue
            if timestamps:
                line = f"{format_time_nano(stamp or last_seen or self.now)} {line}"
            selected.append(line)
        payload = "".join(selected).encode()
        limit = request.params.get("limitBytes")
        if limit is not None:
            payload = payload[: _positive_int(limit, "limitBytes") or 0]
        self._send_stream(
            request, 200, (payload[i : i + 4096] for i in range(0, len(payload), 4096)), "text/plain"
        )

    def _log_cutoff(self, params: Mapping[str, str]) -> dt.datetime | None:
        if params.get("sinceSeconds"):
            seconds = _positive_int(params["sinceSeconds"], "sinceSeconds")
            return self.now - dt.timedelta(seconds=seconds or 0)
        if params.get("sinceTime"):
            try:
                return parse_time(params["sinceTime"])
            except ValueError:
                raise bad_request(f"invalid sinceTime: {params['sinceTime']!r}") from None
        return None

    # -- access reviews ---------------------------------------------------------------------

    def _review(self, request: _Request, resource: ResourceType) -> None:
        content_type = (
            (request.handler.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        )
        if content_type == PROTOBUF_MEDIA_TYPE:
            try:
                review = decode_review_protobuf(request.body)
            except (ValueError, IndexError):
                raise bad_request("fakeapi: could not decode the protobuf review body") from None
        else:
            try:
                review = json.loads(request.body or b"{}")
            except ValueError:
                raise bad_request("fakeapi: the request body is neither JSON nor protobuf") from None
        if not isinstance(review, dict):
            raise bad_request("the request body must be a JSON object")
        spec = review.get("spec") or {}
        metadata = {"creationTimestamp": None}
        if resource.plural == "selfsubjectaccessreviews":
            status = self._access_review(spec)
        elif resource.plural == "selfsubjectrulesreviews":
            status = self._rules_review(spec.get("namespace") or "")
        else:
            status = {"userInfo": {"username": self.config.user, "groups": list(self.config.groups)}}
            spec = None
        body: JSON = {"kind": resource.kind, "apiVersion": f"{resource.group}/v1", "metadata": metadata}
        if spec is not None:
            body["spec"] = spec
        body["status"] = status
        self._send_json(request, 201, body)

    def _access_review(self, spec: Mapping[str, Any]) -> JSON:
        attributes = spec.get("resourceAttributes")
        if not attributes:
            return {"allowed": True, "reason": "fakeapi: non-resource URLs are always allowed"}
        verb = attributes.get("verb") or ""
        group, resource = attributes.get("group") or "", attributes.get("resource") or ""
        if verb not in READ_VERBS and not (verb == "create" and (group, resource) in REVIEW_RESOURCES):
            return {"allowed": False, "reason": "fakeapi: the server is read-only"}
        allowed, _, reason = self.decide(
            verb,
            group,
            resource,
            attributes.get("subresource") or "",
            attributes.get("namespace") or "",
            attributes.get("name") or "",
        )
        return {"allowed": allowed, "reason": reason} if reason else {"allowed": allowed}

    def _rules_review(self, namespace: str) -> JSON:
        """What the user may do in `namespace`, as the allow-list RBAC would express it."""
        if self.config.rbac is not None:
            return self._rbac_rules_review(namespace)
        fully_allowed: dict[str, list[str]] = {}
        partial: list[JSON] = []
        for resource in sorted(self.served_resources(), key=lambda r: (r.group, r.plural)):
            if not set(resource.verbs) & set(READ_VERBS):
                continue
            if namespace and not resource.namespaced:
                continue
            for sub in ("", *resource.subresources):
                if sub and sub not in ("log", "status"):
                    continue
                verbs = [
                    v
                    for v in (READ_VERBS if not sub else ("get",))
                    if self.allows(v, resource.group, resource.plural, sub, namespace)[0]
                ]
                name = f"{resource.plural}/{sub}" if sub else resource.plural
                if (sub == "" and len(verbs) == len(READ_VERBS)) or (sub and verbs):
                    fully_allowed.setdefault(resource.group, []).append(name)
                elif verbs:
                    partial.append({"verbs": verbs, "apiGroups": [resource.group], "resources": [name]})
        rules: list[JSON] = [dict(r) for r in BASIC_USER_RULES]
        for group, names in fully_allowed.items():
            plain = [n for n in names if "/" not in n]
            subs = [n for n in names if "/" in n]
            if plain:
                rules.append({"verbs": list(READ_VERBS), "apiGroups": [group], "resources": plain})
            if subs:
                rules.append({"verbs": ["get"], "apiGroups": [group], "resources": subs})
        rules.extend(partial)
        return {"resourceRules": rules, "nonResourceRules": [dict(DISCOVERY_RULE)], "incomplete": False}

    def _rbac_rules_review(self, namespace: str) -> JSON:
        """The rules the RBAC objects grant in `namespace` (cluster-wide ones included), as a
        real server lists them; forbid rules cannot be expressed as rules: then incomplete."""
        assert self.config.rbac is not None
        granted = self.config.rbac.rules_in(self.config.user, self.config.groups, namespace)
        body: JSON = {
            "resourceRules": [dict(r) for r in BASIC_USER_RULES] + [r.to_mapping() for r in granted],
            "nonResourceRules": [dict(DISCOVERY_RULE)],
            "incomplete": bool(self.config.forbid),
        }
        if self.config.forbid:
            body["evaluationError"] = "fakeapi: forbid rules also apply and are not listed"
        return body

    # -- responses --------------------------------------------------------------------------

    def _send_json(
        self,
        request: _Request,
        code: int,
        body: Any,
        extra_headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        self._send_bytes(request, code, payload, content_type, extra_headers)

    def _send_bytes(
        self,
        request: _Request,
        code: int,
        payload: bytes,
        content_type: str,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        handler = request.handler
        self._record(request, code)
        cut = self._mid_body(request)
        sent = payload
        if cut is not None:
            sent = payload[: int(len(payload) * cut.at)]
        handler.send_response(code)
        handler.send_header("Content-Type", content_type)
        handler.send_header(
            "Content-Length", str(len(sent if cut and cut.mid_body == "truncate" else payload))
        )
        handler.send_header("Cache-Control", "no-cache, private")
        for name, value in (extra_headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        if request.method != "HEAD":
            handler.wfile.write(sent)
        if cut is not None and cut.mid_body != "truncate":
            self._cut_short(cut)

    def _send_stream(self, request: _Request, code: int, chunks: Iterable[bytes], content_type: str) -> None:
        """A chunked body, written piece by piece so a client can read it as it comes."""
        handler = request.handler
        self._record(request, code)
        handler.send_response(code)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Cache-Control", "no-cache, private")
        handler.end_headers()
        if request.method == "HEAD":
            return
        cut = self._mid_body(request)
        if cut is not None:
            payload = b"".join(chunks)
            chunks = [payload[: int(len(payload) * cut.at)]]
        for chunk in chunks:
            if chunk:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if cut is not None and cut.mid_body != "truncate":
            self._cut_short(cut)
        handler.wfile.write(b"0\r\n\r\n")

    @staticmethod
    def _mid_body(request: _Request) -> Fault | None:
        fault = request.fault
        return fault if fault is not None and fault.mid_body and request.method != "HEAD" else None

    def _cut_short(self, fault: Fault) -> None:
        """After part of a body went out: hold the connection (stall), then reset it."""
        if fault.mid_body == "stall":
            self._stopping.wait(fault.stall_s)
        raise _Cut()


class _Answered(Exception):
    """A fault already wrote its response; nothing more to send."""


def _method_not_allowed() -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}
    )


def _subresource_verbs(sub: str) -> tuple[str, ...]:
    return {
        "log": ("get",),
        "status": ("get", "patch", "update"),
        "scale": ("get", "patch", "update"),
        "exec": ("create", "get"),
        "attach": ("create", "get"),
        "portforward": ("create", "get"),
        "proxy": ("create", "delete", "get", "patch", "update"),
        "binding": ("create",),
        "eviction": ("create",),
        "token": ("create",),
        "ephemeralcontainers": ("get", "patch", "update"),
        "resize": ("get", "patch", "update"),
        "finalize": ("update",),
    }.get(sub, ("get",))


def _positive_int(text: str | None, name: str = "limit") -> int | None:
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"invalid {name}: {text!r}") from None
    return value if value > 0 else None


def _non_negative_int(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"invalid {name}: {text!r}") from None
    if value < 0:
        raise bad_request(f"{name}: must be greater than or equal to 0")
    return value
