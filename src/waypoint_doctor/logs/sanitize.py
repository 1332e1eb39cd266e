"""Make text that came from a cluster safe to show.

Two separate concerns, two functions:

- :func:`clean_text` removes what could corrupt a terminal or a report: ANSI/VT escape sequences,
  C0/C1 control characters and Unicode bidirectional overrides ("Trojan Source").
- :func:`redact_secrets` replaces credentials that turn up in access logs and debug output:
  ``Authorization``-style header values, bearer tokens, JWTs (ServiceAccount tokens are JWTs),
  token query parameters and PEM private keys.

Use both (:func:`safe_text`) on anything taken from logs, object fields or istioctl output
before it lands in a report or a snapshot.
"""

from __future__ import annotations

import re

__all__ = ["REDACTED", "clean_text", "redact_secrets", "safe_text"]

REDACTED = "<redacted>"

# ECMA-48: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS/SOS/PM/APC (ESC P|X|^|_ ... ST),
# the 8-bit CSI (0x9b) and any other two-byte ESC sequence.
_ANSI = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]                 # CSI ... final byte
    | \x9b[0-?]*[ -/]*[@-~]                   # 8-bit CSI
    | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?      # OSC ... BEL | ST (unterminated: to the next ESC)
    | \x1b[PX^_][^\x1b]*(?:\x1b\\)?           # DCS / SOS / PM / APC ... ST
    | \x1b[ -/]*[0-~]?                        # other escapes (and a lone ESC)
    """,
    re.VERBOSE,
)
# C0 controls except \t \n, DEL, C1 controls, bidi embeddings/overrides/isolates, and the
# zero-width/line-separator characters that reorder or hide text.
_CONTROLS_KEEP_NEWLINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_LINE_BREAKS = re.compile(r"[\t\r\n]+")


def clean_text(s: str, *, keep_newlines: bool = False) -> str:
    """Strip escape sequences and control characters from cluster-provided text.

    By default the result is a single line: tabs, CR and LF become one space, so a value cannot
    forge extra lines in a report. With ``keep_newlines=True`` line feeds and tabs are kept.
    """
    if not s:
        return ""
    s = _ANSI.sub("", s)
    if keep_newlines:
        s = s.replace("\r\n", "\n").replace("\r", "\n")
        return _CONTROLS_KEEP_NEWLINES.sub("", s)
    s = _LINE_BREAKS.sub(" ", s)
    return _CONTROLS_KEEP_NEWLINES.sub("", s)


_TOKEN_CHARS = r"[A-Za-z0-9\-._~+/=]"
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys (any flavour), possibly with escaped newlines inside JSON strings.
    (
        re.compile(
            r"-----BEGIN (?:[A-Z0-9 ]+ )?PRIVATE KEY-----.*?(?:-----END (?:[A-Z0-9 ]+ )?PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    # Header-style credentials: "Authorization: Bearer x", authorization="...", "cookie": "...".
    # The value runs to the end of the line or the closing quote.
    (
        re.compile(
            r"""(?ix)
            (?P<key>\b(?:proxy-)?authorization|\bx-api-key|\b(?:set-)?cookie)
            (?P<sep>["']?\s*[:=]\s*["']?)
            (?P<value>[^"'\r\n]+)
            """
        ),
        r"\g<key>\g<sep>" + REDACTED,
    ),
    # Bearer/Basic tokens wherever they appear.
    (re.compile(r"(?i)\b(bearer|basic)(\s+)" + _TOKEN_CHARS + r"{8,}"), r"\1\2" + REDACTED),
    # JWTs (ServiceAccount tokens included): three base64url segments, the first a JSON header.
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]*"), REDACTED),
    # user:password@ in URLs (database DSNs, proxies)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@\"']+:)([^@\s/\"']+)(@)"), r"\1" + REDACTED + r"\3"),
    # Tokens in query strings or key=value pairs.
    (
        re.compile(
            r"(?i)\b((?:access_|id_|refresh_|auth_)?token|api_key|apikey|password|secret)=([^&\s\"']+)"
        ),
        r"\1=" + REDACTED,
    ),
)


def redact_secrets(s: str) -> str:
    """Replace credentials in ``s`` with ``<redacted>``; the rest of the text is unchanged."""
    if not s:
        return ""
    for pattern, replacement in _REDACTIONS:
        s = pattern.sub(replacement, s)
    return s


def safe_text(s: str, *, keep_newlines: bool = False, max_len: int | None = None) -> str:
    """:func:`clean_text` then :func:`redact_secrets`, optionally shortened to ``max_len`` chars."""
    out = redact_secrets(clean_text(s, keep_newlines=keep_newlines))
    if max_len is not None and len(out) > max_len:
        out = out[: max(0, max_len - 1)] + "…"
    return out
