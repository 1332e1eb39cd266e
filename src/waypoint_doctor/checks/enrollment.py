"""Checks WD2xx: the target's namespace exists and its pods are in the ambient data plane.

Facts from the reference, sections 2.3 and 3: enrollment by `istio.io/dataplane-mode=ambient` on
the namespace or the pod (`none` on a pod opts out); istio-cni skips pods that carry a sidecar
(`sidecar.istio.io/status`), use `hostNetwork`, or live in an excluded namespace; a captured pod
carries `ambient.istio.io/redirection: enabled` (`pending`: no ztunnel accepted it yet). The
sidecar injector ignores `istio.io/dataplane-mode`, so injection labels compete with ambient.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from waypoint_doctor.checks.spec import (
    CheckContext,
    CheckSpec,
    Outcome,
    SkipCheck,
    check,
    failed,
    passed,
    skipped,
    warned,
)
from waypoint_doctor.collect.view import Obj, dig, obj_annotations, obj_labels, obj_name, obj_namespace
from waypoint_doctor.mesh.labels import (
    DATAPLANE_MODE,
    ISTIO_INJECTION,
    ISTIO_REV,
    REDIRECTION_ANNOTATION,
    SIDECAR_INJECT,
    SIDECAR_STATUS_ANNOTATION,
)
from waypoint_doctor.mesh.names import did_you_mean, suggestion_text
from waypoint_doctor.mesh.text import join_names, plural

AMBIENT = "ambient"
SIDECAR_CONTAINER = "istio-proxy"
_GENERATED_POD = re.compile(r"^(?P<owner>.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$")


# -- shared preconditions (WD3xx import these too) ----------------------------------------------
def require_namespace(ctx: CheckContext) -> Obj:
    """The target namespace object, or a skip that says why it is not there."""
    ns = ctx.facts.namespace
    if ns is not None:
        return ns
    name = ctx.target.namespace
    missing = ctx.view.missing("namespaces")
    if missing is not None:
        raise SkipCheck(missing.describe())
    raise SkipCheck(f"namespace {name} not found (see WD201)")


def require_service_pods(ctx: CheckContext) -> list[Obj]:
    """The target service's pods: skips when the service or its pods cannot be known."""
    ns = ctx.target.namespace
    if ctx.facts.service is None:
        ctx.need("services", ns)
        raise SkipCheck(f"service {ns}/{ctx.target.name} not found (see WD301)")
    ctx.need("pods", ns)
    pods = ctx.facts.service_pods
    if not pods:
        if not dig(ctx.facts.service, "spec", "selector"):
            raise SkipCheck(
                f"service {ns}/{ctx.target.name} has no selector, so its pods are unknown (see WD301)"
            )
        raise SkipCheck(f"service {ns}/{ctx.target.name} selects no pods (see WD301)")
    return pods


# -- helpers -------------------------------------------------------------------------------------
def pod_ref(pod: Obj) -> str:
    return obj_name(pod)


def workload_of(pod: Obj) -> str:
    """`deployment/<name>` for a Deployment's pod (by owner or by name pattern), else `pod/<name>`."""
    refs = dig(pod, "metadata", "ownerReferences")
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, Mapping):
            continue
        owner = ref.get("name")
        if not isinstance(owner, str):
            continue
        if ref.get("kind") == "ReplicaSet":
            hash_ = obj_labels(pod).get("pod-template-hash")
            if isinstance(hash_, str) and owner.endswith("-" + hash_):
                return f"deployment/{owner[: -len(hash_) - 1]}"
            return f"deployment/{owner.rsplit('-', 1)[0]}"
        if ref.get("kind") in ("StatefulSet", "DaemonSet"):
            return f"{str(ref['kind']).lower()}/{owner}"
    m = _GENERATED_POD.match(obj_name(pod))
    if m:
        return f"deployment/{m.group('owner')}"
    return f"pod/{obj_name(pod)}"


def restart_command(pods: list[Obj], namespace: str) -> str:
    lines = []
    for workload in sorted({workload_of(p) for p in pods}):
        if workload.startswith("pod/"):
            lines.append(f"kubectl delete {workload} -n {namespace}  # recreated by its controller")
        else:
            lines.append(f"kubectl rollout restart {workload} -n {namespace}")
    return "\n".join(lines)


def _is_active(pod: Obj) -> bool:
    return dig(pod, "status", "phase") not in ("Succeeded", "Failed")


def _has_sidecar(pod: Obj) -> str | None:
    """Why the pod carries an Istio sidecar, or None."""
    if SIDECAR_STATUS_ANNOTATION in obj_annotations(pod):
        return f"annotation {SIDECAR_STATUS_ANNOTATION}"
    for field in ("containers", "initContainers"):
        containers = dig(pod, "spec", field)
        for c in containers if isinstance(containers, list) else []:
            if isinstance(c, Mapping) and c.get("name") == SIDECAR_CONTAINER:
                return f"container {SIDECAR_CONTAINER}"
    return None


def _pod_evidence(pod: Obj, **facts: Any) -> dict[str, Any]:
    return {"kind": "Pod", "namespace": obj_namespace(pod), "name": obj_name(pod), **facts}


# -- WD201 ---------------------------------------------------------------------------------------
@check("WD201", "Namespace exists", category="enrollment")
def namespace_exists(ctx: CheckContext) -> Outcome:
    """The target namespace exists (with a suggestion when a close name does)."""
    name = ctx.target.namespace
    ns = ctx.facts.namespace
    if ns is not None:
        return passed(f"namespace {name} exists", [{"kind": "Namespace", "name": name}])
    missing = ctx.view.missing("namespaces")
    if missing is not None:
        held = [r for r in ("services", "pods") if ctx.view.list(r, name)]
        if held:
            return passed(
                f"namespace {name} exists (its {' and '.join(held)} were read; the Namespace object could not be)",
                [{"kind": "Namespace", "name": name, "read": False}],
            )
        return skipped(missing.describe())
    existing = ctx.view.names("namespaces")
    close = did_you_mean(name, existing)
    evidence = [{"kind": "Namespace", "name": name, "found": False}]
    if close:
        evidence.append({"kind": "Namespace", "name": close[0], "similar": True})
    return failed(
        f"namespace {name} does not exist{suggestion_text(close)}",
        evidence,
        f"waypoint-doctor check {ctx.target.name} -n {close[0]}" if close else "kubectl get namespaces",
    )


# -- WD202 ---------------------------------------------------------------------------------------
@check("WD202", "Namespace enrolled in ambient", category="enrollment", reads=("namespaces",))
def namespace_ambient(ctx: CheckContext) -> Outcome:
    """The namespace carries istio.io/dataplane-mode=ambient (or every service pod is enrolled itself)."""
    ns_obj = require_namespace(ctx)
    ns = ctx.target.namespace
    value = obj_labels(ns_obj).get(DATAPLANE_MODE)
    evidence: list[dict[str, Any]] = [
        {"kind": "Namespace", "name": ns, "label": DATAPLANE_MODE, "value": value}
    ]
    fix = f"kubectl label namespace {ns} {DATAPLANE_MODE}={AMBIENT}" + (
        " --overwrite" if value is not None else ""
    )
    if value == AMBIENT:
        return passed(f"namespace {ns} is enrolled in ambient ({DATAPLANE_MODE}={AMBIENT})", evidence)

    # a pod label `ambient` enrolls the pod whatever its namespace says (CNI enablement selector (a))
    pods = (
        [p for p in ctx.facts.service_pods if _is_active(p)] if ctx.view.missing("pods", ns) is None else []
    )
    own = [p for p in pods if obj_labels(p).get(DATAPLANE_MODE) == AMBIENT]
    if pods and len(own) == len(pods):
        return passed(
            f"namespace {ns} is not enrolled, but each of the {plural(len(pods), 'pod')} of "
            f"{ctx.target.name} carries {DATAPLANE_MODE}={AMBIENT}",
            evidence + [_pod_evidence(p, label=DATAPLANE_MODE, value=AMBIENT) for p in own],
        )
    state = f"has {DATAPLANE_MODE}={value}" if value is not None else f"has no {DATAPLANE_MODE} label"
    extra = ""
    if own:
        rest = [obj_name(p) for p in pods if p not in own]
        extra = f"; pods {join_names(rest, 2)} are not enrolled either"
        evidence += [
            _pod_evidence(p, label=DATAPLANE_MODE, value=obj_labels(p).get(DATAPLANE_MODE)) for p in pods
        ]
    return failed(f"namespace {ns} {state}, so its pods are not in the ambient mesh{extra}", evidence, fix)


# -- WD203 ---------------------------------------------------------------------------------------
@check("WD203", "No competing sidecar injection", category="enrollment", reads=("namespaces",))
def no_sidecar_injection(ctx: CheckContext) -> Outcome:
    """No sidecar injection competes with ambient: namespace labels, pod labels, injected sidecars."""
    ns_obj = require_namespace(ctx)
    ns = ctx.target.namespace
    labels = obj_labels(ns_obj)
    revisions = {i.revision for i in ctx.facts.istiods}
    hard: list[str] = []  # a sidecar is there, or will be on the next restart
    soft: list[str] = []  # depends on a webhook we cannot see
    evidence: list[dict[str, Any]] = []
    fixes: list[str] = []

    if labels.get(ISTIO_INJECTION) == "enabled":
        hard.append(f"namespace {ns} has {ISTIO_INJECTION}=enabled")
        evidence.append({"kind": "Namespace", "name": ns, "label": ISTIO_INJECTION, "value": "enabled"})
        fixes.append(f"kubectl label namespace {ns} {ISTIO_INJECTION}-")
    rev = labels.get(ISTIO_REV)
    if isinstance(rev, str) and rev:
        evidence.append({"kind": "Namespace", "name": ns, "label": ISTIO_REV, "value": rev})
        fixes.append(f"kubectl label namespace {ns} {ISTIO_REV}-")
        if rev in revisions:
            hard.append(f"namespace {ns} has {ISTIO_REV}={rev}, so istiod revision {rev} injects sidecars")
        else:
            soft.append(
                f"namespace {ns} has {ISTIO_REV}={rev} (injects sidecars if a revision tag {rev} exists)"
            )

    pods: list[Obj] = []
    if ctx.facts.service is not None and ctx.view.missing("pods", ns) is None:
        pods = ctx.facts.service_pods
    injected: list[Obj] = []
    for pod in pods:
        why = _has_sidecar(pod)
        plabels = obj_labels(pod)
        if why:
            injected.append(pod)
            hard.append(f"pod {obj_name(pod)} has a sidecar ({why})")
            evidence.append(_pod_evidence(pod, sidecar=why))
        elif plabels.get(SIDECAR_INJECT) == "true":
            soft.append(f"pod {obj_name(pod)} has {SIDECAR_INJECT}=true")
            evidence.append(_pod_evidence(pod, label=SIDECAR_INJECT, value="true"))
        if plabels.get(SIDECAR_INJECT) == "true":
            fixes.append(
                f"kubectl patch {workload_of(pod)} -n {ns} --type=json -p "
                '\'[{"op":"remove","path":"/spec/template/metadata/labels/sidecar.istio.io~1inject"}]\''
            )
    if not hard and not soft:
        checked = f" ({plural(len(pods), 'pod')} of {ctx.target.name} checked)" if pods else ""
        return passed(
            f"no sidecar injection competes with ambient in {ns}{checked}",
            [{"kind": "Namespace", "name": ns, ISTIO_INJECTION: labels.get(ISTIO_INJECTION), ISTIO_REV: rev}],
        )
    if injected:
        fixes.append(restart_command(injected, ns) + "  # re-create the pods without sidecars")
    remediation = "\n".join(dict.fromkeys(fixes))
    problems = hard or soft
    if injected:
        consequence = "a sidecar takes precedence over ambient, so those pods are not captured"
    elif hard:
        consequence = "pods created from now on get a sidecar instead of ambient capture"
    else:
        consequence = "new pods may get a sidecar instead of ambient capture"
    message = f"{join_names(problems, 2)}: {consequence}"
    return (failed if hard else warned)(message, evidence, remediation)


# -- WD204 ---------------------------------------------------------------------------------------
def _uncaptured_reason(pod: Obj, ns_ambient: bool) -> tuple[str, str]:
    """(why a pod without the redirection annotation is not captured, how to fix it)."""
    ns = obj_namespace(pod)
    label = obj_labels(pod).get(DATAPLANE_MODE)
    sidecar = _has_sidecar(pod)
    if sidecar:
        return f"it has a sidecar ({sidecar}; see WD203)", restart_command([pod], ns)
    if label == "none":
        return (
            f"it opts out with {DATAPLANE_MODE}=none",
            f"kubectl patch {workload_of(pod)} -n {ns} --type=json -p "
            '\'[{"op":"remove","path":"/spec/template/metadata/labels/istio.io~1dataplane-mode"}]\'',
        )
    if dig(pod, "spec", "hostNetwork") is True:
        return "it uses hostNetwork, which ambient cannot capture", "Run it without hostNetwork: true."
    if not ns_ambient and label != AMBIENT:
        return "it is not enrolled (see WD202)", f"kubectl label namespace {ns} {DATAPLANE_MODE}={AMBIENT}"
    if ns == "kube-system":
        return "istio-cni excludes namespace kube-system by default", "Run the workload in another namespace."
    return (
        "istio-cni has not captured it (its capture failed or was lost; restarting the pod re-runs it)",
        restart_command([pod], ns),
    )


@check("WD204", "Service pods captured by ztunnel", category="enrollment", reads=("pods",))
def pods_captured(ctx: CheckContext) -> Outcome:
    """Each of the service's pods is captured: ambient.istio.io/redirection=enabled, not opted out, not hostNetwork."""
    ns_obj = require_namespace(ctx)
    pods = [p for p in require_service_pods(ctx) if _is_active(p)]
    if not pods:
        return skipped(f"no running pod of {ctx.target.name} to inspect (see WD301)")
    ns_ambient = obj_labels(ns_obj).get(DATAPLANE_MODE) == AMBIENT
    evidence: list[dict[str, Any]] = []
    problems: list[str] = []
    fixes: list[str] = []
    for pod in pods:
        value = obj_annotations(pod).get(REDIRECTION_ANNOTATION)
        evidence.append(
            _pod_evidence(
                pod,
                annotation=REDIRECTION_ANNOTATION,
                value=value,
                node=dig(pod, "spec", "nodeName"),
                hostNetwork=dig(pod, "spec", "hostNetwork") or None,
            )
        )
        if value == "enabled":
            continue
        if value == "pending":
            problems.append(
                f"{obj_name(pod)} is pending: redirection is set up but no ztunnel on its node accepted it, "
                "so it can neither send nor receive (see WD105)"
            )
            fixes.append(
                f"kubectl get pods -n istio-system -l app=ztunnel -o wide  # is one ready on {dig(pod, 'spec', 'nodeName')}?"
            )
            continue
        if value is not None:
            problems.append(f"{obj_name(pod)} has {REDIRECTION_ANNOTATION}={value}, not enabled")
            fixes.append(restart_command([pod], obj_namespace(pod)))
            continue
        why, fix = _uncaptured_reason(pod, ns_ambient)
        problems.append(f"{obj_name(pod)} is not captured: {why}")
        fixes.append(fix)
    if problems:
        head = (
            f"{len(problems)} of {plural(len(pods), 'pod')} of {ctx.target.name} not captured by ambient"
            if len(problems) > 1
            else problems[0]
        )
        if len(problems) > 1:
            head += f" ({problems[0]})"
        return failed(head, evidence, "\n".join(dict.fromkeys(fixes)))
    which = (
        f"the pod of {ctx.target.name} is"
        if len(pods) == 1
        else f"all {len(pods)} pods of {ctx.target.name} are"
    )
    return passed(f"{which} captured ({REDIRECTION_ANNOTATION}=enabled)", evidence)


CHECKS: tuple[CheckSpec, ...] = (namespace_exists, namespace_ambient, no_sidecar_injection, pods_captured)
