"""Make cluster-provided text safe to show: nothing from a cluster may drive the terminal."""

from __future__ import annotations

import re

# ANSI CSI/OSC sequences first (so their parameters go too), then any remaining C0/C1 control.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean_text(text: object, *, keep_newlines: bool = True) -> str:
    s = text if isinstance(text, str) else str(text)
    s = _CONTROL.sub("", _ANSI.sub("", s))
    return s if keep_newlines else s.replace("\n", " ").replace("\t", " ")
