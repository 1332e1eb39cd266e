"""The Kubernetes resource kinds waypoint-doctor reads, in one table.

The live collector, the snapshot loader and the checks all name a kind by its resource key
(`pods`, `gateways.gateway.networking.k8s.io`), the same spelling `kubectl get` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceKind:
    kind: str
    plural: str
    group: str  # "" for the core group
    versions: tuple[str, ...]  # preferred first
    namespaced: bool = True

    @property
    def key(self) -> str:
        return self.plural if not self.group else f"{self.plural}.{self.group}"

    def api_path(self, version: str, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/api/{version}" if not self.group else f"/apis/{self.group}/{version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        return base


NAMESPACES = ResourceKind("Namespace", "namespaces", "", ("v1",), namespaced=False)
PODS = ResourceKind("Pod", "pods", "", ("v1",))
SERVICES = ResourceKind("Service", "services", "", ("v1",))
SERVICE_ACCOUNTS = ResourceKind("ServiceAccount", "serviceaccounts", "", ("v1",))
CONFIGMAPS = ResourceKind("ConfigMap", "configmaps", "", ("v1",))
NODES = ResourceKind("Node", "nodes", "", ("v1",), namespaced=False)
DEPLOYMENTS = ResourceKind("Deployment", "deployments", "apps", ("v1",))
DAEMONSETS = ResourceKind("DaemonSet", "daemonsets", "apps", ("v1",))
GATEWAYS = ResourceKind("Gateway", "gateways", "gateway.networking.k8s.io", ("v1", "v1beta1"))
GATEWAY_CLASSES = ResourceKind(
    "GatewayClass", "gatewayclasses", "gateway.networking.k8s.io", ("v1", "v1beta1"), namespaced=False
)
AUTHORIZATION_POLICIES = ResourceKind(
    "AuthorizationPolicy", "authorizationpolicies", "security.istio.io", ("v1", "v1beta1")
)
PEER_AUTHENTICATIONS = ResourceKind(
    "PeerAuthentication", "peerauthentications", "security.istio.io", ("v1", "v1beta1")
)
SERVICE_ENTRIES = ResourceKind(
    "ServiceEntry", "serviceentries", "networking.istio.io", ("v1", "v1beta1", "v1alpha3")
)
CRDS = ResourceKind(
    "CustomResourceDefinition", "customresourcedefinitions", "apiextensions.k8s.io", ("v1",), namespaced=False
)

ALL_KINDS: tuple[ResourceKind, ...] = (
    NAMESPACES,
    PODS,
    SERVICES,
    SERVICE_ACCOUNTS,
    CONFIGMAPS,
    NODES,
    DEPLOYMENTS,
    DAEMONSETS,
    GATEWAYS,
    GATEWAY_CLASSES,
    AUTHORIZATION_POLICIES,
    PEER_AUTHENTICATIONS,
    SERVICE_ENTRIES,
    CRDS,
)

BY_KEY: dict[str, ResourceKind] = {k.key: k for k in ALL_KINDS}
_BY_GROUP_KIND: dict[tuple[str, str], ResourceKind] = {(k.group, k.kind): k for k in ALL_KINDS}


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def kind_for_object(obj: dict) -> ResourceKind | None:
    """The kind of a raw object from its apiVersion and kind, or None when we do not read it."""
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return None
    return _BY_GROUP_KIND.get((group_of(api_version), kind))
