"""Kubernetes label selectors (`matchLabels` + `matchExpressions`), as `metav1.LabelSelectorAsSelector`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def label_selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """A nil selector matches nothing and an empty one everything; malformed input matches nothing."""
    if not isinstance(selector, Mapping):
        return False
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        return False
    for key, value in match_labels.items():
        if labels.get(key) != value:
            return False
    for expr in expressions:
        if not isinstance(expr, Mapping) or not _expression_matches(expr, labels):
            return False
    return True


def _expression_matches(expr: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    key = expr.get("key")
    operator = expr.get("operator")
    values = expr.get("values") or []
    if not isinstance(key, str) or not isinstance(values, list):
        return False
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False  # an invalid operator makes the whole selector invalid: it selects nothing


def describe_label_selector(selector: Any) -> str:
    """`a=b,c in (d,e)` for messages; `<none>` for a nil selector."""
    if not isinstance(selector, Mapping):
        return "<none>"
    parts = (
        [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
        if isinstance(selector.get("matchLabels") or {}, Mapping)
        else []
    )
    expressions = selector.get("matchExpressions")
    for expr in expressions if isinstance(expressions, list) else []:
        if not isinstance(expr, Mapping):
            continue
        op = expr.get("operator")
        values = (
            ",".join(str(v) for v in expr.get("values") or []) if isinstance(expr.get("values"), list) else ""
        )
        if op in ("In", "NotIn"):
            parts.append(f"{expr.get('key')} {'in' if op == 'In' else 'notin'} ({values})")
        elif op == "Exists":
            parts.append(str(expr.get("key")))
        elif op == "DoesNotExist":
            parts.append(f"!{expr.get('key')}")
    return ",".join(parts) if parts else "<everything>"
