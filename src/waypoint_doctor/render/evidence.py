"""One readable line for an evidence item, shared by the text renderers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_LEAD = ("kind", "namespace", "name")
# A value this long that the message already says is noise on the evidence line.
_REPEAT_MIN = 20


def evidence_line(item: Mapping[str, Any], message: str = "", max_value: int | None = None) -> str:
    """`Kind ns/name: key=value, …`.

    Sentences the finding's `message` already states, and a sentence repeated under a second
    key (a condition's message copied as `expected_message`), are left out: the reader has
    just read them. Identifiers (no spaces) always stay: they say which object the line is. `max_value` shortens each value to that many characters (the terminal; the
    full text stays in -o json).
    """
    kind = item.get("kind", "")
    ns = item.get("namespace")
    name = item.get("name")
    head = str(kind)
    if name:
        head += f" {ns}/{name}" if ns else f" {name}"
    rest: list[str] = []
    seen: set[str] = set()
    for k, v in item.items():
        if k in _LEAD or v in (None, "", [], {}):
            continue
        text = _fmt(v)
        if len(text) >= _REPEAT_MIN and " " in text and (text in message or text in seen):
            continue
        seen.add(text)
        if max_value is not None and len(text) > max_value:
            text = text[: max_value - 1].rstrip() + "…"
        rest.append(f"{k}={text}")
    return head + (": " + ", ".join(rest) if rest else "")


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)
