"""RBAC for the fake API server: Roles, ClusterRoles and their bindings, evaluated as the
Kubernetes RBAC authorizer does (plugin/pkg/auth/authorizer/rbac, rbac/v1 helpers).

An allow-list: a request is allowed when one rule of one role bound to the user (by name, by
one of its groups, or as its ServiceAccount) covers it; nothing is ever denied explicitly.

- A ClusterRoleBinding grants its ClusterRole everywhere: every namespace and the cluster scope.
- A RoleBinding grants its Role (same namespace) or a ClusterRole in its own namespace only; a
  cluster-wide request (`list pods` over all namespaces, `list nodes`) is never covered by one.
- A rule covers a request when its verbs, apiGroups and resources match (`*` matches all;
  `pods/log` names a subresource, `*/log` that subresource of any resource, `*` a resource and
  every subresource) and, when it lists resourceNames, the request names one of them (a list
  or watch has no name, so a rule with resourceNames never allows one).
- The Namespace object `GET /api/v1/namespaces/<ns>` is a request in namespace <ns>, as the
  apiserver's RequestInfo makes it: a Role in <ns> can allow reading its own Namespace.
- `aggregationRule` ClusterRoles gather the rules of the ClusterRoles their selectors match.

What every authenticated user may do on a real cluster without any binding (discovery, the
access reviews: the system:discovery, system:basic-user and system:public-info-viewer roles) is
not modelled here; the server allows those paths before asking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

RBAC_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Attributes:
    """What a request asks, in RBAC's terms (k8s.io/apiserver authorizer.Attributes)."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""  # "" for cluster-scoped requests and for all-namespaces lists
    name: str = ""

    @property
    def combined_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass(frozen=True)
class PolicyRule:
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> PolicyRule:
        def strings(key: str) -> tuple[str, ...]:
            value = raw.get(key) or ()
            if isinstance(value, str) or not isinstance(value, Sequence):
                raise ValueError(f"RBAC rule field {key} must be a list of strings, got {value!r}")
            return tuple(str(v) for v in value)

        return cls(
            verbs=strings("verbs"),
            api_groups=strings("apiGroups"),
            resources=strings("resources"),
            resource_names=strings("resourceNames"),
            non_resource_urls=strings("nonResourceURLs"),
        )

    def to_mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verbs": list(self.verbs)}
        if self.non_resource_urls:
            out["nonResourceURLs"] = list(self.non_resource_urls)
            return out
        out["apiGroups"] = list(self.api_groups)
        out["resources"] = list(self.resources)
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        return out

    def covers(self, attrs: Attributes) -> bool:
        if not ("*" in self.verbs or attrs.verb in self.verbs):
            return False
        if not ("*" in self.api_groups or attrs.group in self.api_groups):
            return False
        if not self._resource_matches(attrs):
            return False
        return not self.resource_names or attrs.name in self.resource_names

    def _resource_matches(self, attrs: Attributes) -> bool:
        combined = attrs.combined_resource
        for resource in self.resources:
            if resource in ("*", combined):
                return True
            if attrs.subresource and resource == f"*/{attrs.subresource}":
                return True
        return False


@dataclass(frozen=True)
class Grant:
    """The rules of one role, granted to its subjects, in one namespace or ("") everywhere."""

    rules: tuple[PolicyRule, ...]
    namespace: str  # "" for a ClusterRoleBinding
    binding: str  # e.g. 'ClusterRoleBinding "waypoint-doctor"'
    role: str  # e.g. 'ClusterRole "waypoint-doctor"'

    def applies_in(self, namespace: str) -> bool:
        return not self.namespace or self.namespace == namespace


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("name") or "")


def _namespace(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or "")


def _labels_match(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    wanted = selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in wanted.items()):
        return False
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or ()
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def subject_matches(subject: Mapping[str, Any], user: str, groups: Iterable[str], namespace: str) -> bool:
    """rbac/v1 appliesToUser: a User by name, a Group by membership, a ServiceAccount as the
    user `system:serviceaccount:<ns>:<name>` (its namespace defaulting to the binding's)."""
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user
    if kind == "Group":
        return name in set(groups)
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        return user == f"{SERVICE_ACCOUNT_PREFIX}{sa_namespace}:{name}"
    return False


class Rbac:
    """The RBAC objects of a (fake) cluster."""

    def __init__(self, objects: Iterable[Mapping[str, Any]]) -> None:
        self.roles: dict[tuple[str, str], tuple[PolicyRule, ...]] = {}
        self.cluster_roles: dict[str, tuple[PolicyRule, ...]] = {}
        self.bindings: list[Mapping[str, Any]] = []
        aggregated: list[tuple[str, Mapping[str, Any]]] = []
        labels: dict[str, Mapping[str, Any]] = {}
        for obj in objects:
            kind = obj.get("kind")
            if kind not in RBAC_KINDS:
                raise ValueError(f"not an RBAC object: kind {kind!r}")
            rules = tuple(PolicyRule.from_mapping(r) for r in obj.get("rules") or ())
            if kind == "Role":
                self.roles[(_namespace(obj) or "default", _name(obj))] = rules
            elif kind == "ClusterRole":
                self.cluster_roles[_name(obj)] = rules
                labels[_name(obj)] = (obj.get("metadata") or {}).get("labels") or {}
                if obj.get("aggregationRule"):
                    aggregated.append((_name(obj), obj["aggregationRule"]))
            else:
                self.bindings.append(obj)
        for name, rule in aggregated:
            gathered = list(self.cluster_roles[name])
            for selector in rule.get("clusterRoleSelectors") or ():
                for other, other_labels in labels.items():
                    if other != name and _labels_match(selector, other_labels):
                        gathered.extend(self.cluster_roles[other])
            self.cluster_roles[name] = tuple(gathered)

    @classmethod
    def load(cls, source: str | Path | Iterable[Mapping[str, Any]]) -> Rbac:
        """From a YAML file (several documents, or `kind: List`) or from objects."""
        if isinstance(source, str | Path):
            docs = [d for d in yaml.safe_load_all(Path(source).read_text(encoding="utf-8")) if d]
        else:
            docs = list(source)
        objects: list[Mapping[str, Any]] = []
        for doc in docs:
            if isinstance(doc, Mapping) and str(doc.get("kind", "")).endswith("List") and "items" in doc:
                objects.extend(doc.get("items") or ())
            elif isinstance(doc, Mapping):
                objects.append(doc)
        return cls(objects)

    def grants(self, user: str, groups: Iterable[str]) -> list[Grant]:
        groups = tuple(groups)
        out: list[Grant] = []
        for binding in self.bindings:
            namespace = _namespace(binding) if binding.get("kind") == "RoleBinding" else ""
            subjects = binding.get("subjects") or ()
            if not any(subject_matches(s, user, groups, namespace) for s in subjects):
                continue
            ref = binding.get("roleRef") or {}
            ref_kind, ref_name = ref.get("kind"), str(ref.get("name") or "")
            if ref_kind == "ClusterRole":
                rules = self.cluster_roles.get(ref_name, ())
            elif ref_kind == "Role" and namespace:
                rules = self.roles.get((namespace, ref_name), ())
            else:
                rules = ()
            out.append(
                Grant(
                    rules=rules,
                    namespace=namespace,
                    binding=f'{binding.get("kind")} "{_name(binding)}"'
                    + (f' in namespace "{namespace}"' if namespace else ""),
                    role=f'{ref_kind} "{ref_name}"',
                )
            )
        return out

    def authorize(self, user: str, groups: Iterable[str], attrs: Attributes) -> tuple[bool, str]:
        """(allowed, reason) with the apiserver's wording for an allow."""
        for grant in self.grants(user, groups):
            if not grant.applies_in(attrs.namespace):
                continue
            if any(rule.covers(attrs) for rule in grant.rules):
                return True, f"RBAC: allowed by {grant.binding} of {grant.role} to {user}"
        return False, ""

    def rules_in(self, user: str, groups: Iterable[str], namespace: str) -> list[PolicyRule]:
        """What a SelfSubjectRulesReview for `namespace` lists: every rule granted there."""
        out: list[PolicyRule] = []
        for grant in self.grants(user, groups):
            if grant.applies_in(namespace):
                out.extend(r for r in grant.rules if not r.non_resource_urls)
        return out
