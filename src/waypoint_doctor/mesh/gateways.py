"""Waypoint Gateways as istiod reads them (reference sections 1.1, 1.2, 1.5, 2.1).

Listener rules follow pilot/pkg/config/kube/gateway (`unexpectedWaypointListener`: every
listener of a mesh-controller Gateway must be port 15008 / protocol `HBONE`), attachment rules
follow ambient/waypoints.go (`makeAllowedRoutes`: the HBONE listener's `allowedRoutes` decide
which namespaces may bind; no listener or no `allowedRoutes` means `Same`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from waypoint_doctor.collect.view import Obj, dig, obj_annotations, obj_labels, obj_namespace
from waypoint_doctor.mesh.labels import HBONE_PORT, MESH_CONTROLLER, WAYPOINT_CLASS, WAYPOINT_FOR
from waypoint_doctor.mesh.selectors import label_selector_matches

AGENTGATEWAY_WAYPOINT_CLASS = "istio-agentgateway-waypoint"
AGENTGATEWAY_WAYPOINT_CONTROLLER = "istio.io/agentgateway-waypoint-controller"
EAST_WEST_CLASS = "istio-east-west"
EAST_WEST_CONTROLLER = "istio.io/eastwest-controller"
INGRESS_CLASS = "istio"
INGRESS_CONTROLLER = "istio.io/gateway-controller"

# the classes istiod can program as waypoints, with the controller each must name
WAYPOINT_CLASSES: Mapping[str, str] = {
    WAYPOINT_CLASS: MESH_CONTROLLER,
    AGENTGATEWAY_WAYPOINT_CLASS: AGENTGATEWAY_WAYPOINT_CONTROLLER,
}
# other classes Istio ships, recognised so messages can say what a Gateway of that class is
OTHER_ISTIO_CLASSES: Mapping[str, str] = {
    EAST_WEST_CLASS: EAST_WEST_CONTROLLER,
    INGRESS_CLASS: INGRESS_CONTROLLER,
    "istio-remote": "istio.io/unmanaged-gateway",
    "istio-agentgateway": "istio.io/agentgateway-controller",
}
INBOUND_BINDING_ANNOTATION = "ambient.istio.io/waypoint-inbound-binding"
TRAFFIC_TYPES_FOR_SERVICES = ("service", "all")
TRAFFIC_TYPES = ("service", "workload", "all", "none")


def gateway_class_name(gw: Obj) -> str | None:
    name = dig(gw, "spec", "gatewayClassName")
    return name if isinstance(name, str) and name else None


def gateway_listeners(gw: Obj) -> list[Mapping[str, Any]]:
    listeners = dig(gw, "spec", "listeners", default=[])
    return [lst for lst in listeners if isinstance(lst, Mapping)] if isinstance(listeners, list) else []


def listener_port(listener: Mapping[str, Any]) -> int | None:
    port = listener.get("port")
    if isinstance(port, bool):
        return None
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    return None


def is_waypoint_listener(listener: Mapping[str, Any]) -> bool:
    """Port 15008 with protocol `HBONE`, exactly (istiod compares case-sensitively)."""
    return listener_port(listener) == HBONE_PORT and listener.get("protocol") == "HBONE"


def hbone_listeners(gw: Obj) -> list[Mapping[str, Any]]:
    return [lst for lst in gateway_listeners(gw) if is_waypoint_listener(lst)]


@dataclass(frozen=True)
class AllowedRoutes:
    """Which namespaces may bind to a waypoint: `Same`, `All` or `Selector`."""

    from_: str
    selector: Any = None
    listener: str | None = None  # the listener consulted; None when there was none

    def admits(self, waypoint_namespace: str, namespace: str, namespace_labels: Mapping[str, Any]) -> bool:
        if self.from_ == "All":
            return True
        if self.from_ == "Selector":
            return label_selector_matches(self.selector, namespace_labels)
        return namespace == waypoint_namespace  # Same, and anything unknown


def _bound_listener(gw: Obj) -> Mapping[str, Any] | None:
    """The listener named by `ambient.istio.io/waypoint-inbound-binding` (`PROXY` or `PROXY/<port>`)."""
    ann = obj_annotations(gw).get(INBOUND_BINDING_ANNOTATION)
    if not isinstance(ann, str):
        return None
    parts = ann.split("/")
    if len(parts) > 2 or parts[0] not in ("NONE", "PROXY"):
        return None
    port = int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else 0
    for lst in gateway_listeners(gw):
        if port and listener_port(lst) == port:
            return lst
        if not port and parts[0] == "PROXY" and lst.get("protocol") == "istio.io/PROXY":
            return lst
    return None


def allowed_routes(gw: Obj) -> AllowedRoutes:
    listener = _bound_listener(gw)
    if listener is None:
        found = hbone_listeners(gw)
        listener = found[0] if found else None
    if listener is None:
        return AllowedRoutes("Same")
    name = listener.get("name") if isinstance(listener.get("name"), str) else None
    namespaces = dig(listener, "allowedRoutes", "namespaces")
    if not isinstance(namespaces, Mapping):
        return AllowedRoutes("Same", listener=name)
    from_ = namespaces.get("from")
    from_ = from_ if isinstance(from_, str) and from_ else "Same"
    return AllowedRoutes(from_, namespaces.get("selector"), listener=name)


def waypoint_traffic_type(gw: Obj, gateway_class: Obj | None) -> tuple[str, str]:
    """(value, where it came from): the Gateway label, else the GatewayClass label, else `service`."""
    own = obj_labels(gw).get(WAYPOINT_FOR)
    if own is not None:
        return str(own), "Gateway"
    if gateway_class is not None:
        inherited = obj_labels(gateway_class).get(WAYPOINT_FOR)
        if inherited is not None:
            return str(inherited), "GatewayClass"
    return "service", "default"


def is_waypoint_gateway(gw: Obj) -> bool:
    return gateway_class_name(gw) in WAYPOINT_CLASSES


def waypoint_gateways_in(gateways: list[Obj], namespace: str) -> list[Obj]:
    return [g for g in gateways if obj_namespace(g) == namespace and is_waypoint_gateway(g)]


def gateway_addresses(gw: Obj) -> list[str]:
    addrs = dig(gw, "status", "addresses", default=[])
    out = []
    for a in addrs if isinstance(addrs, list) else []:
        if isinstance(a, Mapping) and isinstance(a.get("value"), str) and a["value"]:
            out.append(a["value"])
    return out
