"""Three-valued logic for policy evaluation.

A rule can depend on data the question did not give (a header, a JWT claim, the client IP).
The engine then answers UNKNOWN for that attribute instead of guessing, and UNKNOWN propagates
through AND/OR with Kleene's rules: FALSE wins an AND, TRUE wins an OR.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class Tri(Enum):
    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"

    @staticmethod
    def of(value: bool) -> Tri:
        return Tri.TRUE if value else Tri.FALSE

    def negate(self) -> Tri:
        if self is Tri.UNKNOWN:
            return Tri.UNKNOWN
        return Tri.FALSE if self is Tri.TRUE else Tri.TRUE

    @property
    def is_true(self) -> bool:
        return self is Tri.TRUE

    @property
    def is_false(self) -> bool:
        return self is Tri.FALSE


def tri_all(values: Iterable[Tri]) -> Tri:
    """AND: TRUE for an empty input, FALSE if any is FALSE, else UNKNOWN if any is UNKNOWN."""
    seen_unknown = False
    for value in values:
        if value is Tri.FALSE:
            return Tri.FALSE
        if value is Tri.UNKNOWN:
            seen_unknown = True
    return Tri.UNKNOWN if seen_unknown else Tri.TRUE


def tri_any(values: Iterable[Tri]) -> Tri:
    """OR: FALSE for an empty input, TRUE if any is TRUE, else UNKNOWN if any is UNKNOWN."""
    seen_unknown = False
    for value in values:
        if value is Tri.TRUE:
            return Tri.TRUE
        if value is Tri.UNKNOWN:
            seen_unknown = True
    return Tri.UNKNOWN if seen_unknown else Tri.FALSE
