"""Make cluster-provided text safe to show: nothing from a cluster may drive the terminal,
and no credential found in a log line reaches a report. One implementation, in logs.sanitize."""

from __future__ import annotations

from typing import Any

from waypoint_doctor.logs.sanitize import clean_text as _strip_controls
from waypoint_doctor.logs.sanitize import redact_secrets

# Words every credential pattern of logs.sanitize needs; text without them skips the regexes
# (a fleet report cleans a few hundred thousand short strings).
_SECRET_HINTS = (
    "eyj",
    "bearer",
    "basic",
    "authorization",
    "cookie",
    "api-key",
    "api_key",
    "apikey",
    "token=",
    "password=",
    "secret=",
    "private key",
    "://",  # user:password@ in URLs
)


def clean_text(text: object, *, keep_newlines: bool = True) -> str:
    s = text if isinstance(text, str) else str(text)
    if not (s.isascii() and s.isprintable()):
        s = _strip_controls(s, keep_newlines=keep_newlines)
    lowered = s.lower()
    if any(hint in lowered for hint in _SECRET_HINTS):
        s = redact_secrets(s)
    return s


def clean_data(value: Any) -> Any:
    """`clean_text` over every string of a JSON-like structure (evidence items)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: clean_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_data(v) for v in value]
    return value
