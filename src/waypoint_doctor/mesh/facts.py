"""Derived facts about one target Service, computed once from the view and shared by checks."""

from __future__ import annotations

from functools import cached_property

from waypoint_doctor.authz.extauthz import ExtAuthz
from waypoint_doctor.collect.view import ClusterView, Obj, dig, obj_annotations, obj_labels, obj_namespace
from waypoint_doctor.mesh.binding import WaypointBinding, resolve_waypoint_binding
from waypoint_doctor.mesh.controlplane import (
    IstiodInfo,
    describe_istiod,
    is_cni_daemonset,
    is_ztunnel_daemonset,
    pod_template_containers,
)
from waypoint_doctor.mesh.gateways import gateway_class_name
from waypoint_doctor.mesh.labels import (
    DEFAULT_ISTIO_NAMESPACE,
    GATEWAY_API_GROUP,
    GATEWAY_NAME_LABEL,
    ISTIO_REV,
    LEGACY_GATEWAY_NAME_LABEL,
    SERVICE_ACCOUNT_OVERRIDE,
)
from waypoint_doctor.mesh.meshconfig import MeshConfig, parse_mesh_config
from waypoint_doctor.mesh.providers import MULTIPLE_PROVIDERS_ENV, resolve_ext_authz
from waypoint_doctor.mesh.version import IstioVersion, version_from_image
from waypoint_doctor.mesh.workloads import pod_node, pods_selected_by, spiffe_identity


class Facts:
    """Lazily computed, read-only derivations. Cheap to create; each property runs once."""

    def __init__(self, view: ClusterView, namespace: str, service_name: str) -> None:
        self.view = view
        self.namespace_name = namespace
        self.service_name = service_name

    # -- control plane ---------------------------------------------------------------------
    @cached_property
    def istiod_deployments(self) -> list[Obj]:
        return [d for d in self.view.list("deployments.apps") if obj_labels(d).get("app") == "istiod"]

    @cached_property
    def istio_namespace(self) -> str:
        if self.istiod_deployments:
            return obj_namespace(self.istiod_deployments[0])
        return DEFAULT_ISTIO_NAMESPACE

    @cached_property
    def mesh(self) -> MeshConfig:
        rev = obj_labels(self.istiod_deployments[0]).get(ISTIO_REV) if self.istiod_deployments else None
        return parse_mesh_config(self.view, self.istio_namespace, rev)

    @cached_property
    def ext_authz(self) -> ExtAuthz | None:
        """The mesh's ext-authz providers, resolved; None when the mesh config could not be read."""
        mesh = self.mesh
        if mesh.problem or (mesh.source is None and self.view.missing("configmaps", self.istio_namespace)):
            return None
        istiod = self.ambient_istiod
        version = self.istio_version
        multiple = (istiod.flag(MULTIPLE_PROVIDERS_ENV, False) if istiod is not None else False) and (
            version is None or version.at_least(1, 30)
        )
        return self.view.derived(
            ("ext_authz", mesh.source, multiple), lambda: resolve_ext_authz(self.view, mesh, multiple)
        )

    @cached_property
    def ztunnel_pods(self) -> list[Obj]:
        return [p for p in self.view.list("pods") if obj_labels(p).get("app") == "ztunnel"]

    @cached_property
    def istiods(self) -> list[IstiodInfo]:
        """Each istiod Deployment read: revision, version, readiness, env flags."""
        pods = self.view.list("pods")
        return [describe_istiod(d, pods) for d in self.istiod_deployments]

    @cached_property
    def auto_allow_waypoint(self) -> bool:
        """istiod's PILOT_AUTO_ALLOW_WAYPOINT_POLICY (default false): ztunnel then gets a
        synthetic ALLOW for each waypoint's identity (reference section 4)."""
        istiod = self.ambient_istiod
        return bool(istiod is not None and istiod.flag("PILOT_AUTO_ALLOW_WAYPOINT_POLICY", False))

    @cached_property
    def ambient_istiod(self) -> IstiodInfo | None:
        """The istiod that serves ambient: ready and ambient-enabled first."""
        ranked = sorted(
            self.istiods,
            key=lambda i: (i.ambient is not True, not (i.ready or 0), i.revision != "default", i.ref),
        )
        return ranked[0] if ranked else None

    @cached_property
    def istio_version(self) -> IstioVersion | None:
        """From istiod's image tag, else ztunnel's, else a waypoint's; None when no tag says."""
        if self.ambient_istiod is not None and self.ambient_istiod.version is not None:
            return self.ambient_istiod.version
        images = [i.image for i in self.istiods]
        for ds in self.ztunnel_daemonsets:
            images.extend(c.get("image") for c in pod_template_containers(ds))
        for pod in self.waypoint_pods:
            containers = dig(pod, "spec", "containers")
            if isinstance(containers, list):
                images.extend(c.get("image") for c in containers if isinstance(c, dict))
        for image in images:
            version = version_from_image(image)
            if version is not None:
                return version
        return None

    @cached_property
    def ztunnel_daemonsets(self) -> list[Obj]:
        return [d for d in self.view.list("daemonsets.apps") if is_ztunnel_daemonset(d)]

    @cached_property
    def cni_daemonsets(self) -> list[Obj]:
        return [d for d in self.view.list("daemonsets.apps") if is_cni_daemonset(d)]

    @cached_property
    def gateway_api_missing(self) -> str | None:
        """Why Gateways cannot exist here (the CRDs are absent), or None when they can."""
        if self.view.serves(GATEWAY_API_GROUP) is False:
            return "the Gateway API CRDs are not installed (see WD103)"
        for key in ("gateways.gateway.networking.k8s.io", "gatewayclasses.gateway.networking.k8s.io"):
            entry = self.view.unreadable_for(key)
            if (
                entry is not None
                and entry.reason == "NotFound"
                and entry.namespace is None
                and not entry.name
            ):
                return "the Gateway API CRDs are not installed (see WD103)"
        return None

    # -- target ----------------------------------------------------------------------------
    @cached_property
    def namespace(self) -> Obj | None:
        return self.view.get("namespaces", None, self.namespace_name)

    @cached_property
    def service(self) -> Obj | None:
        return self.view.get("services", self.namespace_name, self.service_name)

    @cached_property
    def service_pods(self) -> list[Obj]:
        if self.service is None:
            return []
        return pods_selected_by(self.service, self.view.list("pods", self.namespace_name))

    @cached_property
    def binding(self) -> WaypointBinding:
        if self.service is None:
            return WaypointBinding(source="none")
        return resolve_waypoint_binding(self.service, self.namespace)

    @cached_property
    def waypoint(self) -> Obj | None:
        b = self.binding
        if not b.bound or b.waypoint_name is None:
            return None
        return self.view.get("gateways.gateway.networking.k8s.io", b.waypoint_namespace, b.waypoint_name)

    @cached_property
    def waypoint_class(self) -> Obj | None:
        """The GatewayClass the waypoint Gateway names, when it exists."""
        if self.waypoint is None:
            return None
        name = gateway_class_name(self.waypoint)
        return self.view.get("gatewayclasses.gateway.networking.k8s.io", None, name) if name else None

    @cached_property
    def waypoint_pods(self) -> list[Obj]:
        b = self.binding
        if not b.bound:
            return []
        return [
            p
            for p in self.view.list("pods", b.waypoint_namespace)
            if b.waypoint_name
            in (obj_labels(p).get(GATEWAY_NAME_LABEL), obj_labels(p).get(LEGACY_GATEWAY_NAME_LABEL))
        ]

    @cached_property
    def waypoint_service_account(self) -> str | None:
        """Named after the Gateway unless `gateway.istio.io/service-account` overrides it (ref 1.3)."""
        if not self.binding.bound:
            return None
        if self.waypoint is not None:
            override = obj_annotations(self.waypoint).get(SERVICE_ACCOUNT_OVERRIDE)
            if isinstance(override, str) and override:
                return override
        return self.binding.waypoint_name

    @cached_property
    def waypoint_identity(self) -> str | None:
        sa = self.waypoint_service_account
        if sa is None or self.binding.waypoint_namespace is None:
            return None
        return spiffe_identity(self.mesh.trust_domain, self.binding.waypoint_namespace, sa)

    @cached_property
    def relevant_nodes(self) -> set[str]:
        """Nodes hosting the service's pods and the waypoint's pods (where ztunnel must run)."""
        return {n for p in [*self.service_pods, *self.waypoint_pods] if (n := pod_node(p))}
