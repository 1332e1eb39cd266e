"""Scenarios: a healthy base snapshot plus a small mutation that plants one defect.

A scenario names the checks its defect must fail, exactly. The same scenario runs offline
(`--snapshot`) and live (the real CLI and kubernetes client against the fake API server), so
each defect is written once and proves both paths.

    Scenario(
        name="service-missing-use-waypoint",
        doc="the Service lost its istio.io/use-waypoint label",
        mutate=lambda c: c.unlabel("Service", "kagenti-system", "mlflow", "istio.io/use-waypoint"),
        fails={"WD302"},
    )
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
HEALTHY = REPO / "examples" / "kagenti-healthy"


class Cluster:
    """An editable copy of a snapshot directory's objects, logs and metadata."""

    def __init__(self, base: Path) -> None:
        self.meta: dict[str, Any] = {}
        self.objects: list[dict[str, Any]] = []
        self.logs: dict[tuple[str, str, str], str] = {}
        self.istioctl: dict[str, str] = {}
        self.extra_files: dict[str, str] = {}
        meta_path = base / "snapshot.yaml"
        if meta_path.exists():
            self.meta = yaml.safe_load(meta_path.read_text()) or {}
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base)
            if not path.is_file():
                continue
            if rel.parts[0] == "logs" and path.suffix == ".log":
                self.logs[(rel.parts[1], rel.parts[2], path.stem)] = path.read_text()
            elif rel.parts[0] == "istioctl":
                self.istioctl[path.name] = path.read_text()
            elif path.suffix in (".yaml", ".yml") and path.name not in ("snapshot.yaml", "fakeapi.yaml"):
                for doc in yaml.safe_load_all(path.read_text()):
                    if isinstance(doc, dict) and doc.get("kind") == "List":
                        self.objects.extend(doc.get("items") or [])
                    elif isinstance(doc, dict):
                        self.objects.append(doc)
            elif path.name == "fakeapi.yaml":
                self.extra_files["fakeapi.yaml"] = path.read_text()

    # -- finding objects -------------------------------------------------------------------
    def find_all(self, kind: str, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        for obj in self.objects:
            if obj.get("kind") != kind:
                continue
            if namespace is not None and obj.get("metadata", {}).get("namespace") != namespace:
                continue
            yield obj

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        for obj in self.find_all(kind, namespace):
            if obj["metadata"]["name"] == name:
                return obj
        raise KeyError(f"{kind} {namespace}/{name} not in scenario")

    # -- edits -----------------------------------------------------------------------------
    def add(self, *objs: dict[str, Any] | str) -> None:
        for obj in objs:
            if isinstance(obj, str):
                self.objects.extend(d for d in yaml.safe_load_all(obj) if d)
            else:
                self.objects.append(obj)

    def remove(self, kind: str, namespace: str | None, name: str | None = None) -> None:
        def keep(o: dict[str, Any]) -> bool:
            if o.get("kind") != kind:
                return True
            md = o.get("metadata", {})
            if namespace is not None and md.get("namespace") != namespace:
                return True
            return name is not None and md.get("name") != name

        self.objects = [o for o in self.objects if keep(o)]

    def label(self, kind: str, namespace: str | None, name: str, key: str, value: str) -> None:
        self.get(kind, namespace, name).setdefault("metadata", {}).setdefault("labels", {})[key] = value

    def unlabel(self, kind: str, namespace: str | None, name: str, key: str) -> None:
        self.get(kind, namespace, name).get("metadata", {}).get("labels", {}).pop(key, None)

    def annotate(self, kind: str, namespace: str | None, name: str, key: str, value: str | None) -> None:
        ann = self.get(kind, namespace, name).setdefault("metadata", {}).setdefault("annotations", {})
        if value is None:
            ann.pop(key, None)
        else:
            ann[key] = value

    def set_condition(self, kind: str, namespace: str | None, name: str, cond: dict[str, Any]) -> None:
        status = self.get(kind, namespace, name).setdefault("status", {})
        conds = [c for c in status.get("conditions", []) if c.get("type") != cond["type"]]
        conds.append(cond)
        status["conditions"] = conds

    def drop_status(self, kind: str, namespace: str | None, name: str) -> None:
        self.get(kind, namespace, name).pop("status", None)

    def unreadable(self, **entry: str) -> None:
        self.meta.setdefault("unreadable", []).append(entry)

    def remove_group(self, group: str) -> None:
        """Simulate CRDs absent: no objects of the group, and discovery does not serve it."""
        self.objects = [o for o in self.objects if not str(o.get("apiVersion", "")).startswith(group + "/")]
        self.meta.get("apiGroups", {}).pop(group, None)
        fake = yaml.safe_load(self.extra_files.get("fakeapi.yaml", "")) or {}
        fake.setdefault("remove_groups", []).append(group)
        self.extra_files["fakeapi.yaml"] = yaml.safe_dump(fake)

    def append_log(self, namespace: str, pod: str, container: str, text: str) -> None:
        key = (namespace, pod, container)
        self.logs[key] = self.logs.get(key, "") + text.strip("\n") + "\n"

    # -- output ----------------------------------------------------------------------------
    def write(self, dest: Path) -> Path:
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        (dest / "snapshot.yaml").write_text(yaml.safe_dump(self.meta, sort_keys=False))
        (dest / "objects.yaml").write_text(yaml.safe_dump_all(self.objects, sort_keys=False))
        for (ns, pod, container), text in self.logs.items():
            p = dest / "logs" / ns / pod / f"{container}.log"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        for name, text in self.istioctl.items():
            p = dest / "istioctl" / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        for name, text in self.extra_files.items():
            (dest / name).write_text(text)
        return dest


@dataclass(frozen=True)
class Scenario:
    name: str
    doc: str
    mutate: Callable[[Cluster], None]
    fails: frozenset[str] | set[str]  # exactly the checks that must end in `fail`
    warns: frozenset[str] | set[str] | None = None  # when given: exactly these end in `warn`
    skips: frozenset[str] | set[str] = field(default_factory=frozenset)  # at least these end in `skip`
    target: tuple[str, str] = ("kagenti-system", "mlflow")
    base: Path = HEALTHY
    live: bool = True  # also run against the fake API server

    def build(self, dest: Path) -> Path:
        cluster = Cluster(self.base)
        self.mutate(cluster)
        return cluster.write(dest)


def no_change(_: Cluster) -> None:
    return None


def deep(obj: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(obj)
