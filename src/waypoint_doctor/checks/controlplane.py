"""Checks WD1xx: the control plane and the prerequisites every waypoint depends on.

Facts come from the reference, sections 0, 1.1, 1.5 and 4: istiod needs
`PILOT_ENABLE_AMBIENT=true`, waypoints need the Gateway API CRDs and the `istio-waypoint`
GatewayClass, captured pods need ztunnel on their node and istio-cni, and policy principals
need the mesh trust domain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from waypoint_doctor.checks.spec import (
    CheckContext,
    CheckSpec,
    Outcome,
    SkipCheck,
    check,
    failed,
    informed,
    passed,
    skipped,
    warned,
)
from waypoint_doctor.collect.kinds import BY_KEY
from waypoint_doctor.collect.view import (
    ClusterView,
    Obj,
    Unreadable,
    dig,
    obj_annotations,
    obj_labels,
    obj_name,
    obj_namespace,
)
from waypoint_doctor.mesh.conditions import find_condition
from waypoint_doctor.mesh.controlplane import (
    AMBIENT_ENV,
    DaemonSetReadiness,
    IstiodInfo,
    container_env,
    daemonset_readiness,
    is_cni_pod,
    pod_template_containers,
)
from waypoint_doctor.mesh.gateways import OTHER_ISTIO_CLASSES, WAYPOINT_CLASSES
from waypoint_doctor.mesh.golang import parse_go_bool
from waypoint_doctor.mesh.labels import (
    GATEWAY_API_GROUP,
    GATEWAY_NAME_LABEL,
    MANAGED_LABEL,
    MESH_CONTROLLER,
    REDIRECTION_ANNOTATION,
    WAYPOINT_CLASS,
)
from waypoint_doctor.mesh.text import join_names, one_line, plural
from waypoint_doctor.mesh.version import IstioVersion
from waypoint_doctor.mesh.workloads import pod_is_ready, pod_node

GATEWAYS = "gateways.gateway.networking.k8s.io"
GATEWAY_CLASSES = "gatewayclasses.gateway.networking.k8s.io"
CRDS = "customresourcedefinitions.apiextensions.k8s.io"
GATEWAY_CRDS = (f"gateways.{GATEWAY_API_GROUP}", f"gatewayclasses.{GATEWAY_API_GROUP}")
BUNDLE_VERSION_ANNOTATION = "gateway.networking.k8s.io/bundle-version"

# the Gateway API release each Istio minor vendors (go.mod of release-1.22 ... release-1.31), newest first
_GATEWAY_API_FOR_ISTIO = (
    (1, 31, "v1.6.0"),
    (1, 30, "v1.5.1"),
    (1, 28, "v1.4.1"),
    (1, 26, "v1.3.0"),
    (1, 24, "v1.2.1"),
)
_OLDEST_GATEWAY_API = "v1.1.0"  # Istio 1.22 and 1.23
_DEFAULT_GATEWAY_API = "v1.4.1"

AMBIENT_INSTALL = (
    "istioctl install --set profile=ambient --skip-confirmation\n"
    "# or, with Helm: helm upgrade --install istiod istio/istiod -n istio-system --set profile=ambient --reuse-values"
)


# -- WD101 ---------------------------------------------------------------------------------------
_PERMISSION_REASONS = ("Forbidden", "Unauthorized")
# what the live collector gives up on once its retries run out (collect/live.py)
_TRANSIENT_REASONS = (
    "Timeout",
    "Error",
    "TooManyRequests",
    "ServiceUnavailable",
    "InternalError",
    "ConnectionReset",
    "ConnectionFailed",
    "TruncatedBody",
)


def _group_and_plural(resource: str) -> tuple[str, str]:
    kind = BY_KEY.get(resource)
    if kind is not None:
        return kind.group, kind.plural
    plural_name, _, group = resource.partition(".")
    return group, plural_name


def _permission_text(u: Unreadable) -> str:
    what = u.resource + (f"/{u.subresource}" if u.subresource else "")
    where = f" in namespace {u.namespace}" if u.namespace else " in all namespaces"
    return f"{u.verb} {what}{where}"


def _can_i(u: Unreadable) -> str:
    cmd = f"kubectl auth can-i {u.verb} {u.resource}"
    if u.subresource:
        cmd += f" --subresource={u.subresource}"
    if u.name:
        cmd = f"kubectl auth can-i {u.verb} {u.resource}/{u.name}" + (
            f" --subresource={u.subresource}" if u.subresource else ""
        )
    cmd += f" -n {u.namespace}" if u.namespace else " -A"
    return cmd


def _rbac_fragment(entries: Iterable[Unreadable]) -> str:
    """A ClusterRole for all-namespace reads and a Role per namespace, merged per API group."""
    scopes: dict[str | None, dict[str, dict[str, set[str]]]] = defaultdict(lambda: defaultdict(dict))
    for u in entries:
        group, plural_name = _group_and_plural(u.resource)
        res = plural_name + (f"/{u.subresource}" if u.subresource else "")
        verbs = {"get", "list"} if u.verb == "list" else {u.verb}
        scopes[u.namespace][group].setdefault(res, set()).update(verbs)
    docs = []
    for ns in sorted(scopes, key=lambda n: (n is not None, n or "")):
        head = (
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: waypoint-doctor-reader\n"
            if ns is None
            else "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n"
            f"  name: waypoint-doctor-reader\n  namespace: {ns}\n"
        )
        rules = []
        for group in sorted(scopes[ns]):
            by_verbs: dict[tuple[str, ...], list[str]] = defaultdict(list)
            for res, verbs in sorted(scopes[ns][group].items()):
                by_verbs[tuple(sorted(verbs))].append(res)
            for verbs, resources in by_verbs.items():
                rules.append(
                    f'- apiGroups: ["{group}"]\n'
                    f"  resources: [{', '.join(f'{r!r}' for r in resources)}]\n".replace("'", '"')
                    + f"  verbs: [{', '.join(f'{v!r}' for v in verbs)}]".replace("'", '"')
                )
        docs.append(head + "rules:\n" + "\n".join(rules))
    return "\n---\n".join(docs)


def _dedupe(entries: Iterable[Unreadable]) -> list[Unreadable]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for u in entries:
        key = (u.reason, u.verb, u.resource, u.subresource, u.namespace, u.name)
        if key not in seen:
            seen.add(key)
            out.append(u)
    return out


def _source_evidence(view: ClusterView) -> dict[str, Any]:
    src = view.source
    return {
        "kind": "APIServer" if src.kind == "live" else "Snapshot",
        "name": src.server or src.path or "",
        "context": src.context,
        "serverVersion": view.server_version,
        "takenAt": src.taken_at.isoformat() if src.taken_at and src.kind == "snapshot" else None,
    }


@check("WD101", "API access and permissions", category="control-plane", scope="cluster")
def api_access(ctx: CheckContext) -> Outcome:
    """The API server answered and every read the checks need was permitted; each refusal is named."""
    view = ctx.view
    snapshot = view.source.kind == "snapshot"
    who = "the snapshot's taker was" if snapshot else "you are"
    refused = _dedupe(u for u in view.unreadable if u.reason in _PERMISSION_REASONS)
    transient = _dedupe(u for u in view.unreadable if u.reason in _TRANSIENT_REASONS)
    source = _source_evidence(view)
    if not refused and not transient:
        if snapshot:
            return passed("the snapshot records no refused or failed read", [source])
        return passed(f"every read was permitted (context {view.source.context or 'in use'})", [source])

    evidence: list[dict[str, Any]] = [source]
    for u in refused + transient:
        evidence.append(
            {
                "kind": "Permission" if u.reason in _PERMISSION_REASONS else "Read",
                "namespace": u.namespace,
                "name": f"{u.verb} {u.resource}" + (f"/{u.subresource}" if u.subresource else ""),
                "reason": u.reason,
                "check": _can_i(u) if u.reason == "Forbidden" else None,
                "message": one_line(u.message, 160) if u.message else None,
            }
        )

    if any(u.reason == "Unauthorized" for u in refused):
        return failed(
            "the API server rejected the credentials (401 Unauthorized) for some reads",
            evidence,
            "Refresh the kubeconfig credentials (expired token or client certificate), then re-run:\n"
            "kubectl get --raw /version\n"
            "kubectl auth whoami",
        )

    forbidden = [u for u in refused if u.reason == "Forbidden"]
    if forbidden:
        texts = [_permission_text(u) for u in forbidden]
        message = f"{who} not permitted to {join_names(texts, 2)}"
        steps = "\n".join(_can_i(u) for u in forbidden)
        remediation = (
            f"Check each permission:\n{steps}\n"
            "Grant read access (then bind it to the user or service account that runs waypoint-doctor):\n"
            f"{_rbac_fragment(forbidden)}"
        )
        if snapshot:
            remediation += (
                "\nThen take the snapshot again with those permissions:\n"
                f"waypoint-doctor snapshot {ctx.target.name} -n {ctx.target.namespace} -o snapshot.tar.gz"
            )
        # objects unread make checks skip their core inputs; logs only thin the evidence
        objects_refused = [u for u in forbidden if not u.subresource]
        verdict = failed if objects_refused else warned
        return verdict(message, evidence, remediation)

    texts = [f"{u.verb} {u.resource}: {u.reason}" for u in transient]
    return warned(
        f"some reads did not complete ({join_names(texts, 2)}); checks that needed them are skipped",
        evidence,
        "Re-run when the API server is less loaded, or raise the request timeout.",
    )


# -- WD102 ---------------------------------------------------------------------------------------
def _istiod_evidence(info: IstiodInfo) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "namespace": info.namespace,
        "name": info.name,
        "revision": info.revision,
        "version": str(info.version) if info.version else (info.image or None),
        "ready": f"{info.ready}/{info.desired}" if info.ready is not None else f"?/{info.desired}",
        AMBIENT_ENV: info.ambient_raw if AMBIENT_ENV in info.env else "(unset)",
    }


def _set_env_fix(info: IstiodInfo, name: str, value: str) -> str:
    return f"kubectl set env deployment/{info.name} -n {info.namespace} -c discovery {name}={value}"


@check(
    "WD102",
    "istiod ready with ambient enabled",
    category="control-plane",
    reads=("deployments.apps",),
    scope="cluster",
)
def istiod_ambient(ctx: CheckContext) -> Outcome:
    """istiod is present and ready, runs with PILOT_ENABLE_AMBIENT=true, and its version is reported."""
    facts = ctx.facts
    infos = facts.istiods
    if not infos:
        ctx.need("deployments.apps", facts.istio_namespace)
        return failed(
            "no istiod Deployment (label app=istiod) in any namespace",
            [{"kind": "Deployment", "namespace": facts.istio_namespace, "name": "istiod", "found": False}],
            "Install Istio with the ambient profile:\n" + AMBIENT_INSTALL,
        )
    evidence = [_istiod_evidence(i) for i in infos]
    ambient = [i for i in infos if i.ambient is True]
    indirect = [i for i in infos if i.ambient is None]
    if not ambient:
        if indirect:
            names = join_names([i.ref for i in indirect])
            return warned(
                f"{AMBIENT_ENV} on {names} is set from a ConfigMap or Secret; cannot tell whether ambient is on",
                evidence,
                f"kubectl exec -n {indirect[0].namespace} deploy/{indirect[0].name} -c discovery -- env | grep {AMBIENT_ENV}",
            )
        first = infos[0]
        raw = first.ambient_raw
        why = (
            f"{AMBIENT_ENV} is unset on istiod {first.ref}"
            if AMBIENT_ENV not in first.env
            else f"istiod {first.ref} has {AMBIENT_ENV}={raw!s}"
            + (
                ""
                if parse_go_bool(raw) is not None
                else ", not a boolean, so istiod keeps the default (false)"
            )
        )
        return failed(
            f"ambient mode is off: {why}",
            evidence,
            "Re-install (or upgrade) istiod with the ambient profile:\n"
            + AMBIENT_INSTALL
            + "\n# quick fix, overwritten by the next install:\n"
            + _set_env_fix(first, AMBIENT_ENV, "true"),
        )

    ready = [i for i in ambient if (i.ready or 0) > 0]
    main = ready[0] if ready else ambient[0]
    version = str(main.version) if main.version else "unknown version"
    if not ready:
        if all(i.ready is None for i in ambient):
            return warned(
                f"istiod {main.ref} ({version}) has ambient enabled; its readiness was not recorded",
                evidence,
                f"kubectl get deployment {main.name} -n {main.namespace}",
            )
        return failed(
            f"istiod {main.ref} ({version}) has ambient enabled but 0/{main.desired} replicas ready",
            evidence,
            f"kubectl describe deployment {main.name} -n {main.namespace}\n"
            f"kubectl logs -n {main.namespace} deploy/{main.name} -c discovery --tail=50",
        )

    # flags that switch waypoints off even with ambient on (features/ambient.go, experimental.go)
    for flag in ("PILOT_ENABLE_AMBIENT_WAYPOINTS", "PILOT_ENABLE_GATEWAY_API"):
        if main.flag(flag, True) is False:
            return failed(
                f"istiod {main.ref} has ambient on but {flag}=false: it does not program waypoints",
                evidence,
                _set_env_fix(main, flag, "true"),
            )

    notes = []
    if main.ready is not None and main.ready < main.desired:
        notes.append(f"{main.ready}/{main.desired} replicas ready")
    others = [i for i in infos if i.ambient is not True]
    if others:
        notes.append(f"revision {join_names([i.revision for i in others])} without ambient")
    if main.flag("AMBIENT_ENABLE_STATUS", True) is False:
        notes.append("AMBIENT_ENABLE_STATUS=false: no status conditions are written")
    message = f"istiod {version} (revision {main.revision}) is ready with ambient enabled"
    if main.ready is not None and main.ready < main.desired:
        return warned(
            message + "; " + "; ".join(notes),
            evidence,
            f"kubectl describe deployment {main.name} -n {main.namespace}",
        )
    return passed(message + (f" ({'; '.join(notes)})" if notes else ""), evidence)


# -- WD103 ---------------------------------------------------------------------------------------
def gateway_api_release_for(version: IstioVersion | None) -> tuple[str, str]:
    """(Gateway API release, why that one) for an install command."""
    if version is None:
        return _DEFAULT_GATEWAY_API, "the release Istio 1.28 vendors; use the one matching your Istio"
    for major, minor, release in _GATEWAY_API_FOR_ISTIO:
        if version.at_least(major, minor):
            return release, f"the release Istio {version.minor_text} is built against"
    return _OLDEST_GATEWAY_API, f"the release Istio {version.minor_text} is built against"


def gateway_api_install(version: IstioVersion | None) -> str:
    release, why = gateway_api_release_for(version)
    return (
        f"# {release}: {why}\n"
        "kubectl apply --server-side -f "
        f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{release}/standard-install.yaml"
    )


def _crd_served_versions(crd: Obj) -> list[str]:
    versions = dig(crd, "spec", "versions", default=[])
    return [
        v["name"]
        for v in (versions if isinstance(versions, list) else [])
        if isinstance(v, Mapping) and isinstance(v.get("name"), str) and v.get("served", True) is not False
    ]


def _from_crd_objects(ctx: CheckContext) -> Outcome | None:
    view = ctx.view
    if view.missing(CRDS) is not None:
        return None
    evidence = []
    lacking = []
    for name in GATEWAY_CRDS:
        crd = view.get(CRDS, None, name)
        if crd is None:
            lacking.append(f"{name} is not installed")
            evidence.append({"kind": "CustomResourceDefinition", "name": name, "installed": False})
            continue
        served = _crd_served_versions(crd)
        evidence.append(
            {
                "kind": "CustomResourceDefinition",
                "name": name,
                "served": served,
                "bundleVersion": obj_annotations(crd).get(BUNDLE_VERSION_ANNOTATION),
            }
        )
        if "v1" not in served:
            lacking.append(f"{name} does not serve v1 (serves {', '.join(served) or 'nothing'})")
    install = gateway_api_install(ctx.facts.istio_version)
    if lacking:
        return failed(f"Gateway API CRDs: {join_names(lacking, 2)}", evidence, install)
    return passed("the Gateway API CRDs are installed and serve v1 (read from the CRD objects)", evidence)


@check(
    "WD103",
    "Gateway API CRDs installed",
    category="control-plane",
    reads=("discovery",),
    scope="cluster",
)
def gateway_api_crds(ctx: CheckContext) -> Outcome:
    """The Gateway API CRDs (gateways, gatewayclasses in gateway.networking.k8s.io) are installed and serve v1."""
    view = ctx.view
    install = gateway_api_install(ctx.facts.istio_version)
    versions = list(view.api_groups.get(GATEWAY_API_GROUP, ())) if view.api_groups is not None else []
    group_ev = {"kind": "APIGroup", "name": GATEWAY_API_GROUP, "served": versions}
    crd_ev = []
    for name in GATEWAY_CRDS:
        crd = view.get(CRDS, None, name)
        if crd is not None:
            bundle = obj_annotations(crd).get(BUNDLE_VERSION_ANNOTATION)
            crd_ev.append({"kind": "CustomResourceDefinition", "name": name, "bundleVersion": bundle})
    served = view.serves(GATEWAY_API_GROUP, "v1")
    if served is True:
        return passed(f"the Gateway API is served at {GATEWAY_API_GROUP}/v1", [group_ev, *crd_ev])
    if served is False:
        if view.serves(GATEWAY_API_GROUP):
            return failed(
                f"the Gateway API CRDs serve only {', '.join(versions)}, not v1: waypoints need v1 (Gateway API ≥ v1.0)",
                [group_ev, *crd_ev],
                install,
            )
        return failed(
            f"the Gateway API CRDs are not installed ({GATEWAY_API_GROUP} is not served): no waypoint can exist",
            [group_ev],
            install,
        )

    # discovery unknown (a hand-made snapshot): CRD objects, then what reading Gateways said
    outcome = _from_crd_objects(ctx)
    if outcome is not None:
        return outcome
    for key in (GATEWAYS, GATEWAY_CLASSES):
        entry = view.unreadable_for(key)
        if entry is not None and entry.reason == "NotFound" and entry.namespace is None and not entry.name:
            return failed(
                f"the Gateway API CRDs are not installed (reading {key} answered NotFound)",
                [{"kind": "APIGroup", "name": GATEWAY_API_GROUP, "reason": "NotFound", "resource": key}],
                install,
            )
    objs = [*view.list(GATEWAYS), *view.list(GATEWAY_CLASSES)]
    if objs:
        api_versions = sorted({str(o.get("apiVersion")) for o in objs})
        if f"{GATEWAY_API_GROUP}/v1" in api_versions:
            return passed(
                "the Gateway API CRDs are installed and serve v1 (inferred from the collected Gateway objects)",
                [{"kind": "APIGroup", "name": GATEWAY_API_GROUP, "objectVersions": api_versions}],
            )
    return skipped(
        "cannot tell whether the Gateway API CRDs are installed: the snapshot has no API discovery data "
        "and no CustomResourceDefinition objects"
    )


# -- WD104 ---------------------------------------------------------------------------------------
def _class_evidence(cls: Obj) -> dict[str, Any]:
    accepted = find_condition(cls, "Accepted")
    return {
        "kind": "GatewayClass",
        "name": obj_name(cls),
        "controllerName": dig(cls, "spec", "controllerName"),
        "condition": "Accepted" if accepted else None,
        "status": accepted.status if accepted else None,
        "reason": accepted.reason if accepted else None,
        "message": one_line(accepted.message, 160) if accepted else None,
    }


_WAYPOINT_CLASS_YAML = f"""apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: {WAYPOINT_CLASS}
spec:
  controllerName: {MESH_CONTROLLER}
  description: The default Istio waypoint GatewayClass"""


@check(
    "WD104",
    "GatewayClass istio-waypoint accepted",
    category="control-plane",
    reads=(GATEWAY_CLASSES,),
    scope="cluster",
)
def waypoint_gateway_class(ctx: CheckContext) -> Outcome:
    """GatewayClass istio-waypoint exists, names controller istio.io/mesh-controller, and is Accepted=True."""
    facts = ctx.facts
    if facts.gateway_api_missing:
        raise SkipCheck(facts.gateway_api_missing)
    ctx.need(GATEWAY_CLASSES)
    classes = ctx.view.list(GATEWAY_CLASSES)
    recognised = [
        _class_evidence(c)
        for c in classes
        if obj_name(c) in OTHER_ISTIO_CLASSES
        or (obj_name(c) in WAYPOINT_CLASSES and obj_name(c) != WAYPOINT_CLASS)
    ]
    cls = ctx.view.get(GATEWAY_CLASSES, None, WAYPOINT_CLASS)
    if cls is None:
        istiod = facts.ambient_istiod
        evidence = [{"kind": "GatewayClass", "name": WAYPOINT_CLASS, "found": False}, *recognised]
        if istiod is not None and istiod.ambient:
            why = (
                " (PILOT_ENABLE_GATEWAY_API_GATEWAYCLASS_CONTROLLER=false)"
                if istiod.flag("PILOT_ENABLE_GATEWAY_API_GATEWAYCLASS_CONTROLLER", True) is False
                else ""
            )
            return warned(
                f"GatewayClass {WAYPOINT_CLASS} is missing{why}; istiod falls back to its built-in class, "
                "so waypoints still work, but tools that list GatewayClasses will not see it",
                evidence,
                f"kubectl apply -f - <<'EOF'\n{_WAYPOINT_CLASS_YAML}\nEOF",
            )
        return warned(
            f"GatewayClass {WAYPOINT_CLASS} is missing: an ambient-enabled istiod creates it (see WD102)",
            evidence,
            "Enable ambient on istiod (see WD102); it creates the class on start.",
        )
    evidence = [_class_evidence(cls), *recognised]
    controller = dig(cls, "spec", "controllerName")
    if controller != MESH_CONTROLLER:
        return failed(
            f"GatewayClass {WAYPOINT_CLASS} names controller {controller!s}, not {MESH_CONTROLLER}: "
            "istiod will not program waypoints of this class",
            evidence,
            "controllerName cannot be changed in place; delete the class and let istiod recreate it:\n"
            f"kubectl delete gatewayclass {WAYPOINT_CLASS}\n"
            f"kubectl rollout restart deployment/istiod -n {facts.istio_namespace}",
        )
    accepted = find_condition(cls, "Accepted")
    if accepted is None:
        return informed(
            f"GatewayClass {WAYPOINT_CLASS} exists with controller {MESH_CONTROLLER}; its status was not recorded",
            evidence,
        )
    if accepted.status == "True":
        return passed(f"GatewayClass {WAYPOINT_CLASS} is accepted by {MESH_CONTROLLER}", evidence)
    if accepted.status == "Unknown" or accepted.reason == "Pending":
        return failed(
            f"GatewayClass {WAYPOINT_CLASS} is not accepted by any controller "
            f'({accepted.reason or "Pending"}: "{one_line(accepted.message, 80)}"): istiod is not running '
            "with ambient (see WD102)",
            evidence,
            f"kubectl logs -n {facts.istio_namespace} deploy/istiod -c discovery | grep -i gatewayclass",
        )
    return failed(
        f"GatewayClass {WAYPOINT_CLASS} is Accepted={accepted.status} "
        f'({accepted.reason}: "{one_line(accepted.message, 120)}")',
        evidence,
        f"kubectl describe gatewayclass {WAYPOINT_CLASS}\n"
        f"kubectl logs -n {facts.istio_namespace} deploy/istiod -c discovery | grep -i gatewayclass",
    )


# -- WD105 ---------------------------------------------------------------------------------------
def _ambient_pods_by_node(pods: Iterable[Obj]) -> dict[str, list[str]]:
    """Nodes of pods that need a ztunnel: captured pods and waypoint pods, cluster-wide."""
    out: dict[str, list[str]] = defaultdict(list)
    for p in pods:
        node = pod_node(p)
        if node is None:
            continue
        labels = obj_labels(p)
        captured = obj_annotations(p).get(REDIRECTION_ANNOTATION) in ("enabled", "pending")
        waypoint = labels.get(MANAGED_LABEL) == "istio.io-mesh-controller" and labels.get(GATEWAY_NAME_LABEL)
        if captured or waypoint:
            out[node].append(f"{obj_namespace(p)}/{obj_name(p)}")
    return out


def _node_evidence(ctx: CheckContext, node: str, pods: list[str]) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": "Node", "name": node, "readyZtunnel": False, "pods": pods[:5]}
    obj = ctx.view.get("nodes", None, node)
    if obj is not None:
        ready = find_condition(obj, "Ready")
        item["ready"] = ready.status if ready else None
        taints = dig(obj, "spec", "taints", default=[])
        item["taints"] = [
            f"{t.get('key')}{'=' + str(t.get('value')) if t.get('value') else ''}:{t.get('effect')}"
            for t in (taints if isinstance(taints, list) else [])
            if isinstance(t, Mapping)
        ] or None
    return item


def _toleration_hint(ds: DaemonSetReadiness | None) -> str:
    if ds is None:
        return ""
    return (
        f"\n# if the node is tainted, let ztunnel tolerate it, e.g.:\n"
        f'kubectl patch daemonset {ds.name} -n {ds.namespace} --type=merge -p \'{{"spec":{{"template":{{"spec":'
        f'{{"tolerations":[{{"operator":"Exists"}}]}}}}}}}}\''
    )


@check(
    "WD105",
    "ztunnel ready on the relevant nodes",
    category="control-plane",
    reads=("daemonsets.apps", "pods"),
    scope="service",
)
def ztunnel_ready(ctx: CheckContext) -> Outcome:
    """The ztunnel DaemonSet is ready, with a ready ztunnel on every node hosting the service's or waypoint's pods."""
    facts = ctx.facts
    sets = facts.ztunnel_daemonsets
    if not sets:
        ctx.need("daemonsets.apps", facts.istio_namespace)
        return failed(
            "no ztunnel DaemonSet (label app=ztunnel) in any namespace: the ambient data plane is not installed",
            [{"kind": "DaemonSet", "namespace": facts.istio_namespace, "name": "ztunnel", "found": False}],
            "Install ztunnel:\n"
            "istioctl install --set profile=ambient --skip-confirmation\n"
            "# or, with Helm: helm install ztunnel istio/ztunnel -n istio-system --wait",
        )
    readiness = [daemonset_readiness(d) for d in sets]
    evidence: list[dict[str, Any]] = [r.as_evidence() for r in readiness]
    main = readiness[0]
    for r in readiness:
        ctx.need("pods", r.namespace)

    ready_nodes = {n for p in facts.ztunnel_pods if pod_is_ready(p) and (n := pod_node(p))}
    needed = sorted(facts.relevant_nodes)
    target_pods: dict[str, list[str]] = defaultdict(list)
    for p in [*facts.service_pods, *facts.waypoint_pods]:
        if (n := pod_node(p)) is not None:
            target_pods[n].append(f"{obj_namespace(p)}/{obj_name(p)}")
    missing = [n for n in needed if n not in ready_nodes]
    if missing:
        evidence += [_node_evidence(ctx, n, target_pods[n]) for n in missing]
        what = join_names([f"{n} ({join_names(target_pods[n], 2)})" for n in missing], 2)
        return failed(
            f"no ready ztunnel on node {what}: traffic of those pods is not captured or served",
            evidence,
            f"kubectl get pods -n {main.namespace} -l app=ztunnel -o wide\n"
            f"kubectl describe daemonset {main.name} -n {main.namespace}" + _toleration_hint(main),
        )

    not_ready = [r for r in readiness if r.fully_ready is False]
    others = {
        n: pods
        for n, pods in ctx.view.derived(
            "ambient-pods-by-node", lambda: _ambient_pods_by_node(ctx.view.list("pods"))
        ).items()
        if n not in ready_nodes
    }
    unseen = ctx.view.missing("pods", ctx.target.namespace)
    if unseen is not None:
        note = f"the service's pods could not be read: {unseen.describe()}"
    elif facts.service is None:
        note = f"service {ctx.target.name} not found, so only the DaemonSet was checked"
    else:
        note = "no pod of this service is scheduled on a node yet"
    covered = f"covers {plural(len(needed), 'node')} of this service" if needed else f"is running ({note})"
    if not_ready or others:
        problems = [f"{r.name} {r.ready}/{r.desired} ready" for r in not_ready]
        if others:
            evidence += [_node_evidence(ctx, n, pods) for n, pods in sorted(others.items())]
            problems.append(
                f"no ready ztunnel on {join_names(sorted(others), 2)} where other ambient pods run"
            )
        return warned(
            f"ztunnel {covered}, but {join_names(problems, 2)}",
            evidence,
            f"kubectl get pods -n {main.namespace} -l app=ztunnel -o wide\n"
            f"kubectl describe daemonset {main.name} -n {main.namespace}" + _toleration_hint(main),
        )
    if main.fully_ready is None and not ready_nodes:
        return warned(
            f"ztunnel DaemonSet {main.namespace}/{main.name} found, but its readiness was not recorded",
            evidence,
            f"kubectl get daemonset {main.name} -n {main.namespace}",
        )
    total = f"{main.ready}/{main.desired}" if main.desired is not None else f"{len(ready_nodes)}"
    if not needed:
        return passed(f"ztunnel {total} ready ({note})", evidence)
    on = f" (including {join_names(needed, 2)})"
    return passed(f"ztunnel {total} ready; a ready ztunnel runs on every node of this service{on}", evidence)


# -- WD106 ---------------------------------------------------------------------------------------
def _cni_ambient_setting(ctx: CheckContext, ds: Obj) -> tuple[bool | None, str]:
    """Whether istio-cni runs with ambient: DaemonSet env (1.22), ConfigMap istio-cni-config (1.23+)."""
    for c in pod_template_containers(ds):
        env = container_env(c)
        if "AMBIENT_ENABLED" in env and env["AMBIENT_ENABLED"] is not None:
            return parse_go_bool(env["AMBIENT_ENABLED"]), f"env AMBIENT_ENABLED={env['AMBIENT_ENABLED']}"
    cm = ctx.view.get("configmaps", obj_namespace(ds), "istio-cni-config")
    value = dig(cm, "data", "AMBIENT_ENABLED") if cm is not None else None
    if isinstance(value, str):
        return parse_go_bool(value), f"ConfigMap istio-cni-config AMBIENT_ENABLED={value}"
    return None, "not recorded"


@check(
    "WD106",
    "istio-cni ready",
    category="control-plane",
    reads=("daemonsets.apps",),
    scope="cluster",
)
def cni_ready(ctx: CheckContext) -> Outcome:
    """The istio-cni DaemonSet (istio-cni-node) is ready on every node and runs with ambient enabled."""
    facts = ctx.facts
    sets = facts.cni_daemonsets
    if not sets:
        ctx.need("daemonsets.apps", facts.istio_namespace)
        return failed(
            "no istio-cni DaemonSet (istio-cni-node, label k8s-app=istio-cni-node): ambient pods cannot be captured",
            [
                {
                    "kind": "DaemonSet",
                    "namespace": facts.istio_namespace,
                    "name": "istio-cni-node",
                    "found": False,
                }
            ],
            "Install istio-cni with ambient:\n"
            "istioctl install --set profile=ambient --skip-confirmation\n"
            "# or, with Helm: helm install istio-cni istio/cni -n istio-system --set profile=ambient --wait",
        )
    ds = sets[0]
    r = daemonset_readiness(ds)
    ambient, setting = _cni_ambient_setting(ctx, ds)
    evidence = [r.as_evidence() | {"ambient": setting}]
    if ambient is False:
        return failed(
            f"istio-cni {r.namespace}/{r.name} runs without ambient ({setting}): pods are never captured",
            evidence,
            f"helm upgrade istio-cni istio/cni -n {r.namespace} --reuse-values --set profile=ambient",
        )
    ready_nodes = {
        n for p in ctx.view.list("pods") if is_cni_pod(p) and pod_is_ready(p) and (n := pod_node(p))
    }
    lacking = sorted(n for n in facts.relevant_nodes if ready_nodes and n not in ready_nodes)
    fix = (
        f"kubectl get pods -n {r.namespace} -l k8s-app=istio-cni-node -o wide\n"
        f"kubectl describe daemonset {r.name} -n {r.namespace}"
    )
    if r.fully_ready is False or lacking:
        where = f"; none ready on {join_names(lacking, 2)}" if lacking else ""
        return failed(
            f"istio-cni {r.namespace}/{r.name} is {r.ready}/{r.desired} ready{where}: new pods there are not captured",
            evidence,
            fix,
        )
    if r.fully_ready is None:
        return warned(
            f"istio-cni {r.namespace}/{r.name} found, but its readiness was not recorded", evidence, fix
        )
    return passed(f"istio-cni {r.namespace}/{r.name} is {r.ready}/{r.desired} ready", evidence)


# -- WD107 ---------------------------------------------------------------------------------------
@check("WD107", "Mesh trust domain", category="control-plane", scope="cluster")
def trust_domain(ctx: CheckContext) -> Outcome:
    """The mesh trust domain and its aliases (ConfigMap istio, key mesh), which policy principals must use."""
    facts = ctx.facts
    mesh = facts.mesh
    evidence: dict[str, Any] = {
        "kind": "ConfigMap",
        "namespace": mesh.istio_namespace,
        "name": mesh.source.split("/", 1)[1] if mesh.source else "istio",
        "key": "mesh",
        "trustDomain": mesh.trust_domain,
        "trustDomainAliases": list(mesh.trust_domain_aliases) or None,
        "rootNamespace": mesh.root_namespace,
    }
    if mesh.problem:
        return warned(
            f"the mesh key of ConfigMap {mesh.source} cannot be parsed; assuming trust domain {mesh.trust_domain}",
            [evidence | {"problem": one_line(mesh.problem, 160)}],
            f"kubectl get configmap {evidence['name']} -n {mesh.istio_namespace} -o jsonpath='{{.data.mesh}}'",
        )
    if mesh.source is None:
        unread = ctx.view.missing("configmaps", mesh.istio_namespace)
        if unread is not None and unread.reason == "NotCollected":
            # nothing was read, so nothing is wrong: an empty or partial snapshot
            raise SkipCheck(f"{unread.describe()}; the policy checks assume trust domain {mesh.trust_domain}")
        why = (
            f"it could not be read ({unread.describe()})"
            if unread is not None and unread.reason != "NotCollected"
            else f"it is not in namespace {mesh.istio_namespace}"
        )
        if unread is not None and unread.reason == "NotCollected":
            why = "it was not collected"
        return warned(
            f"no mesh ConfigMap istio: {why}; assuming the default trust domain {mesh.trust_domain}",
            [evidence | {"found": False}],
            f"kubectl get configmap istio -n {mesh.istio_namespace} -o jsonpath='{{.data.mesh}}'",
        )
    aliases = f", aliases {', '.join(mesh.trust_domain_aliases)}" if mesh.trust_domain_aliases else ""
    return informed(
        f"trust domain {mesh.trust_domain}{aliases}; root namespace {mesh.root_namespace} (from {mesh.source})",
        [evidence],
    )


CHECKS: tuple[CheckSpec, ...] = (
    api_access,
    istiod_ambient,
    gateway_api_crds,
    waypoint_gateway_class,
    ztunnel_ready,
    cni_ready,
    trust_domain,
)
