"""Checks WD3xx: the Service, its binding to a waypoint, and the waypoint itself.

Facts from the reference, sections 1 and 2: istiod binds a Service to the Gateway its
`istio.io/use-waypoint` label names (the Service label wins over the namespace's, `none` opts
out, there is no fallback), only once that Gateway has `status.addresses`, only if the HBONE
listener's `allowedRoutes` admit the Service's namespace and `istio.io/waypoint-for` covers
service traffic. It reports the outcome in the Service's `istio.io/WaypointBound` condition
(1.24+). When a check's input is missing because an upstream check failed, it skips and points
there instead of failing again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from waypoint_doctor.checks.enrollment import require_namespace, workload_of
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
from waypoint_doctor.collect.view import Obj, dig, obj_labels, obj_name, obj_namespace
from waypoint_doctor.mesh.binding import WaypointBinding
from waypoint_doctor.mesh.conditions import Condition, conditions_of, find_condition
from waypoint_doctor.mesh.controlplane import INGRESS_CLASS, is_ingress_gateway_pod
from waypoint_doctor.mesh.gateways import (
    AGENTGATEWAY_WAYPOINT_CLASS,
    OTHER_ISTIO_CLASSES,
    TRAFFIC_TYPES_FOR_SERVICES,
    WAYPOINT_CLASSES,
    allowed_routes,
    gateway_addresses,
    gateway_class_name,
    gateway_listeners,
    is_waypoint_listener,
    listener_port,
    waypoint_gateways_in,
    waypoint_traffic_type,
)
from waypoint_doctor.mesh.golang import parse_go_bool
from waypoint_doctor.mesh.labels import (
    GATEWAY_NAME_LABEL,
    HBONE_PORT,
    INGRESS_USE_WAYPOINT,
    LEGACY_GATEWAY_NAME_LABEL,
    MANAGED_LABEL,
    USE_WAYPOINT,
    USE_WAYPOINT_NAMESPACE,
    WAYPOINT_BOUND,
    WAYPOINT_CLASS,
    WAYPOINT_FOR,
)
from waypoint_doctor.mesh.names import did_you_mean, suggestion_text
from waypoint_doctor.mesh.selectors import describe_label_selector
from waypoint_doctor.mesh.text import join_names, one_line, plural
from waypoint_doctor.mesh.version import IstioVersion
from waypoint_doctor.mesh.workloads import (
    pod_condition,
    pod_is_ready,
    pod_restarts,
    pod_waiting_reasons,
)

GATEWAYS = "gateways.gateway.networking.k8s.io"
GATEWAY_CLASSES = "gatewayclasses.gateway.networking.k8s.io"
MESH_MANAGED = "istio.io-mesh-controller"
DEFAULT_WAYPOINT_NAME = "waypoint"
CANARY_PREFIX = "Canary waypoint not attached"
RESTARTS_WORTH_A_WARNING = 5


# -- shared preconditions ------------------------------------------------------------------------
def require_service(ctx: CheckContext) -> Obj:
    require_namespace(ctx)
    svc = ctx.facts.service
    if svc is not None:
        return svc
    ctx.need("services", ctx.target.namespace)
    raise SkipCheck(f"service {ctx.target.namespace}/{ctx.target.name} not found (see WD301)")


def is_waypoint_service(svc: Obj) -> bool:
    return obj_labels(svc).get(MANAGED_LABEL) == MESH_MANAGED


def require_binding(ctx: CheckContext) -> WaypointBinding:
    svc = require_service(ctx)
    if is_waypoint_service(svc):
        raise SkipCheck(
            f"{ctx.target.name} is a waypoint's own Service; waypoints are never bound to a waypoint"
        )
    b = ctx.facts.binding
    if not b.bound:
        raise SkipCheck(f"service {ctx.target.name} is not bound to a waypoint (see WD302)")
    return b


def require_waypoint(ctx: CheckContext) -> Obj:
    """The waypoint Gateway the Service is bound to, or a skip naming the upstream check."""
    b = require_binding(ctx)
    if ctx.facts.gateway_api_missing:
        raise SkipCheck(ctx.facts.gateway_api_missing)
    ctx.need(GATEWAYS, b.waypoint_namespace)
    gw = ctx.facts.waypoint
    if gw is None:
        raise SkipCheck(f"waypoint Gateway {b.ref} not found (see WD303)")
    return gw


def require_waypoint_class(ctx: CheckContext) -> Obj:
    gw = require_waypoint(ctx)
    cls = gateway_class_name(gw)
    if cls not in WAYPOINT_CLASSES:
        raise SkipCheck(
            f"Gateway {obj_namespace(gw)}/{obj_name(gw)} has gatewayClassName {cls}, "
            "so it is not a waypoint (see WD304)"
        )
    return gw


# -- evidence helpers ----------------------------------------------------------------------------
def _service_label_evidence(svc: Obj, key: str) -> dict[str, Any]:
    return {
        "kind": "Service",
        "namespace": obj_namespace(svc),
        "name": obj_name(svc),
        "label": key,
        "value": obj_labels(svc).get(key),
    }


def _gateway_ref(gw: Obj) -> str:
    return f"{obj_namespace(gw)}/{obj_name(gw)}"


def _label_target(b: WaypointBinding, ns: str, svc: str) -> str:
    return f"namespace {ns}" if b.source == "namespace" else f"service {svc} -n {ns}"


def allowed_routes_fix(gw: Obj | None, name: str, namespace: str, client_namespace: str) -> str:
    """A patch letting the HBONE listener admit `client_namespace` (All, or a Selector on its name)."""
    index = 0
    if gw is not None:
        listeners = gateway_listeners(gw)
        index = next((i for i, lst in enumerate(listeners) if is_waypoint_listener(lst)), 0)
    path = f"/spec/listeners/{index}/allowedRoutes"
    selector = (
        '{"namespaces":{"from":"Selector","selector":{"matchLabels":'
        f'{{"kubernetes.io/metadata.name":"{client_namespace}"}}}}}}}}'
    )
    return (
        f"kubectl patch gateway {name} -n {namespace} --type=json "
        f'-p \'[{{"op":"add","path":"{path}","value":{{"namespaces":{{"from":"All"}}}}}}]\'\n'
        f"# or admit only {client_namespace}:\n"
        f"kubectl patch gateway {name} -n {namespace} --type=json "
        f'-p \'[{{"op":"add","path":"{path}","value":{selector}}}]\''
    )


def waypoint_yaml(name: str, namespace: str, allowed_from: str | None = None) -> str:
    allowed = f"\n    allowedRoutes:\n      namespaces:\n        from: {allowed_from}" if allowed_from else ""
    return (
        "apiVersion: gateway.networking.k8s.io/v1\n"
        "kind: Gateway\n"
        "metadata:\n"
        f"  name: {name}\n"
        f"  namespace: {namespace}\n"
        "  labels:\n"
        f"    {WAYPOINT_FOR}: service\n"
        "spec:\n"
        f"  gatewayClassName: {WAYPOINT_CLASS}\n"
        "  listeners:\n"
        "  - name: mesh\n"
        f"    port: {HBONE_PORT}\n"
        f"    protocol: HBONE{allowed}"
    )


# -- WD301 ---------------------------------------------------------------------------------------
def _selector_hint(selector: Mapping[str, Any], pods: list[Obj]) -> str:
    """`; pods here have app=mlflow-server` when a selector key exists with other values."""
    hints = []
    for key, wanted in selector.items():
        values = sorted({str(v) for p in pods if (v := obj_labels(p).get(key)) is not None})
        if values and wanted not in values:
            close = did_you_mean(str(wanted), values, limit=1)
            hints.append(f"{key}={close[0]}" if close else f"{key} in ({', '.join(values[:4])})")
    return f"; pods in the namespace have {join_names(hints, 2)}" if hints else ""


def _pod_state(pod: Obj) -> str:
    reasons = pod_waiting_reasons(pod)
    if reasons:
        return reasons[0]
    if pod_condition(pod, "PodScheduled") == "False":
        return "Unschedulable"
    phase = dig(pod, "status", "phase")
    if phase == "Running" and not pod_is_ready(pod):
        return "Running, not Ready"
    return str(phase or "Unknown")


@check("WD301", "Service exists with ready endpoints", category="waypoint", reads=("services",))
def service_has_endpoints(ctx: CheckContext) -> Outcome:
    """The service exists and its selector matches Running, Ready pods."""
    require_namespace(ctx)
    ns, name = ctx.target.namespace, ctx.target.name
    ctx.need("services", ns)
    svc = ctx.facts.service
    if svc is None:
        close = did_you_mean(name, ctx.view.names("services", ns))
        elsewhere = sorted(obj_namespace(s) for s in ctx.view.list("services") if obj_name(s) == name)
        there = f"; a Service {name} exists in namespace {join_names(elsewhere, 2)}" if elsewhere else ""
        fix = (
            f"waypoint-doctor check {close[0]} -n {ns}"
            if close
            else (
                f"waypoint-doctor check {name} -n {elsewhere[0]}"
                if elsewhere
                else f"kubectl get services -n {ns}"
            )
        )
        return failed(
            f"service {name} does not exist in namespace {ns}{suggestion_text(close)}{there}",
            [{"kind": "Service", "namespace": ns, "name": name, "found": False}],
            fix,
        )
    svc_type = dig(svc, "spec", "type")
    selector = dig(svc, "spec", "selector")
    ev: dict[str, Any] = {"kind": "Service", "namespace": ns, "name": name, "type": svc_type or "ClusterIP"}
    if svc_type == "ExternalName":
        return warned(
            f"service {name} is an ExternalName alias for {dig(svc, 'spec', 'externalName')}: it has no pods and "
            "no waypoint applies to it",
            [ev],
            "Target the Service (or a ServiceEntry) that fronts the real workload instead.",
        )
    if not isinstance(selector, Mapping) or not selector:
        return warned(
            f"service {name} has no selector: its endpoints are managed by hand, so its pods cannot be checked",
            [ev | {"selector": None}],
            f"kubectl get endpointslices -n {ns} -l kubernetes.io/service-name={name}",
        )
    ev["selector"] = describe_label_selector({"matchLabels": selector})
    ctx.need("pods", ns)
    pods = ctx.facts.service_pods
    if not pods:
        hint = _selector_hint(selector, list(ctx.view.list("pods", ns)))
        return failed(
            f"service {name}'s selector {ev['selector']} matches no pod in {ns}{hint}",
            [ev],
            f"kubectl get pods -n {ns} --show-labels\n"
            f"kubectl get endpointslices -n {ns} -l kubernetes.io/service-name={name}",
        )
    ready = [p for p in pods if pod_is_ready(p)]
    pods_ev = [
        {
            "kind": "Pod",
            "namespace": ns,
            "name": obj_name(p),
            "phase": dig(p, "status", "phase"),
            "ready": pod_is_ready(p),
            "state": None if pod_is_ready(p) else _pod_state(p),
        }
        for p in pods
    ]
    not_ready = [f"{obj_name(p)} ({_pod_state(p)})" for p in pods if not pod_is_ready(p)]
    fix = f"kubectl get pods -n {ns} -l {ev['selector']} -o wide\nkubectl describe pods -n {ns} -l {ev['selector']}"
    if not ready:
        which = (
            f"the only pod of {name} is" if len(pods) == 1 else f"none of the {len(pods)} pods of {name} is"
        )
        return failed(
            f"{which} not ready: {join_names(not_ready, 2)}"
            if len(pods) == 1
            else f"{which} ready: {join_names(not_ready, 2)}",
            [ev, *pods_ev],
            fix,
        )
    if not_ready:
        return warned(
            f"{len(ready)}/{len(pods)} pods of {name} ready; not ready: {join_names(not_ready, 2)}",
            [ev, *pods_ev],
            fix,
        )
    return passed(f"service {name} selects {plural(len(pods), 'ready pod')}", [ev, *pods_ev])


# -- WD302 ---------------------------------------------------------------------------------------
def suggested_waypoint_name(ctx: CheckContext) -> tuple[str, bool]:
    """(a waypoint Gateway name to bind to, whether it already exists in the service's namespace)."""
    ns, name = ctx.target.namespace, ctx.target.name
    gws = waypoint_gateways_in(list(ctx.view.list(GATEWAYS, ns)), ns)
    names = sorted(obj_name(g) for g in gws)
    for preferred in (f"{name}-waypoint", DEFAULT_WAYPOINT_NAME):
        if preferred in names:
            return preferred, True
    if names:
        return names[0], True
    return DEFAULT_WAYPOINT_NAME, False


@check("WD302", "Service bound to a waypoint", category="waypoint", reads=("services", "namespaces"))
def service_bound(ctx: CheckContext) -> Outcome:
    """The service carries istio.io/use-waypoint (or inherits it from its namespace); `none` opts out."""
    svc = require_service(ctx)
    ns, name = ctx.target.namespace, ctx.target.name
    ns_obj = ctx.facts.namespace
    evidence = [_service_label_evidence(svc, USE_WAYPOINT)]
    if ns_obj is not None:
        evidence.append(
            {
                "kind": "Namespace",
                "name": ns,
                "label": USE_WAYPOINT,
                "value": obj_labels(ns_obj).get(USE_WAYPOINT),
            }
        )
    if is_waypoint_service(svc):
        return informed(
            f"{name} is a waypoint's own Service; waypoints are never bound to a waypoint", evidence
        )
    b = ctx.facts.binding
    gw_name, exists = suggested_waypoint_name(ctx)
    create = "" if exists else f"istioctl waypoint apply -n {ns} --name {gw_name} --wait\n"
    if b.opted_out:
        where = "Service" if b.source == "service" else f"namespace {ns}"
        value = b.label_value
        if value == "none":
            why = f"the {where} opts out with {USE_WAYPOINT}=none"
        elif value in ("~", "*/none"):
            why = (
                f"the {where} has {USE_WAYPOINT}={value}, an opt-out only in Istio 1.22; later versions look "
                f"for a Gateway named {value!r}"
            )
        else:
            why = f"the {where} has an empty {USE_WAYPOINT} label, which names no Gateway"
        return failed(
            f"{name} is not bound to a waypoint: {why}",
            evidence,
            create + f"kubectl label {_label_target(b, ns, name)} {USE_WAYPOINT}={gw_name} --overwrite",
        )
    if not b.bound:
        stray = obj_labels(svc).get(USE_WAYPOINT_NAMESPACE)
        note = f" ({USE_WAYPOINT_NAMESPACE}={stray} alone does nothing)" if stray else ""
        return failed(
            f"{name} is not bound to a waypoint: neither the Service nor namespace {ns} has {USE_WAYPOINT}{note}",
            evidence,
            create
            + f"kubectl label service {name} -n {ns} {USE_WAYPOINT}={gw_name}\n"
            + f"# or bind every service of the namespace: kubectl label namespace {ns} {USE_WAYPOINT}={gw_name}",
        )
    via = "its own label" if b.source == "service" else f"namespace {ns}'s label"
    overrides = ""
    if b.source == "service" and ns_obj is not None:
        ns_value = obj_labels(ns_obj).get(USE_WAYPOINT)
        if ns_value is not None and ns_value != b.label_value:
            overrides = f"; it overrides the namespace's {USE_WAYPOINT}={ns_value}"
    message = f"{name} is bound to waypoint {b.ref} by {via}{overrides}"
    version = ctx.facts.istio_version
    if b.waypoint_namespace != ns and version is not None and not version.at_least(1, 23):
        ignored = f", but Istio {version.minor_text} ignores {USE_WAYPOINT_NAMESPACE} (added in 1.23)"
        fix = "Upgrade Istio to 1.23 or later, or run the waypoint in the service's namespace."
        # istiod then looks for the waypoint in the Service's namespace; without one there the
        # binding fails and ztunnel sends traffic direct, around the L7 policy (reference 2.1)
        if ctx.view.missing(GATEWAYS, ns) is None and ctx.view.get(GATEWAYS, ns, b.waypoint_name) is None:
            return failed(
                f"{name} is not bound: its {USE_WAYPOINT} names waypoint {b.ref}{ignored} and looks for "
                f"{ns}/{b.waypoint_name}, which does not exist, so traffic bypasses the waypoint",
                evidence,
                fix,
            )
        return warned(message + ignored + f": it binds to {ns}/{b.waypoint_name} instead", evidence, fix)
    return passed(message, evidence)


# -- WD303 ---------------------------------------------------------------------------------------
@check("WD303", "Waypoint Gateway exists and admits the binding", category="waypoint", reads=(GATEWAYS,))
def waypoint_exists(ctx: CheckContext) -> Outcome:
    """The named waypoint Gateway exists, and a cross-namespace binding is admitted by its allowedRoutes."""
    b = require_binding(ctx)
    facts = ctx.facts
    if facts.gateway_api_missing:
        raise SkipCheck(facts.gateway_api_missing)
    ns, name = ctx.target.namespace, ctx.target.name
    wns, wname = b.waypoint_namespace or ns, b.waypoint_name or ""
    ctx.need(GATEWAYS, wns)
    gw = facts.waypoint
    label_on = _label_target(b, ns, name)
    if gw is None:
        evidence: list[dict[str, Any]] = [
            {"kind": "Gateway", "namespace": wns, "name": wname, "found": False},
        ]
        if ctx.view.missing("namespaces") is None and ctx.view.get("namespaces", None, wns) is None:
            evidence.append({"kind": "Namespace", "name": wns, "found": False})
            close_ns = did_you_mean(wns, ctx.view.names("namespaces"))
            return failed(
                f"waypoint namespace {wns} (from {USE_WAYPOINT_NAMESPACE}) does not exist{suggestion_text(close_ns)}",
                evidence,
                f"kubectl label {label_on} {USE_WAYPOINT_NAMESPACE}={close_ns[0] if close_ns else '<namespace>'} --overwrite",
            )
        close = did_you_mean(wname, ctx.view.names(GATEWAYS, wns))
        elsewhere = sorted(
            obj_namespace(g)
            for g in ctx.view.list(GATEWAYS)
            if obj_name(g) == wname and obj_namespace(g) != wns
        )
        there = (
            f"; a Gateway {wname} exists in namespace {join_names(elsewhere, 2)} "
            f"(set {USE_WAYPOINT_NAMESPACE})"
            if elsewhere
            else ""
        )
        if close:
            fix = f"kubectl label {label_on} {USE_WAYPOINT}={close[0]} --overwrite"
        elif elsewhere:
            fix = f"kubectl label {label_on} {USE_WAYPOINT_NAMESPACE}={elsewhere[0]} --overwrite"
        else:
            fix = (
                f"istioctl waypoint apply -n {wns} --name {wname} --wait\n"
                f"# or: kubectl apply -f - <<'EOF'\n{waypoint_yaml(wname, wns)}\nEOF"
            )
        return failed(
            f"waypoint Gateway {wns}/{wname} named by {USE_WAYPOINT} does not exist{suggestion_text(close)}{there}",
            evidence,
            fix,
        )
    routes = allowed_routes(gw)
    evidence = [
        {
            "kind": "Gateway",
            "namespace": wns,
            "name": wname,
            "class": gateway_class_name(gw),
            "allowedRoutes": routes.from_,
            "listener": routes.listener,
        }
    ]
    if wns == ns:
        return passed(f"waypoint Gateway {wns}/{wname} exists in the service's namespace", evidence)
    ns_obj = facts.namespace
    ns_labels = dict(obj_labels(ns_obj)) if ns_obj is not None else {}
    ns_labels.setdefault("kubernetes.io/metadata.name", ns)
    if routes.admits(wns, ns, ns_labels):
        how = (
            "all namespaces"
            if routes.from_ == "All"
            else f"namespaces matching {describe_label_selector(routes.selector)}"
        )
        return passed(f"waypoint Gateway {wns}/{wname} exists and admits {ns} ({how})", evidence)
    if routes.from_ == "Selector":
        why = f"its selector {describe_label_selector(routes.selector)} does not match namespace {ns}"
    else:
        why = "it admits only its own namespace (allowedRoutes from Same, the default)"
    return failed(
        f"waypoint {wns}/{wname} refuses {name} from namespace {ns}: {why}",
        evidence,
        allowed_routes_fix(gw, wname, wns, ns),
    )


# -- WD304 ---------------------------------------------------------------------------------------
def _listener_text(lst: Mapping[str, Any]) -> str:
    return f"listener {lst.get('name')!s} ({listener_port(lst) or lst.get('port')!s}/{lst.get('protocol')!s})"


def _listener_status_problems(gw: Obj) -> list[tuple[str, Condition]]:
    out = []
    statuses = dig(gw, "status", "listeners", default=[])
    for ls in statuses if isinstance(statuses, list) else []:
        if not isinstance(ls, Mapping):
            continue
        for cond in conditions_of(ls, "conditions"):
            bad = (cond.type in ("Accepted", "Programmed", "ResolvedRefs") and cond.status == "False") or (
                cond.type == "Conflicted" and cond.status == "True"
            )
            if bad:
                out.append((str(ls.get("name")), cond))
    return out


@check("WD304", "Waypoint Gateway well formed", category="waypoint", reads=(GATEWAYS,))
def waypoint_well_formed(ctx: CheckContext) -> Outcome:
    """gatewayClassName istio-waypoint and exactly one listener, on port 15008 with protocol HBONE."""
    gw = require_waypoint(ctx)
    ref = _gateway_ref(gw)
    cls = gateway_class_name(gw)
    listeners = gateway_listeners(gw)
    evidence: list[dict[str, Any]] = [
        {
            "kind": "Gateway",
            "namespace": obj_namespace(gw),
            "name": obj_name(gw),
            "gatewayClassName": cls,
            "listeners": [f"{lst.get('name')}:{lst.get('port')}/{lst.get('protocol')}" for lst in listeners],
        }
    ]
    fix = f"kubectl apply -f - <<'EOF'\n{waypoint_yaml(obj_name(gw), obj_namespace(gw))}\nEOF"
    if cls not in WAYPOINT_CLASSES:
        if cls is None:
            what = "has no gatewayClassName"
        elif cls in OTHER_ISTIO_CLASSES:
            kind = "an ingress gateway" if cls == INGRESS_CLASS else "not a waypoint"
            what = f"has gatewayClassName {cls} ({kind})"
        else:
            what = f"has gatewayClassName {cls}{suggestion_text(did_you_mean(cls, [WAYPOINT_CLASS]))}"
        return failed(
            f"Gateway {ref} {what}, not {WAYPOINT_CLASS}: istiod will not run it as a waypoint", evidence, fix
        )
    problems = []
    if not listeners:
        problems.append("it has no listener")
    wrong = [lst for lst in listeners if not is_waypoint_listener(lst)]
    good = [lst for lst in listeners if is_waypoint_listener(lst)]
    if wrong:
        problems.append(f"{join_names([_listener_text(lst) for lst in wrong], 2)} is not 15008/HBONE")
    if len(good) > 1:
        problems.append(f"{len(good)} listeners on 15008/HBONE where istiod expects exactly one")
    status_problems = _listener_status_problems(gw)
    for lname, cond in status_problems:
        evidence.append(
            {
                "kind": "Gateway",
                "namespace": obj_namespace(gw),
                "name": obj_name(gw),
                "listener": lname,
                "condition": cond.type,
                "status": cond.status,
                "reason": cond.reason,
                "message": one_line(cond.message, 160),
            }
        )
    if not problems and status_problems:
        lname, cond = status_problems[0]
        problems.append(
            f'listener {lname} is {cond.type}={cond.status} ({cond.reason}: "{one_line(cond.message, 100)}")'
        )
    if problems:
        return failed(f"waypoint Gateway {ref} is malformed: {join_names(problems, 2)}", evidence, fix)
    if cls == AGENTGATEWAY_WAYPOINT_CLASS:
        return warned(
            f"waypoint Gateway {ref} uses class {cls} (the agentgateway data plane); the checks assume the "
            f"Envoy-based {WAYPOINT_CLASS}, so the log evidence may not apply",
            evidence,
        )
    return passed(f"waypoint Gateway {ref}: class {cls}, one listener on 15008/HBONE", evidence)


# -- WD305 ---------------------------------------------------------------------------------------
@check("WD305", "Waypoint accepts service traffic", category="waypoint", reads=(GATEWAYS,))
def waypoint_traffic(ctx: CheckContext) -> Outcome:
    """istio.io/waypoint-for lets service traffic through (service or all; absent means service)."""
    gw = require_waypoint_class(ctx)
    ref = _gateway_ref(gw)
    cls_obj = ctx.facts.waypoint_class
    value, source = waypoint_traffic_type(gw, cls_obj)
    evidence = [
        {
            "kind": "Gateway",
            "namespace": obj_namespace(gw),
            "name": obj_name(gw),
            "label": WAYPOINT_FOR,
            "value": obj_labels(gw).get(WAYPOINT_FOR),
        }
    ]
    if cls_obj is not None:
        evidence.append(
            {
                "kind": "GatewayClass",
                "name": obj_name(cls_obj),
                "label": WAYPOINT_FOR,
                "value": obj_labels(cls_obj).get(WAYPOINT_FOR),
            }
        )
    where = {
        "Gateway": "its own label",
        "GatewayClass": f"GatewayClass {gateway_class_name(gw)}",
        "default": "the default",
    }[source]
    fix = f"kubectl label gateway {obj_name(gw)} -n {obj_namespace(gw)} {WAYPOINT_FOR}=service --overwrite"
    if value not in TRAFFIC_TYPES_FOR_SERVICES:
        if value in ("workload", "none"):
            why = f"{WAYPOINT_FOR}={value} (from {where}): traffic addressed to the Service bypasses it"
        else:
            why = (
                f"{WAYPOINT_FOR}={value!r} (from {where}) is not service, workload, all or none; istiod compares "
                "exactly, so it takes no service traffic"
            )
        return failed(
            f"waypoint {ref} does not accept service traffic: {why}",
            evidence,
            fix
            + (
                "\n# use =all if pods addressed by IP should also go through it"
                if value == "workload"
                else ""
            ),
        )
    if source == "default" and cls_obj is None and ctx.view.missing(GATEWAY_CLASSES) is not None:
        return warned(
            f"waypoint {ref} has no {WAYPOINT_FOR} label and its GatewayClass could not be read; assuming service",
            evidence,
            fix,
        )
    svc = ctx.facts.service
    if svc is not None and dig(svc, "spec", "clusterIP") == "None":
        return warned(
            f"waypoint {ref} takes service traffic ({WAYPOINT_FOR}={value}), but {ctx.target.name} is headless: "
            "clients connect to pod IPs, which only a workload or all waypoint bound to the pods intercepts",
            evidence,
            f"kubectl label gateway {obj_name(gw)} -n {obj_namespace(gw)} {WAYPOINT_FOR}=all --overwrite\n"
            f"# and bind the pods: add {USE_WAYPOINT}={obj_name(gw)} to the pod template labels",
        )
    return passed(f"waypoint {ref} takes service traffic ({WAYPOINT_FOR}={value}, from {where})", evidence)


# -- WD306 ---------------------------------------------------------------------------------------
_NOT_FOUND_ELSEWHERE = re.compile(
    r'hostname "([^"]+)" not found in namespace "([^"]+)", but it was found in namespace\(s\) ([^;]+)'
)
_NOT_FOUND = re.compile(r'hostname "([^"]+)" not found')
_PORT_NOT_FOUND = re.compile(r'port (\d+) not found for hostname "([^"]+)"')
_NO_INSTANCES = re.compile(r'no instances found for hostname "([^"]+)"')
_PENDING_ADDRESS = re.compile(r'address pending for hostname "([^"]+)"')
BYPASS = "ztunnel sends the bound services' traffic around it and L7 policy is silently not enforced"


def _short_host(host: str) -> str:
    """`mlflow-waypoint` for `mlflow-waypoint.kagenti-system.svc.cluster.local`."""
    return host.split(".", 1)[0] if ".svc." in host or host.endswith(".svc") else host


def decode_address_message(message: str, gw: Obj) -> tuple[str, str]:
    """(plain explanation, fix) for the Programmed=False warnings istiod writes (gatewaycommon/context.go)."""
    ns, name = obj_namespace(gw), obj_name(gw)
    if m := _NOT_FOUND_ELSEWHERE.search(message):
        return (
            f"its Service {_short_host(m.group(1))} exists in namespace {m.group(3)}, not {m.group(2)}",
            f"kubectl get service -A -l {GATEWAY_NAME_LABEL}={name}",
        )
    if m := _PORT_NOT_FOUND.search(message):
        return (
            f"its Service {_short_host(m.group(2))} has no port {m.group(1)}",
            f"kubectl get service {name} -n {ns} -o yaml  # expect port {HBONE_PORT} (mesh, appProtocol hbone)",
        )
    if m := _NO_INSTANCES.search(message):
        return (
            f"its Service {_short_host(m.group(1))} has no ready endpoint: no waypoint pod is ready (see WD307)",
            f"kubectl get pods -n {ns} -l {GATEWAY_NAME_LABEL}={name}",
        )
    if m := _PENDING_ADDRESS.search(message):
        return (
            f"its Service {_short_host(m.group(1))} is a LoadBalancer still waiting for an address",
            f"kubectl get service {name} -n {ns}  # or use the default ClusterIP type",
        )
    if m := _NOT_FOUND.search(message):
        return (
            f"its Service {_short_host(m.group(1))} does not exist (istiod creates it with the Deployment: "
            "deleted, or blocked by a quota or an admission policy?)",
            f"kubectl get deployment,service {name} -n {ns}\nkubectl get events -n {ns} --field-selector involvedObject.name={name}",
        )
    return one_line(message, 160), f"kubectl describe gateway {name} -n {ns}"


def _condition_evidence(gw: Obj, cond: Condition) -> dict[str, Any]:
    return cond.as_evidence("Gateway", obj_namespace(gw), obj_name(gw)) | {
        "message": one_line(cond.message, 200)
    }


def _stale(gw: Obj, cond: Condition) -> bool:
    generation = dig(gw, "metadata", "generation")
    raws = dig(gw, "status", "conditions")
    for raw in raws if isinstance(raws, list) else []:
        if isinstance(raw, Mapping) and raw.get("type") == cond.type:
            observed = raw.get("observedGeneration")
            return isinstance(generation, int) and isinstance(observed, int) and observed < generation
    return False


@check("WD306", "Waypoint accepted and programmed", category="waypoint", reads=(GATEWAYS,))
def waypoint_programmed(ctx: CheckContext) -> Outcome:
    """The Gateway is Accepted=True and Programmed=True with status.addresses; otherwise the reason, decoded."""
    gw = require_waypoint_class(ctx)
    ref = _gateway_ref(gw)
    ns, name = obj_namespace(gw), obj_name(gw)
    status = dig(gw, "status")
    accepted = find_condition(gw, "Accepted")
    programmed = find_condition(gw, "Programmed")
    addresses = gateway_addresses(gw)
    if not isinstance(status, Mapping) or (accepted is None and programmed is None and not addresses):
        return skipped(
            f"Gateway {ref} has no status in the collected object (stripped from the snapshot?): cannot tell "
            "whether istiod programmed it"
        )
    evidence = [_condition_evidence(gw, c) for c in (accepted, programmed) if c is not None]
    evidence.append({"kind": "Gateway", "namespace": ns, "name": name, "addresses": addresses or "(none)"})
    logs = f"kubectl logs -n {ctx.facts.istio_namespace} deploy/istiod -c discovery | grep {name}"
    no_addr = f"; without status.addresses, {BYPASS}" if not addresses else ""

    if accepted is not None and (accepted.status == "Unknown" or accepted.reason == "Pending"):
        return failed(
            f"no controller has taken Gateway {ref} (Accepted={accepted.status}, {accepted.reason or 'Pending'} "
            f'"{one_line(accepted.message, 60)}"): istiod is down or runs without ambient (see WD102, WD104){no_addr}',
            evidence,
            f"kubectl get deployment -n {ctx.facts.istio_namespace} -l app=istiod\n"
            f"kubectl get gatewayclass {gateway_class_name(gw)}",
        )
    if accepted is not None and accepted.status == "False":
        why = {
            "ListenersNotValid": "none of its listeners is valid (see WD304)",
            "InvalidParameters": "its infrastructure parametersRef is invalid",
            "UnsupportedAddress": "its spec.addresses cannot be honoured",
            "NotReconciled": "istiod has not reconciled it",
        }.get(accepted.reason, f'{accepted.reason}: "{one_line(accepted.message, 120)}"')
        return failed(
            f"Gateway {ref} is not accepted: {why}{no_addr}",
            evidence,
            f"kubectl describe gateway {name} -n {ns}\n{logs}",
        )
    if programmed is not None and programmed.status != "True":
        if programmed.reason in ("AddressNotUsable", "AddressNotAssigned"):
            explanation, fix = decode_address_message(programmed.message, gw)
        elif programmed.reason == "UnsupportedAddress":
            explanation, fix = (
                "istiod found no Service for it to assign",
                f"kubectl get deployment,service {name} -n {ns}\n{logs}",
            )
        elif programmed.reason == "Pending" or programmed.status == "Unknown":
            explanation, fix = "no controller has programmed it (see WD102)", logs
        else:
            explanation, fix = (
                f'{programmed.reason}: "{one_line(programmed.message, 120)}"',
                f"kubectl describe gateway {name} -n {ns}",
            )
        kept = (
            "; its addresses were kept, so bound services still send to it and those requests fail"
            if addresses
            else no_addr
        )
        return failed(
            f"Gateway {ref} is not programmed ({programmed.reason or programmed.status}): {explanation}{kept}",
            evidence,
            fix,
        )
    if not addresses:
        return failed(
            f"Gateway {ref} is accepted but has no status.addresses: istiod does not use it as a waypoint, so {BYPASS}",
            evidence,
            f"kubectl get pods -n {ns} -l {GATEWAY_NAME_LABEL}={name}\n{logs}",
        )
    notes = []
    if accepted is not None and accepted.reason == "ListenersNotValid":
        notes.append("some listeners are invalid (see WD304)")
    stale = [c.type for c in (accepted, programmed) if c is not None and _stale(gw, c)]
    if stale:
        notes.append(f"{join_names(stale)} describe an older generation of the Gateway")
    if programmed is None:
        notes.append("no Programmed condition (old controller?)")
    if notes:
        return warned(
            f"Gateway {ref} has addresses {join_names(addresses, 2)}, but {join_names(notes, 2)}",
            evidence,
            f"kubectl describe gateway {name} -n {ns}",
        )
    return passed(f"Gateway {ref} is accepted and programmed, addresses {join_names(addresses, 2)}", evidence)


# -- WD307 ---------------------------------------------------------------------------------------
def _now(ctx: CheckContext) -> datetime:
    return ctx.options.now or ctx.view.source.taken_at or datetime.now(UTC)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _recent_restart(pod: Obj, since: datetime) -> bool:
    statuses = dig(pod, "status", "containerStatuses")
    for cs in statuses if isinstance(statuses, list) else []:
        finished = _parse_time(dig(cs, "lastState", "terminated", "finishedAt"))
        if finished is not None and finished >= since:
            return True
    return False


@check("WD307", "Waypoint pods running and ready", category="waypoint", reads=(GATEWAYS, "pods"))
def waypoint_pods_ready(ctx: CheckContext) -> Outcome:
    """Waypoint pods (gateway.networking.k8s.io/gateway-name=<gateway>) are Running and Ready, without crash loops."""
    gw = require_waypoint_class(ctx)
    ref = _gateway_ref(gw)
    ns, name = obj_namespace(gw), obj_name(gw)
    accepted = find_condition(gw, "Accepted")
    if accepted is not None and accepted.status != "True":
        raise SkipCheck(
            f"istiod has not accepted Gateway {ref}, so no waypoint Deployment is expected (see WD306)"
        )
    ctx.need("pods", ns)
    pods = [p for p in ctx.facts.waypoint_pods if dig(p, "status", "phase") not in ("Succeeded", "Failed")]
    selector = f"{GATEWAY_NAME_LABEL}={name}"
    inspect = f"kubectl get pods -n {ns} -l {selector} -o wide\nkubectl describe pods -n {ns} -l {selector}"
    if not pods:
        deploy = ctx.view.get("deployments.apps", ns, name)
        evidence: list[dict[str, Any]] = [
            {"kind": "Pod", "namespace": ns, "name": None, "selector": selector, "found": 0}
        ]
        if deploy is not None:
            evidence.append(
                {
                    "kind": "Deployment",
                    "namespace": ns,
                    "name": name,
                    "replicas": dig(deploy, "spec", "replicas"),
                    "readyReplicas": dig(deploy, "status", "readyReplicas") or 0,
                }
            )
        return failed(
            f"no waypoint pod for {ref} (label {selector}): nothing serves the waypoint",
            evidence,
            f"kubectl get deployment,replicaset,pods -n {ns} -l {selector}\n"
            f"kubectl get events -n {ns} --field-selector involvedObject.name={name}",
        )
    since = _now(ctx) - timedelta(seconds=ctx.options.since_seconds)
    evidence = []
    broken, restarting = [], []
    for p in pods:
        ready = pod_is_ready(p)
        waiting = pod_waiting_reasons(p)
        restarts = pod_restarts(p)
        legacy = (
            obj_labels(p).get(GATEWAY_NAME_LABEL) is None
            and obj_labels(p).get(LEGACY_GATEWAY_NAME_LABEL) == name
        )
        evidence.append(
            {
                "kind": "Pod",
                "namespace": ns,
                "name": obj_name(p),
                "phase": dig(p, "status", "phase"),
                "ready": ready,
                "waiting": waiting or None,
                "restarts": restarts,
                "node": dig(p, "spec", "nodeName"),
                "label": LEGACY_GATEWAY_NAME_LABEL if legacy else None,
            }
        )
        if not ready:
            broken.append(f"{obj_name(p)} ({_pod_state(p)}{f', {restarts} restarts' if restarts else ''})")
        elif (
            "CrashLoopBackOff" in waiting or _recent_restart(p, since) or restarts >= RESTARTS_WORTH_A_WARNING
        ):
            restarting.append(f"{obj_name(p)} ({plural(restarts, 'restart')})")
    ready_count = len(pods) - len(broken)
    if ready_count == 0:
        return failed(
            f"no waypoint pod of {ref} is ready: {join_names(broken, 2)}",
            evidence,
            inspect + f"\nkubectl logs -n {ns} -l {selector} -c istio-proxy --previous --tail=50",
        )
    if broken or restarting:
        problems = ([f"not ready: {join_names(broken, 2)}"] if broken else []) + (
            [f"restarting: {join_names(restarting, 2)}"] if restarting else []
        )
        return warned(
            f"{ready_count}/{len(pods)} waypoint pods of {ref} ready; {'; '.join(problems)}",
            evidence,
            inspect + f"\nkubectl logs -n {ns} -l {selector} -c istio-proxy --previous --tail=50",
        )
    return passed(f"{ready_count}/{len(pods)} waypoint pods of {ref} ready, no recent restarts", evidence)


# -- WD308 ---------------------------------------------------------------------------------------
_ATTACHED = re.compile(r"^Successfully attached to waypoint (\S+?)(?:\.\s|\.?$)")


def _not_ready_cause(ctx: CheckContext) -> str:
    """What the view shows behind WaypointIsNotReady."""
    facts = ctx.facts
    if facts.gateway_api_missing:
        return "the Gateway API CRDs are not installed (see WD103)"
    gw = facts.waypoint
    if gw is None:
        return "the Gateway does not exist (see WD303)"
    if gateway_class_name(gw) not in WAYPOINT_CLASSES:
        return "the Gateway is not of a waypoint class (see WD304)"
    if not gateway_addresses(gw):
        return "the Gateway has no status.addresses yet (see WD306)"
    if not any(pod_is_ready(p) for p in facts.waypoint_pods):
        return "no waypoint pod is ready (see WD307)"
    return "istiod does not see the Gateway with addresses yet"


def _decode_waypoint_bound(ctx: CheckContext, cond: Condition, b: WaypointBinding) -> tuple[str, str]:
    ns, name = ctx.target.namespace, ctx.target.name
    wns, wname = b.waypoint_namespace or ns, b.waypoint_name or ""
    reason = cond.reason
    if reason == "WaypointIsNotReady":
        return (
            f"{_not_ready_cause(ctx)}; meanwhile ztunnel sends traffic for {name} straight to its pods and L7 policy is not enforced",
            f"kubectl get gateway {wname} -n {wns}\nkubectl get pods -n {wns} -l {GATEWAY_NAME_LABEL}={wname}",
        )
    if reason == "AttachmentDenied":
        return (
            f"the waypoint's allowedRoutes do not admit namespace {ns} (see WD303)",
            allowed_routes_fix(ctx.facts.waypoint, wname, wns, ns),
        )
    if reason == "UnsupportedTrafficType":
        return (
            f"the waypoint's {WAYPOINT_FOR} does not cover service traffic (see WD305)",
            f"kubectl label gateway {wname} -n {wns} {WAYPOINT_FOR}=service --overwrite",
        )
    if reason == "CanaryInvalidWeight":
        return (
            "the canary weight annotation istio.io/use-waypoint-canary-weight is not an integer in [0,100]",
            f"kubectl annotate service {name} -n {ns} istio.io/use-waypoint-canary-weight=10 --overwrite",
        )
    if reason == "CanarySameAsPrimary":
        return (
            "the canary waypoint is the primary waypoint",
            f"kubectl label service {name} -n {ns} istio.io/use-waypoint-canary-",
        )
    if reason == "CrossNamespaceWaypointForbidden":
        return (
            "a NAMESPACE-visibility ServiceEntry cannot bind to a waypoint in another namespace",
            f"Use a waypoint in namespace {ns}.",
        )
    return f'{reason}: "{one_line(cond.message, 120)}"', f"kubectl get service {name} -n {ns} -o yaml"


def _no_status_reason(ctx: CheckContext) -> str:
    version = ctx.facts.istio_version
    istiod = ctx.facts.ambient_istiod
    if version is not None and not version.at_least(1, 24):
        return (
            f"no {WAYPOINT_BOUND} condition: Istio {version.minor_text} writes no status conditions (1.24+)"
        )
    if istiod is not None and istiod.flag("AMBIENT_ENABLE_STATUS", True) is False:
        return f"no {WAYPOINT_BOUND} condition: istiod runs with AMBIENT_ENABLE_STATUS=false"
    return f"no {WAYPOINT_BOUND} condition: Istio < 1.24, AMBIENT_ENABLE_STATUS=false, or istiod has not processed it yet"


@check("WD308", "Service WaypointBound condition", category="waypoint", reads=("services",))
def waypoint_bound_condition(ctx: CheckContext) -> Outcome:
    """The service's istio.io/WaypointBound condition is True (Istio 1.24+); otherwise its reason, decoded."""
    b = require_binding(ctx)
    svc = ctx.facts.service
    name = ctx.target.name
    cond = find_condition(svc, WAYPOINT_BOUND)
    if cond is None:
        raise SkipCheck(_no_status_reason(ctx))
    evidence = [
        cond.as_evidence("Service", ctx.target.namespace, name) | {"message": one_line(cond.message, 200)}
    ]
    if cond.status == "True":
        m = _ATTACHED.match(cond.message)
        attached = m.group(1) if m else None
        if attached and attached != b.ref:
            return warned(
                f"istiod reports {name} attached to {attached}, but its labels name {b.ref} (status not yet updated?)",
                evidence,
                f"kubectl get service {name} -n {ctx.target.namespace} -o jsonpath='{{.status.conditions}}'",
            )
        if CANARY_PREFIX in cond.message:
            canary = one_line(cond.message.split(CANARY_PREFIX, 1)[1].lstrip(": "), 120)
            return warned(
                f"{name} is bound to {attached or b.ref}, but its canary waypoint is not attached: {canary}",
                evidence,
                f"kubectl get service {name} -n {ctx.target.namespace} --show-labels",
            )
        return passed(f"istiod reports {name} bound: {one_line(cond.message, 160)}", evidence)
    explanation, fix = _decode_waypoint_bound(ctx, cond, b)
    if cond.status == "Unknown":
        return warned(f"{WAYPOINT_BOUND} is Unknown ({cond.reason}): {explanation}", evidence, fix)
    return failed(f"istiod did not bind {name} to {b.ref} ({cond.reason}): {explanation}", evidence, fix)


# -- WD309 ---------------------------------------------------------------------------------------
def _ingress_paths(ctx: CheckContext) -> list[str]:
    """Istio ingress gateways in the cluster: Gateway API Gateways of class istio, ingress gateway pods."""
    found = [
        f"Gateway {_gateway_ref(g)}"
        for g in ctx.view.list(GATEWAYS)
        if gateway_class_name(g) == INGRESS_CLASS
    ]
    classic = sorted(
        {
            f"{workload_of(p)} in {obj_namespace(p)}"
            for p in ctx.view.list("pods")
            if is_ingress_gateway_pod(p) and not obj_labels(p).get(GATEWAY_NAME_LABEL)
        }
    )
    return found + classic


def _honoured_at(value: str, on_namespace: bool, release: tuple[int, int]) -> bool:
    """How istiod release `release` reads istio.io/ingress-use-waypoint (Service, else Namespace)."""
    if release < (1, 24) or (on_namespace and release < (1, 25)):
        return False
    if release >= (1, 30):
        return parse_go_bool(value) is True  # strconv.ParseBool
    if release >= (1, 25):
        return value.lower() == "true"  # strings.EqualFold
    return value == "true"


def interpret_ingress_label(
    value: str, on_namespace: bool, version: IstioVersion | None
) -> tuple[bool | None, str]:
    """(read as true?, why not): 1.24 takes the Service label when exactly "true"; 1.25-1.29 compare
    case-insensitively and add the Namespace label; 1.30+ parse with strconv.ParseBool. None: it
    depends on a release we do not know."""
    explicit_false = parse_go_bool(value) is False
    if version is not None:
        if _honoured_at(value, on_namespace, (version.major, version.minor)):
            return True, ""
        if not version.at_least(1, 24):
            return False, f"Istio {version.minor_text} ignores the label (honoured from 1.24)"
        if on_namespace and not version.at_least(1, 25):
            return (
                False,
                f"Istio {version.minor_text} reads it on the Service only (on a Namespace from 1.25)",
            )
        if explicit_false:
            return False, "explicitly false"
        return False, f"Istio {version.minor_text} reads {value!r} as false; write 'true'"
    releases = [(1, 25), (1, 30)] if on_namespace else [(1, 24), (1, 25), (1, 30)]
    results = {_honoured_at(value, on_namespace, r) for r in releases}
    if results == {True}:
        return True, ""
    if results == {False}:
        return (
            False,
            "explicitly false"
            if explicit_false
            else f"{value!r} is read as false by every release; write 'true'",
        )
    return None, f"whether {value!r} counts as true depends on the Istio release (unknown here); write 'true'"


@check("WD309", "Ingress traffic through the waypoint", category="waypoint", reads=("services",))
def ingress_uses_waypoint(ctx: CheckContext) -> Outcome:
    """Whether ingress gateways send to the waypoint (istio.io/ingress-use-waypoint) or bypass it."""
    b = require_binding(ctx)
    svc = ctx.facts.service
    ns, name = ctx.target.namespace, ctx.target.name
    ns_obj = ctx.facts.namespace
    svc_value = obj_labels(svc).get(INGRESS_USE_WAYPOINT)
    ns_value = obj_labels(ns_obj).get(INGRESS_USE_WAYPOINT) if ns_obj is not None else None
    on_namespace = svc_value is None and ns_value is not None
    value = svc_value if svc_value is not None else ns_value
    evidence: list[dict[str, Any]] = [_service_label_evidence(svc, INGRESS_USE_WAYPOINT)]
    if ns_value is not None:
        evidence.append({"kind": "Namespace", "name": ns, "label": INGRESS_USE_WAYPOINT, "value": ns_value})
    ingress = _ingress_paths(ctx)
    if ingress:
        evidence.append({"kind": "IngressGateway", "name": join_names(ingress, 3)})
    version = ctx.facts.istio_version
    fix = f"kubectl label service {name} -n {ns} {INGRESS_USE_WAYPOINT}=true --overwrite"
    istiod = ctx.facts.ambient_istiod
    routing = istiod.flag("ENABLE_INGRESS_WAYPOINT_ROUTING", True) if istiod is not None else True
    where = f"namespace {ns}" if on_namespace else "the Service"
    bypass = f"ingress traffic to {name} bypasses waypoint {b.ref}, so its L7 policy does not apply to it"
    if value is None:
        if not ingress:
            return informed(
                f"no Istio ingress gateway found; if one routes to {name}, set {INGRESS_USE_WAYPOINT}=true or its "
                "traffic bypasses the waypoint",
                evidence,
            )
        return warned(f"{bypass} ({INGRESS_USE_WAYPOINT} is not set; ingress: {ingress[0]})", evidence, fix)
    honoured, note = interpret_ingress_label(str(value), on_namespace, version)
    if honoured and routing is False:
        return warned(
            f"{INGRESS_USE_WAYPOINT}={value} on {where}, but istiod runs with ENABLE_INGRESS_WAYPOINT_ROUTING=false",
            evidence,
            f"kubectl set env deployment/{istiod.name} -n {istiod.namespace} -c discovery ENABLE_INGRESS_WAYPOINT_ROUTING=true"
            if istiod is not None
            else fix,
        )
    if honoured:
        return passed(
            f"ingress traffic to {name} goes through waypoint {b.ref} ({INGRESS_USE_WAYPOINT}={value} on {where})",
            evidence,
        )
    if honoured is None:
        return warned(f"{INGRESS_USE_WAYPOINT}={value} on {where}: {note}", evidence, fix)
    if note == "explicitly false":
        return informed(f"{where} sets {INGRESS_USE_WAYPOINT}={value}: {bypass} (by choice)", evidence)
    if ingress:
        return warned(f"{bypass}: {INGRESS_USE_WAYPOINT}={value} on {where}, but {note}", evidence, fix)
    return informed(
        f"{INGRESS_USE_WAYPOINT}={value} on {where}, but {note}; no Istio ingress gateway found", evidence
    )


CHECKS: tuple[CheckSpec, ...] = (
    service_has_endpoints,
    service_bound,
    waypoint_exists,
    waypoint_well_formed,
    waypoint_traffic,
    waypoint_programmed,
    waypoint_pods_ready,
    waypoint_bound_condition,
    ingress_uses_waypoint,
)
