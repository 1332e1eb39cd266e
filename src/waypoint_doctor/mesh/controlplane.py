"""Pure readings of the control-plane objects: istiod Deployments, the ztunnel and istio-cni
DaemonSets, and Istio ingress gateways (reference section 4)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from waypoint_doctor.collect.view import Obj, dig, obj_labels, obj_name, obj_namespace
from waypoint_doctor.mesh.golang import parse_go_bool
from waypoint_doctor.mesh.labels import GATEWAY_NAME_LABEL, ISTIO_REV, MANAGED_LABEL
from waypoint_doctor.mesh.selectors import label_selector_matches
from waypoint_doctor.mesh.version import IstioVersion, version_from_image
from waypoint_doctor.mesh.workloads import pod_is_ready

AMBIENT_ENV = "PILOT_ENABLE_AMBIENT"
ISTIOD_CONTAINER = "discovery"
ZTUNNEL_APP = "ztunnel"
CNI_DAEMONSET = "istio-cni-node"
CNI_LABEL = ("k8s-app", "istio-cni-node")
INGRESS_CLASS = "istio"
INGRESS_MANAGED = "istio.io-gateway-controller"
GATEWAY_CLASS_NAME_LABEL = "gateway.networking.k8s.io/gateway-class-name"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def pod_template_containers(workload: Obj) -> list[Mapping[str, Any]]:
    containers = dig(workload, "spec", "template", "spec", "containers", default=[])
    return [c for c in containers if isinstance(c, Mapping)] if isinstance(containers, list) else []


def container_env(container: Mapping[str, Any] | None) -> dict[str, str | None]:
    """Literal env values by name; `None` for values taken from elsewhere (`valueFrom`)."""
    out: dict[str, str | None] = {}
    env = container.get("env") if isinstance(container, Mapping) else None
    for item in env if isinstance(env, list) else []:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            continue
        value = item.get("value")
        out[item["name"]] = str(value) if isinstance(value, (str, int, float, bool)) else None
    return out


@dataclass(frozen=True)
class IstiodInfo:
    name: str
    namespace: str
    revision: str
    image: str | None
    version: IstioVersion | None
    desired: int
    ready: int | None  # None: neither status nor pods tell
    env: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def ambient_raw(self) -> str | None:
        return self.env.get(AMBIENT_ENV) if AMBIENT_ENV in self.env else None

    @property
    def ambient(self) -> bool | None:
        """True/False as istiod reads PILOT_ENABLE_AMBIENT; None when set from a ConfigMap/Secret."""
        if AMBIENT_ENV not in self.env:
            return False  # default false (features/ambient.go)
        raw = self.env[AMBIENT_ENV]
        if raw is None:
            return None
        parsed = parse_go_bool(raw)
        return bool(parsed)  # an unparsable value falls back to the default, false

    def flag(self, name: str, default: bool) -> bool | None:
        """An istiod boolean env flag as istiod reads it; None when set indirectly."""
        if name not in self.env:
            return default
        raw = self.env[name]
        if raw is None:
            return None
        parsed = parse_go_bool(raw)
        return default if parsed is None else parsed

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def describe_istiod(deployment: Obj, pods: Iterable[Obj]) -> IstiodInfo:
    containers = pod_template_containers(deployment)
    main = next(
        (c for c in containers if c.get("name") == ISTIOD_CONTAINER), containers[0] if containers else None
    )
    image = main.get("image") if isinstance(main, Mapping) and isinstance(main.get("image"), str) else None
    desired = _int(dig(deployment, "spec", "replicas"))
    status = dig(deployment, "status")
    ready: int | None
    if isinstance(status, Mapping) and status:
        # readyReplicas is omitted from the object when it is zero
        ready = _int(status.get("readyReplicas")) or 0
    else:
        selector = dig(deployment, "spec", "selector")
        ns = obj_namespace(deployment)
        mine = [p for p in pods if obj_namespace(p) == ns and label_selector_matches(selector, obj_labels(p))]
        ready = sum(1 for p in mine if pod_is_ready(p)) if mine else None
    rev = obj_labels(deployment).get(ISTIO_REV)
    return IstiodInfo(
        name=obj_name(deployment),
        namespace=obj_namespace(deployment),
        revision=rev if isinstance(rev, str) and rev else "default",
        image=image,
        version=version_from_image(image),
        desired=1 if desired is None else desired,
        ready=ready,
        env=container_env(main),
    )


@dataclass(frozen=True)
class DaemonSetReadiness:
    name: str
    namespace: str
    desired: int | None
    ready: int | None
    available: int | None
    image: str | None

    @property
    def fully_ready(self) -> bool | None:
        if self.desired is None or self.ready is None:
            return None
        return self.ready >= self.desired and self.desired > 0

    def as_evidence(self) -> dict[str, Any]:
        return {
            "kind": "DaemonSet",
            "namespace": self.namespace,
            "name": self.name,
            "desired": self.desired,
            "ready": self.ready,
            "image": self.image,
        }


def daemonset_readiness(ds: Obj) -> DaemonSetReadiness:
    containers = pod_template_containers(ds)
    image = containers[0].get("image") if containers and isinstance(containers[0].get("image"), str) else None
    status = dig(ds, "status")
    status = status if isinstance(status, Mapping) else {}
    return DaemonSetReadiness(
        name=obj_name(ds),
        namespace=obj_namespace(ds),
        desired=_int(status.get("desiredNumberScheduled")),
        ready=_int(status.get("numberReady")),
        available=_int(status.get("numberAvailable")),
        image=image,
    )


def is_ztunnel_daemonset(ds: Obj) -> bool:
    return obj_labels(ds).get("app") == ZTUNNEL_APP


def is_cni_daemonset(ds: Obj) -> bool:
    key, value = CNI_LABEL
    return obj_labels(ds).get(key) == value or obj_name(ds) == CNI_DAEMONSET


def is_cni_pod(pod: Obj) -> bool:
    key, value = CNI_LABEL
    return obj_labels(pod).get(key) == value


def is_ingress_gateway_pod(pod: Obj) -> bool:
    """Pods of an Istio ingress gateway: the classic chart (`istio=ingressgateway`) or a Gateway API
    Gateway of class `istio` (deployed by istiod with `gateway.istio.io/managed`)."""
    labels = obj_labels(pod)
    if labels.get("istio") in ("ingressgateway", "ingress") or labels.get("app") == "istio-ingressgateway":
        return True
    if labels.get(MANAGED_LABEL) == INGRESS_MANAGED:
        return True
    return labels.get(GATEWAY_CLASS_NAME_LABEL) == INGRESS_CLASS and bool(labels.get(GATEWAY_NAME_LABEL))
