"""Read a snapshot directory (see spec/interface.md, "Snapshot format") into a ClusterView.

A snapshot can be written by `waypoint-doctor snapshot` or assembled by hand from
`kubectl get -o yaml` outputs, so the loader accepts single objects, multi-document YAML,
JSON, and `kind: List`, anywhere below the root.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from waypoint_doctor.collect.kinds import BY_KEY, kind_for_object
from waypoint_doctor.collect.view import ClusterView, LogKey, SourceInfo, Unreadable, ViewData

SNAPSHOT_META = "snapshot.yaml"
_OBJECT_SUFFIXES = (".yaml", ".yml", ".json")
# libyaml's safe loader when PyYAML was built with it: same documents, several times faster
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SnapshotError(Exception):
    """The snapshot cannot be read at all (exit code 2)."""


def _iter_documents(path: Path) -> Iterator[Any]:
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".json":
        try:
            yield json.loads(text)
        except json.JSONDecodeError as exc:
            raise SnapshotError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
        return
    try:
        yield from yaml.load_all(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SnapshotError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None


def _flatten(doc: Any) -> Iterator[dict]:
    if not isinstance(doc, dict):
        return
    items = doc.get("items")
    if isinstance(doc.get("kind"), str) and doc["kind"].endswith("List") and isinstance(items, list):
        for item in items:
            yield from _flatten(item)
    else:
        yield doc


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _read_meta(root: Path) -> dict[str, Any]:
    meta_path = root / SNAPSHOT_META
    if not meta_path.is_file():
        return {}
    try:
        meta = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SnapshotError(f"{meta_path}: invalid YAML: {exc}") from None
    return meta if isinstance(meta, dict) else {}


def _unreadable_from_meta(meta: dict[str, Any]) -> list[Unreadable]:
    out: list[Unreadable] = []
    for entry in meta.get("unreadable") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), str):
            continue
        resource = entry["resource"]
        group = entry.get("group") or ""
        key = f"{resource}.{group}" if group and "." not in resource else resource
        out.append(
            Unreadable(
                resource=key,
                reason=str(entry.get("reason") or "Error"),
                verb=str(entry.get("verb") or "list"),
                namespace=entry.get("namespace") or None,
                subresource=entry.get("subresource") or None,
                name=entry.get("name") or None,
                message=str(entry.get("message") or ""),
            )
        )
    return out


def load_snapshot_dir(root: Path, *, display_path: str | None = None) -> ClusterView:
    if not root.is_dir():
        raise SnapshotError(f"{root}: not a directory")
    meta = _read_meta(root)
    objects: dict[str, list[dict]] = {}
    seen: set[tuple[str, str, str]] = set()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or path.suffix not in _OBJECT_SUFFIXES or path.name == SNAPSHOT_META:
            continue
        if rel.parts[0] in ("logs", "istioctl") or path.name == "fakeapi.yaml":
            continue
        for doc in _iter_documents(path):
            for obj in _flatten(doc):
                kind = kind_for_object(obj)
                if kind is None or kind.key == "secrets":
                    continue
                md = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
                ident = (kind.key, str(md.get("namespace") or ""), str(md.get("name") or ""))
                if ident in seen:  # the same object exported twice: keep the first
                    continue
                seen.add(ident)
                objects.setdefault(kind.key, []).append(obj)

    logs: dict[LogKey, str] = {}
    logs_root = root / "logs"
    if logs_root.is_dir():
        for path in sorted(logs_root.glob("*/*/*.log")):
            ns, pod = path.parent.parent.name, path.parent.name
            logs[LogKey(ns, pod, path.stem)] = path.read_text(encoding="utf-8", errors="replace")

    istioctl: dict[str, str] = {}
    istioctl_root = root / "istioctl"
    if istioctl_root.is_dir():
        for path in sorted(istioctl_root.iterdir()):
            if path.is_file():
                istioctl[path.name] = path.read_text(encoding="utf-8", errors="replace")

    if not objects and not logs and not istioctl and not meta:
        raise SnapshotError(
            f"{root}: no Kubernetes objects found (expected *.yaml, *.yml or *.json files with objects, "
            "e.g. kubectl get … -o yaml output)"
        )

    declared = meta.get("collected")
    if isinstance(declared, list):
        collected = {str(x) for x in declared}
    else:
        collected = set(objects)
    collected |= set(objects)
    # Objects of a kind the collector could only read in part (e.g. one ConfigMap of two):
    # present, yet not a complete list. `waypoint-doctor snapshot` writes them here.
    incomplete = meta.get("incomplete")
    if isinstance(incomplete, list):
        collected -= {str(x) for x in incomplete}

    api_groups = meta.get("apiGroups")
    groups: dict[str, tuple[str, ...]] | None = None
    if isinstance(api_groups, dict):
        groups = {str(g): tuple(str(v) for v in (vs or [])) for g, vs in api_groups.items()}

    taken_at = _parse_time(meta.get("takenAt"))
    source = SourceInfo(
        kind="snapshot",
        context=meta.get("context") if isinstance(meta.get("context"), str) else None,
        server=meta.get("server") if isinstance(meta.get("server"), str) else None,
        path=display_path or str(root),
        taken_at=taken_at,
    )
    return ClusterView(
        ViewData(
            objects=objects,
            collected=frozenset(k for k in collected if k in BY_KEY or k in objects),
            unreadable=tuple(_unreadable_from_meta(meta)),
            logs=logs,
            istioctl=istioctl,
            source=source,
            api_groups=groups,
            server_version=meta.get("serverVersion") if isinstance(meta.get("serverVersion"), str) else None,
        )
    )


def load_snapshot(path: str | Path) -> ClusterView:
    """Load a snapshot directory or `.tar.gz` bundle."""
    p = Path(path)
    if not p.exists():
        raise SnapshotError(f"{path}: no such file or directory")
    if p.is_dir():
        return load_snapshot_dir(p, display_path=str(path))
    from waypoint_doctor.collect import bundle  # tar handling only when a bundle is given

    with bundle.extracted(p) as root:
        return load_snapshot_dir(root, display_path=str(path))
