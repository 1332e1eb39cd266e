"""Resolve the mesh's ext-authz providers against the collected Services and ServiceEntries.

istiod's ``model.LookupCluster`` (pilot/pkg/model/telemetry_logging.go) finds a provider's
``service`` in the service registry by hostname: ``<namespace>/<hostname>`` must name that
namespace's service; a bare hostname must exist in exactly one namespace. Kubernetes Services
register as ``<name>.<namespace>.svc.<domain suffix>`` (``cluster.local`` unless istiod was
installed with another), ServiceEntries under each of their ``hosts``.

A view only holds the namespaces a run read, so "missing" is said only when it is certain: the
namespace does not exist, or other Services of it were read and this one is not there.
Otherwise the answer is "unknown", and a CUSTOM policy naming that provider stays undecidable.
"""

from __future__ import annotations

from waypoint_doctor.authz.extauthz import ExtAuthz, Lookup, with_service_lookup
from waypoint_doctor.collect.view import ClusterView, dig, obj_namespace
from waypoint_doctor.mesh.meshconfig import MeshConfig

SERVICE_ENTRIES = "serviceentries.networking.istio.io"
MULTIPLE_PROVIDERS_ENV = "PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS"


def service_lookup(view: ClusterView):  # type: ignore[no-untyped-def]
    """A ``lookup(hostname, namespace)`` over the view, for :func:`with_service_lookup`."""
    namespaces_known = view.missing("namespaces") is None
    namespace_names = set(view.names("namespaces"))

    def entry_namespaces(host: str) -> set[str]:
        found = set()
        for entry in view.list(SERVICE_ENTRIES):
            hosts = dig(entry, "spec", "hosts")
            if isinstance(hosts, list) and host in hosts:
                found.add(obj_namespace(entry))
        return found

    def lookup(host: str, namespace: str | None) -> Lookup:
        name, _, rest = host.partition(".")
        svc_ns, _, suffix = rest.partition(".")
        in_entries = entry_namespaces(host)
        candidates: set[str] = set(in_entries)
        kubernetes_form = bool(name and svc_ns and suffix.startswith("svc.") and len(suffix) > 4)
        if kubernetes_form and view.get("services", svc_ns, name) is not None:
            candidates.add(svc_ns)
        if namespace is not None:
            if namespace in candidates:
                return "found"
            if namespaces_known and namespace not in namespace_names:
                return "missing"
            if kubernetes_form and (svc_ns != namespace or view.list("services", svc_ns)):
                return "missing"
            return "unknown"
        if len(candidates) > 1:
            return "ambiguous"
        if candidates:
            return "found"
        if not kubernetes_form:
            return "unknown"  # a ServiceEntry host in a namespace this run did not read
        if namespaces_known and svc_ns not in namespace_names:
            return "missing"
        if view.missing("services", svc_ns) is None and view.list("services", svc_ns):
            return "missing"
        return "unknown"

    return lookup


def resolve_ext_authz(view: ClusterView, mesh: MeshConfig, istiod_flag: bool | None) -> ExtAuthz:
    """The providers with their service lookups done; ``istiod_flag`` is the multi-provider switch."""
    providers = with_service_lookup(mesh.extension_providers, service_lookup(view))
    return ExtAuthz(providers, multiple_providers=bool(istiod_flag), source=mesh.source)
