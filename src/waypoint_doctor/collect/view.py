"""The collected view of a cluster: read once, indexed, then only read by checks.

A `ClusterView` is what every check sees. It knows, for each resource kind, whether it was
collected at all, and if a read failed, why (so a check can `skip` with that reason instead
of mistaking "could not read" for "there is none").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Unreadable:
    """Something the collector tried to read and could not."""

    resource: str  # resource key, e.g. "pods" or "gateways.gateway.networking.k8s.io"
    reason: str  # Forbidden, NotFound, Unauthorized, Timeout, Error, NotCollected
    verb: str = "list"
    namespace: str | None = None  # None: cluster-wide
    subresource: str | None = None  # e.g. "log"
    name: str | None = None
    message: str = ""

    def describe(self) -> str:
        what = self.resource + (f"/{self.subresource}" if self.subresource else "")
        where = f" in namespace {self.namespace}" if self.namespace else ""
        if self.reason == "Forbidden":
            text = f"not permitted to {self.verb} {what}{where} (RBAC: {self.verb} {what})"
        elif self.reason == "NotFound" and not self.name:
            text = f"{what} is not served by this cluster (CRD not installed?)"
        elif self.reason == "NotCollected":
            text = f"{what}{where} is not in the snapshot"
        else:
            text = f"could not {self.verb} {what}{where}: {self.reason}"
        if self.message and self.reason not in ("Forbidden", "NotCollected"):
            text += f" ({self.message})"
        return text

    def covers(self, resource: str, namespace: str | None, subresource: str | None) -> bool:
        if self.resource != resource or self.subresource != subresource:
            return False
        return self.namespace is None or namespace is None or self.namespace == namespace


@dataclass(frozen=True)
class SourceInfo:
    kind: str  # "live" or "snapshot"
    context: str | None = None
    server: str | None = None
    path: str | None = None
    taken_at: datetime | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"kind": self.kind}
        for key in ("context", "server", "path"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


@dataclass(frozen=True)
class LogKey:
    namespace: str
    pod: str
    container: str


def _meta(obj: Obj) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def obj_name(obj: Obj) -> str:
    name = _meta(obj).get("name")
    return name if isinstance(name, str) else ""


def obj_namespace(obj: Obj) -> str:
    ns = _meta(obj).get("namespace")
    return ns if isinstance(ns, str) else ""


def obj_labels(obj: Obj) -> Mapping[str, str]:
    labels = _meta(obj).get("labels")
    return labels if isinstance(labels, Mapping) else {}


def obj_annotations(obj: Obj) -> Mapping[str, str]:
    ann = _meta(obj).get("annotations")
    return ann if isinstance(ann, Mapping) else {}


def dig(obj: Any, *path: str | int, default: Any = None) -> Any:
    """Walk nested dicts/lists without raising on malformed objects."""
    cur = obj
    for step in path:
        if isinstance(step, int):
            if not isinstance(cur, Sequence) or isinstance(cur, str) or not -len(cur) <= step < len(cur):
                return default
            cur = cur[step]
        else:
            if not isinstance(cur, Mapping) or step not in cur:
                return default
            cur = cur[step]
    return cur


@dataclass(frozen=True)
class ViewData:
    """The raw material a view is built from; collectors fill one of these."""

    objects: Mapping[str, Sequence[Obj]] = field(default_factory=dict)
    collected: frozenset[str] = frozenset()
    unreadable: tuple[Unreadable, ...] = ()
    logs: Mapping[LogKey, str] = field(default_factory=dict)
    istioctl: Mapping[str, str] = field(default_factory=dict)
    source: SourceInfo = SourceInfo(kind="live")
    # group -> versions served, from discovery; None when unknown (e.g. a hand-made snapshot)
    api_groups: Mapping[str, tuple[str, ...]] | None = None
    server_version: str | None = None
    notes: tuple[str, ...] = ()


class ClusterView:
    """Indexed, read-only access to what was collected."""

    def __init__(self, data: ViewData) -> None:
        self._data = data
        index: dict[str, dict[str, dict[str, Obj]]] = {}
        for resource, objs in data.objects.items():
            by_ns = index.setdefault(resource, {})
            for obj in objs:
                by_ns.setdefault(obj_namespace(obj), {})[obj_name(obj)] = obj
        self._index = index
        self.logs: Mapping[LogKey, str] = MappingProxyType(dict(data.logs))
        self.istioctl: Mapping[str, str] = MappingProxyType(dict(data.istioctl))
        self.unreadable: tuple[Unreadable, ...] = tuple(data.unreadable)
        self.source = data.source
        self.api_groups = None if data.api_groups is None else MappingProxyType(dict(data.api_groups))
        self.server_version = data.server_version
        self.notes = data.notes
        self._derived: dict[object, Any] = {}

    def derived(self, key: object, factory: Any) -> Any:
        """A derivation computed once per view and shared by every target of a fleet scan.

        The view is immutable, so anything computed purely from it can be kept here
        (parsed policies, pods by identity); `factory()` runs on the first request.
        """
        if key not in self._derived:
            self._derived[key] = factory()
        return self._derived[key]

    # -- objects -----------------------------------------------------------------------------
    def list(self, resource: str, namespace: str | None = None) -> tuple[Obj, ...]:
        by_ns = self._index.get(resource, {})
        if namespace is not None:
            return tuple(by_ns.get(namespace, {}).values())
        return tuple(obj for objs in by_ns.values() for obj in objs.values())

    def get(self, resource: str, namespace: str | None, name: str) -> Obj | None:
        return self._index.get(resource, {}).get(namespace or "", {}).get(name)

    def names(self, resource: str, namespace: str | None = None) -> list[str]:
        return sorted(obj_name(o) for o in self.list(resource, namespace))

    def namespaces_with(self, resource: str) -> list[str]:
        return sorted(ns for ns, objs in self._index.get(resource, {}).items() if objs)

    # -- what could not be read --------------------------------------------------------------
    def collected(self, resource: str) -> bool:
        return resource in self._data.collected

    def unreadable_for(
        self, resource: str, namespace: str | None = None, subresource: str | None = None
    ) -> Unreadable | None:
        for entry in self.unreadable:
            if entry.covers(resource, namespace, subresource):
                return entry
        return None

    def missing(self, resource: str, namespace: str | None = None) -> Unreadable | None:
        """Why `resource` cannot be trusted as complete, or None when it can."""
        entry = self.unreadable_for(resource, namespace)
        if entry is not None:
            return entry
        if not self.collected(resource):
            return Unreadable(resource=resource, reason="NotCollected", namespace=namespace)
        return None

    def serves(self, group: str, version: str | None = None) -> bool | None:
        """Whether the API server serves `group` (at `version`); None when unknown."""
        if self.api_groups is None:
            return None
        versions = self.api_groups.get(group)
        if versions is None:
            return False
        return True if version is None else version in versions

    # -- logs ------------------------------------------------------------------------------
    def logs_of(self, namespace: str, pod: str) -> dict[str, str]:
        return {k.container: v for k, v in self.logs.items() if k.namespace == namespace and k.pod == pod}


def build_view(
    objects: Iterable[tuple[str, Obj]],
    *,
    collected: Iterable[str],
    **kwargs: Any,
) -> ClusterView:
    grouped: dict[str, list[Obj]] = {}
    for resource, obj in objects:
        grouped.setdefault(resource, []).append(obj)
    return ClusterView(ViewData(objects=grouped, collected=frozenset(collected), **kwargs))
