"""Which waypoint a Service is bound to, and why (reference section 2.1)."""

from __future__ import annotations

from dataclasses import dataclass

from waypoint_doctor.collect.view import Obj, obj_labels, obj_namespace
from waypoint_doctor.mesh.labels import USE_WAYPOINT, USE_WAYPOINT_NAMESPACE


@dataclass(frozen=True)
class WaypointBinding:
    """The outcome of istiod's precedence rules for one Service."""

    source: str  # "service", "namespace" or "none"
    waypoint_name: str | None = None
    waypoint_namespace: str | None = None
    opted_out: bool = False  # the service (or namespace) says `none`
    label_value: str | None = None

    @property
    def bound(self) -> bool:
        return self.waypoint_name is not None

    @property
    def ref(self) -> str | None:
        return f"{self.waypoint_namespace}/{self.waypoint_name}" if self.waypoint_name else None


def _from_labels(labels: dict | object, default_ns: str, source: str) -> WaypointBinding | None:
    if not isinstance(labels, dict):
        return None
    value = labels.get(USE_WAYPOINT)
    if not isinstance(value, str):
        return None
    if value.strip() in ("none", "~", "*/none", ""):
        return WaypointBinding(source=source, opted_out=True, label_value=value)
    ns = labels.get(USE_WAYPOINT_NAMESPACE)
    return WaypointBinding(
        source=source,
        waypoint_name=value,
        waypoint_namespace=ns if isinstance(ns, str) and ns else default_ns,
        label_value=value,
    )


def resolve_waypoint_binding(service: Obj, namespace: Obj | None) -> WaypointBinding:
    """The Service's own label wins (even `none`); only without it does the namespace label apply."""
    svc_ns = obj_namespace(service)
    own = _from_labels(dict(obj_labels(service)), svc_ns, "service")
    if own is not None:
        return own
    if namespace is not None:
        inherited = _from_labels(dict(obj_labels(namespace)), svc_ns, "namespace")
        if inherited is not None:
            return inherited
    return WaypointBinding(source="none")
