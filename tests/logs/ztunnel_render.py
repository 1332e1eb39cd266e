"""Render ztunnel log lines the way ztunnel's formatter does (src/telemetry.rs), for tests.

Text: ``<time>\\t<level>\\taccess\\t<message>\\t<k=v …>`` with string values written by Rust's
``Debug`` for ``str`` (quotes; ``\\\\ \\" \\n \\r \\t \\0`` and ``\\u{…}`` for other controls), and
addresses/numbers bare. JSON: ``level``/``time``/``scope``/``message`` then the dotted fields.
"""

from __future__ import annotations

import json

FIELD_ORDER = [
    "src.addr",
    "src.workload",
    "src.namespace",
    "src.identity",
    "src.cluster",
    "dst.addr",
    "dst.hbone_addr",
    "dst.service",
    "dst.workload",
    "dst.namespace",
    "dst.identity",
    "dst.cluster",
    "direction",
    "bytes_sent",
    "bytes_recv",
    "duration",
    "error",
]
BARE = {"src.addr", "dst.addr", "dst.hbone_addr", "bytes_sent", "bytes_recv"}


def rust_debug_str(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\0":
            out.append("\\0")
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def render_text(
    fields: dict[str, object], *, time: str, level: str = "info", message: str = "connection complete"
) -> str:
    parts = []
    for key in FIELD_ORDER:
        if key not in fields or fields[key] is None:
            continue
        value = fields[key]
        if key == "duration":
            parts.append(f'duration="{value}ms"')
        elif key in BARE:
            parts.append(f"{key}={value}")
        else:
            parts.append(f"{key}={rust_debug_str(str(value))}")
    return f"{time}\t{level}\taccess\t{message}\t" + " ".join(parts)


def render_json(
    fields: dict[str, object], *, time: str, level: str = "info", message: str = "connection complete"
) -> str:
    obj: dict[str, object] = {"level": level, "time": time, "scope": "access", "message": message}
    for key in FIELD_ORDER:
        if key in fields and fields[key] is not None:
            obj[key] = f"{fields[key]}ms" if key == "duration" else fields[key]
    return json.dumps(obj)
