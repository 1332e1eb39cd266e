"""Cluster text made fit for a one-line message."""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")


def one_line(text: object, limit: int = 240) -> str:
    """Collapse whitespace (status messages wrap) and cut long text with an ellipsis."""
    s = _SPACE.sub(" ", text if isinstance(text, str) else str(text)).strip()
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def join_names(names: list[str], limit: int = 3) -> str:
    """`a, b and c` or `a, b and 4 more`."""
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    if len(names) <= limit:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return ", ".join(names[:limit]) + f" and {len(names) - limit} more"
