"""'Did you mean' suggestions for names that do not exist."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, candidates: Iterable[str], limit: int = 3, cutoff: float = 0.6) -> list[str]:
    """Close existing names, best first: a case-insensitive match, then difflib's ratio."""
    pool = sorted({c for c in candidates if isinstance(c, str) and c and c != name})
    exact_ci = [c for c in pool if c.lower() == name.lower()]
    scored = sorted(
        ((difflib.SequenceMatcher(None, name, c).ratio(), c) for c in pool if c not in exact_ci),
        key=lambda rc: (-rc[0], rc[1]),
    )
    scored = [(r, c) for r, c in scored if r >= cutoff]
    # a much better match makes the weaker ones noise (kagenti-sytem: not kube-system)
    best = scored[0][0] if scored else 0.0
    close = [c for r, c in scored if r >= best - 0.1]
    return (exact_ci + close)[:limit]


def suggestion_text(suggestions: list[str]) -> str:
    """` (did you mean "a" or "b"?)`, or an empty string."""
    if not suggestions:
        return ""
    quoted = [f'"{s}"' for s in suggestions]
    joined = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" (did you mean {joined}?)"
