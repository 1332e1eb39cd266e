"""One readable line for an evidence item, shared by the text renderers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_LEAD = ("kind", "namespace", "name")


def evidence_line(item: Mapping[str, Any]) -> str:
    kind = item.get("kind", "")
    ns = item.get("namespace")
    name = item.get("name")
    head = str(kind)
    if name:
        head += f" {ns}/{name}" if ns else f" {name}"
    rest = [f"{k}={_fmt(v)}" for k, v in item.items() if k not in _LEAD and v not in (None, "", [], {})]
    return head + (": " + ", ".join(rest) if rest else "")


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)
