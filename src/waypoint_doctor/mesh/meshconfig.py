"""The mesh configuration that policy evaluation depends on (reference section 4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from waypoint_doctor.authz.extauthz import ExtAuthzProvider, parse_extension_providers
from waypoint_doctor.authz.normalize import PathSettings
from waypoint_doctor.collect.view import ClusterView, dig, obj_name
from waypoint_doctor.mesh.labels import DEFAULT_ISTIO_NAMESPACE, DEFAULT_TRUST_DOMAIN


@dataclass(frozen=True)
class MeshConfig:
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    trust_domain_aliases: tuple[str, ...] = ()
    root_namespace: str = DEFAULT_ISTIO_NAMESPACE
    istio_namespace: str = DEFAULT_ISTIO_NAMESPACE
    source: str | None = None  # "<ns>/<configmap>" it was read from; None = defaults assumed
    problem: str | None = None  # the mesh key could not be parsed
    # how the waypoint rewrites request paths before authorization (pathNormalization)
    path_settings: PathSettings = field(default_factory=PathSettings)
    # extensionProviders as istiod resolves them for CUSTOM policies (service lookups not done)
    extension_providers: Mapping[str, ExtAuthzProvider] = field(default_factory=dict)


def find_mesh_configmap(view: ClusterView, istio_namespace: str, revision: str | None = None) -> dict | None:
    names = [f"istio-{revision}"] if revision and revision != "default" else []
    names.append("istio")
    for name in names:
        cm = view.get("configmaps", istio_namespace, name)
        if cm is not None:
            return dict(cm)
    return None


def parse_mesh_config(view: ClusterView, istio_namespace: str, revision: str | None = None) -> MeshConfig:
    cm = find_mesh_configmap(view, istio_namespace, revision)
    if cm is None:
        return MeshConfig(root_namespace=istio_namespace, istio_namespace=istio_namespace)
    where = f"{istio_namespace}/{obj_name(cm)}"
    raw = dig(cm, "data", "mesh", default="")
    try:
        mesh = yaml.safe_load(raw) if isinstance(raw, str) and raw.strip() else {}
    except yaml.YAMLError as exc:
        return MeshConfig(
            root_namespace=istio_namespace, istio_namespace=istio_namespace, source=where, problem=str(exc)
        )
    if not isinstance(mesh, dict):
        mesh = {}
    return mesh_config_from(mesh, istio_namespace, where)


def mesh_config_from(mesh: Mapping[str, Any], istio_namespace: str, where: str | None) -> MeshConfig:
    """The fields policy evaluation reads from a parsed ``mesh`` document."""
    td = mesh.get("trustDomain")
    aliases = mesh.get("trustDomainAliases")
    root = mesh.get("rootNamespace")
    return MeshConfig(
        trust_domain=td if isinstance(td, str) and td else DEFAULT_TRUST_DOMAIN,
        trust_domain_aliases=tuple(a for a in aliases if isinstance(a, str))
        if isinstance(aliases, list)
        else (),
        root_namespace=root if isinstance(root, str) and root else istio_namespace,
        istio_namespace=istio_namespace,
        source=where,
        path_settings=PathSettings.from_mesh(mesh),
        extension_providers=parse_extension_providers(mesh),
    )
