"""Mark the findings a suppression silences; they stay in the report, flagged `suppressed`.

A finding "names" these objects (any of them can be matched by a suppression or carry the
annotation):
- the Service under check, for service-scoped checks (not for cluster-wide WD1xx checks, so a
  single-service report and a fleet scan suppress alike);
- every evidence entry with a `kind` and a `name` (and its `namespace`);
- the AuthorizationPolicies an evidence entry names as `policy` or `policies` ("ns/name"), and a
  `nearest_miss`/`decided_by` policy.

Only findings are suppressed: `fail`, `warn` and `error`. A pass, skip or info has nothing to
silence. The first matching rule wins, in the order: flags, the config file, annotations.

The annotation: `waypoint-doctor.io/ignore: "WD409,WD504"` (IDs or prefixes, separated by commas
or spaces) on any object the finding names, with an optional
`waypoint-doctor.io/ignore-reason: "why"` on the same object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from waypoint_doctor.checks.spec import Status, Target
from waypoint_doctor.gate.rules import ObjectRef, Suppression, pattern_matches, split_list
from waypoint_doctor.report.model import CheckResult, Suppressed

IGNORE_ANNOTATION = "waypoint-doctor.io/ignore"
IGNORE_REASON_ANNOTATION = "waypoint-doctor.io/ignore-reason"
SUPPRESSIBLE = frozenset({Status.FAIL, Status.WARN, Status.ERROR})

# (kind, namespace, name) -> the object's annotations, or None when it is not known
AnnotationLookup = Callable[[str, str | None, str], Mapping[str, Any] | None]


def _policy_refs(value: Any) -> Iterator[ObjectRef]:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, Mapping):
            v = v.get("policy")
        if isinstance(v, str) and v.count("/") == 1:
            ns, name = v.split("/")
            if ns and name:
                yield ObjectRef("AuthorizationPolicy", ns, name)


def objects_of(result: CheckResult, target: Target | None) -> list[ObjectRef]:
    """The objects a finding names (see the module's docstring), without repeats."""
    found: list[ObjectRef] = []
    if target is not None and target.name:
        found.append(ObjectRef(target.kind, target.namespace, target.name))
    for e in result.evidence:
        kind, name = e.get("kind"), e.get("name")
        if isinstance(kind, str) and isinstance(name, str) and kind and name:
            ns = e.get("namespace")
            found.append(ObjectRef(kind, ns if isinstance(ns, str) and ns else None, name))
        for key in ("policy", "policies", "decided_by", "nearest_miss"):
            if key in e:
                found.extend(_policy_refs(e[key]))
    return list(dict.fromkeys(found))


def _annotation_rule(
    result: CheckResult, objects: Iterable[ObjectRef], annotations_of: AnnotationLookup
) -> Suppressed | None:
    for obj in objects:
        annotations = annotations_of(obj.kind, obj.namespace, obj.name)
        if not annotations:
            continue
        value = annotations.get(IGNORE_ANNOTATION)
        if not isinstance(value, str):
            continue
        patterns = [p.upper() for p in split_list([value])]
        if any(pattern_matches(p, result.id) for p in patterns if p.startswith("WD")):
            reason = annotations.get(IGNORE_REASON_ANNOTATION)
            return Suppressed(
                by="annotation",
                rule=f"{IGNORE_ANNOTATION}: {value} on {obj.describe()}",
                reason=reason.strip() if isinstance(reason, str) and reason.strip() else None,
            )
    return None


def suppression_for(
    result: CheckResult,
    target: Target | None,
    suppressions: Sequence[Suppression],
    annotations_of: AnnotationLookup | None,
) -> Suppressed | None:
    if result.status not in SUPPRESSIBLE:
        return None
    objects = objects_of(result, target)
    for s in suppressions:
        if s.matches(result.id, objects):
            return Suppressed(by=s.by, rule=s.rule, reason=s.reason)
    if annotations_of is not None:
        return _annotation_rule(result, objects, annotations_of)
    return None


def apply_suppressions(
    results: Iterable[CheckResult],
    *,
    target: Target | None,
    suppressions: Sequence[Suppression],
    annotations_of: AnnotationLookup | None,
    cluster_scoped: Callable[[str], bool] = lambda _id: False,
) -> tuple[CheckResult, ...]:
    out = []
    for r in results:
        why = suppression_for(r, None if cluster_scoped(r.id) else target, suppressions, annotations_of)
        out.append(dataclasses.replace(r, suppressed=why) if why is not None else r)
    return tuple(out)


def view_annotations(view: Any) -> AnnotationLookup:
    """Annotations of the objects in a collected view (what the live collector and snapshots keep)."""
    from waypoint_doctor.collect.kinds import ALL_KINDS
    from waypoint_doctor.collect.view import obj_annotations

    by_kind = {k.kind.lower(): k for k in ALL_KINDS}

    def lookup(kind: str, namespace: str | None, name: str) -> Mapping[str, Any] | None:
        resource = by_kind.get(kind.lower())
        if resource is None:
            return None
        obj = view.get(resource.key, namespace if resource.namespaced else None, name)
        return obj_annotations(obj) if obj else None

    return lookup
