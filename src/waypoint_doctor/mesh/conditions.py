"""Reading `status.conditions` lists without trusting their shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from waypoint_doctor.collect.view import dig


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition: str = ""

    def as_evidence(self, kind: str, namespace: str, name: str) -> dict[str, str]:
        return {
            "kind": kind,
            "namespace": namespace,
            "name": name,
            "condition": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
        }


def conditions_of(obj: Any, *path: str) -> list[Condition]:
    raw = dig(obj, *(path or ("status", "conditions")), default=[])
    out = []
    for c in raw if isinstance(raw, list) else []:
        if isinstance(c, Mapping) and isinstance(c.get("type"), str):
            out.append(
                Condition(
                    type=c["type"],
                    status=str(c.get("status", "")),
                    reason=str(c.get("reason", "") or ""),
                    message=str(c.get("message", "") or ""),
                    last_transition=str(c.get("lastTransitionTime", "") or ""),
                )
            )
    return out


def find_condition(obj: Any, cond_type: str, *path: str) -> Condition | None:
    for cond in conditions_of(obj, *path):
        if cond.type == cond_type:
            return cond
    return None
