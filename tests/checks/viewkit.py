"""Small views for check unit tests: the healthy example's objects, edited in place, or a few
hand-written objects; then one check run through the engine (so a crash shows as `error`)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from waypoint_doctor.checks.registry import BY_ID
from waypoint_doctor.checks.spec import CheckContext, CheckOptions, Target
from waypoint_doctor.collect.kinds import ALL_KINDS, kind_for_object
from waypoint_doctor.collect.view import ClusterView, SourceInfo, Unreadable, build_view
from waypoint_doctor.engine import run_one
from waypoint_doctor.mesh.facts import Facts
from waypoint_doctor.report.model import CheckResult

REPO = Path(__file__).resolve().parents[2]
HEALTHY = REPO / "examples" / "kagenti-healthy"
ALL_KEYS = frozenset(k.key for k in ALL_KINDS)
HEALTHY_GROUPS = {
    "": ("v1",),
    "apps": ("v1",),
    "gateway.networking.k8s.io": ("v1", "v1beta1"),
    "security.istio.io": ("v1", "v1beta1"),
    "networking.istio.io": ("v1", "v1beta1", "v1alpha3"),
}
_ABSENT = object()


def healthy_objects() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(HEALTHY.glob("*.yaml")):
        if path.name == "snapshot.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "List":
                out.extend(doc.get("items") or [])
            elif isinstance(doc, dict):
                out.append(doc)
    return copy.deepcopy(out)


def find(
    objects: Iterable[dict[str, Any]], kind: str, name: str, namespace: str | None = None
) -> dict[str, Any]:
    for o in objects:
        md = o.get("metadata", {})
        if (
            o.get("kind") == kind
            and md.get("name") == name
            and (namespace is None or md.get("namespace") == namespace)
        ):
            return o
    raise KeyError(f"{kind} {namespace}/{name}")


def view_of(
    objects: Iterable[dict[str, Any]],
    *,
    api_groups: dict[str, tuple[str, ...]] | object | None = _ABSENT,
    unreadable: Iterable[Unreadable] = (),
    collected: Iterable[str] | None = None,
    source: SourceInfo | None = None,
) -> ClusterView:
    pairs = []
    for obj in objects:
        kind = kind_for_object(obj)
        if kind is not None:
            pairs.append((kind.key, obj))
    return build_view(
        pairs,
        collected=ALL_KEYS if collected is None else collected,
        unreadable=tuple(unreadable),
        api_groups=HEALTHY_GROUPS if api_groups is _ABSENT else api_groups,
        source=source or SourceInfo(kind="snapshot", path="test", context="test"),
    )


def run_check(
    check_id: str,
    view: ClusterView,
    target: tuple[str, str] = ("kagenti-system", "mlflow"),
    options: CheckOptions | None = None,
) -> CheckResult:
    t = Target(namespace=target[0], name=target[1])
    ctx = CheckContext(
        view=view, target=t, facts=Facts(view, t.namespace, t.name), options=options or CheckOptions()
    )
    return run_one(BY_ID[check_id], ctx)


def check_healthy(
    check_id: str, edit: Callable[[list[dict[str, Any]]], None] | None = None, **view_kwargs: Any
) -> CheckResult:
    """Run one check on the healthy example after `edit`."""
    objects = healthy_objects()
    if edit is not None:
        edit(objects)
    return run_check(check_id, view_of(objects, **view_kwargs))
