"""Keep only the fields the checks read, and nothing secret.

Trimming happens as lists arrive, so a scan of a large namespace holds small dicts, and a
snapshot written from the view cannot carry what was never kept.
"""

from __future__ import annotations

import re
from typing import Any

from waypoint_doctor.collect.kinds import (
    CONFIGMAPS,
    DAEMONSETS,
    DEPLOYMENTS,
    NODES,
    PODS,
    SERVICE_ACCOUNTS,
    ResourceKind,
)

_DROP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY)", re.I)
# the mesh config, and istio-cni-config's ambient switch
_CONFIG_KEYS = ("mesh", "meshNetworks", "AMBIENT_ENABLED")


def _metadata(md: Any) -> dict[str, Any]:
    if not isinstance(md, dict):
        return {}
    out = {
        k: md[k]
        for k in (
            "name",
            "namespace",
            "labels",
            "uid",
            "creationTimestamp",
            "generation",
            "resourceVersion",
            "ownerReferences",
        )
        if k in md
    }
    ann = md.get("annotations")
    if isinstance(ann, dict):
        out["annotations"] = {k: v for k, v in ann.items() if k not in _DROP_ANNOTATIONS}
    if isinstance(out.get("ownerReferences"), list):
        out["ownerReferences"] = [
            {k: r.get(k) for k in ("kind", "name") if isinstance(r, dict)} for r in out["ownerReferences"]
        ]
    return out


def _env(env: Any) -> list[dict[str, Any]]:
    out = []
    for e in env if isinstance(env, list) else []:
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            continue
        item: dict[str, Any] = {"name": e["name"]}
        if "value" in e:
            item["value"] = "<redacted>" if _SECRET_NAME.search(e["name"]) else e["value"]
        elif "valueFrom" in e:
            item["valueFrom"] = {
                k: {"name": (v or {}).get("name"), "key": (v or {}).get("key")} if isinstance(v, dict) else v
                for k, v in (e["valueFrom"] or {}).items()
            }
        out.append(item)
    return out


def _containers(containers: Any, keep_env: bool) -> list[dict[str, Any]]:
    out = []
    for c in containers if isinstance(containers, list) else []:
        if not isinstance(c, dict):
            continue
        item = {k: c[k] for k in ("name", "image", "args", "ports") if k in c}
        if keep_env and "env" in c:
            item["env"] = _env(c["env"])
        out.append(item)
    return out


def _pod_spec(spec: Any, keep_env: bool = False) -> dict[str, Any]:
    if not isinstance(spec, dict):
        return {}
    out = {
        k: spec[k] for k in ("nodeName", "serviceAccountName", "serviceAccount", "hostNetwork") if k in spec
    }
    out["containers"] = _containers(spec.get("containers"), keep_env)
    if spec.get("initContainers"):
        out["initContainers"] = _containers(spec.get("initContainers"), False)
    return out


def _pod_status(status: Any) -> dict[str, Any]:
    if not isinstance(status, dict):
        return {}
    out = {
        k: status[k] for k in ("phase", "podIP", "hostIP", "reason", "message", "startTime") if k in status
    }
    if isinstance(status.get("conditions"), list):
        out["conditions"] = [
            {k: c.get(k) for k in ("type", "status", "reason", "message", "lastTransitionTime") if k in c}
            for c in status["conditions"]
            if isinstance(c, dict)
        ]
    if isinstance(status.get("containerStatuses"), list):
        out["containerStatuses"] = [
            {
                k: cs.get(k)
                for k in ("name", "ready", "restartCount", "state", "lastState", "started")
                if k in cs
            }
            for cs in status["containerStatuses"]
            if isinstance(cs, dict)
        ]
    return out


def trim_object(kind: ResourceKind, obj: dict[str, Any]) -> dict[str, Any]:
    base = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": _metadata(obj.get("metadata")),
    }
    if kind is PODS:
        base["spec"] = _pod_spec(obj.get("spec"))
        base["status"] = _pod_status(obj.get("status"))
        return base
    if kind in (DEPLOYMENTS, DAEMONSETS):
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
        base["spec"] = {k: spec[k] for k in ("replicas", "selector") if k in spec} | {
            "template": {
                "metadata": _metadata(template.get("metadata")),
                "spec": _pod_spec(template.get("spec"), keep_env=True),
            }
        }
        base["status"] = obj.get("status") if isinstance(obj.get("status"), dict) else {}
        return base
    if kind is CONFIGMAPS:
        data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
        base["data"] = {k: v for k, v in data.items() if k in _CONFIG_KEYS}
        return base
    if kind is NODES:
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
        base["spec"] = {k: spec[k] for k in ("taints", "unschedulable") if k in spec}
        base["status"] = {
            "conditions": [
                {k: c.get(k) for k in ("type", "status", "reason") if k in c}
                for c in status.get("conditions") or []
                if isinstance(c, dict) and c.get("type") == "Ready"
            ]
        }
        return base
    if kind is SERVICE_ACCOUNTS:
        return base  # token secret references are not ours to keep
    for key in ("spec", "status", "data") if kind.kind != "Secret" else ():
        if key in obj and key != "data":
            base[key] = obj[key]
    return base
