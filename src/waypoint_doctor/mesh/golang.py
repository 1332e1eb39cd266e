"""How istiod reads strings: Go's `strconv.ParseBool`, used for env flags and some labels."""

from __future__ import annotations

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_go_bool(value: object) -> bool | None:
    """`strconv.ParseBool`: True/False for the accepted spellings, None when Go would error."""
    if not isinstance(value, str):
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None
