from __future__ import annotations

import pytest

from waypoint_doctor.logs.sanitize import REDACTED, clean_text, redact_secrets, safe_text

JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ"
    ".eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50OmRlZmF1bHQ6ZGVmYXVsdCJ9"
    ".c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("plain", "plain"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b]0;title\x07after", "after"),
        ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("a\x00b\x07c\x7fd\x9fe", "abcde"),
        ("\x9b31mx", "x"),
        ("line1\nline2\r\nline3\tend", "line1 line2 line3 end"),
        ("rtl\u202eevil\u2066x\u2069", "rtlevilx"),
        ("lone esc \x1b", "lone esc "),
        ("", ""),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_clean_text_keeps_newlines_on_request() -> None:
    assert clean_text("a\r\nb\x1b[1m\tc\x00", keep_newlines=True) == "a\nb\tc"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Authorization: Bearer abcdefghijklmnop", f"Authorization: {REDACTED}"),
        ('"authorization": "Basic dXNlcjpwYXNz"', f'"authorization": "{REDACTED}"'),
        ("proxy-authorization=secretvalue more", f"proxy-authorization={REDACTED}"),
        (
            "curl -H 'Authorization: Bearer xyz.abc.def' http://x",
            f"curl -H 'Authorization: {REDACTED}' http://x",
        ),
        ("token is bearer abcdefgh12345678 ok", f"token is bearer {REDACTED} ok"),
        (f"sa token {JWT} end", f"sa token {REDACTED} end"),
        ("GET /path?access_token=abc123&x=1", f"GET /path?access_token={REDACTED}&x=1"),
        ("cookie: session=abc; other=1", f"cookie: {REDACTED}"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nrest",
            f"{REDACTED}\nrest",
        ),
        ("AuthorizationPolicy default/allow-nothing", "AuthorizationPolicy default/allow-nothing"),
        ("spiffe://cluster.local/ns/a/sa/b", "spiffe://cluster.local/ns/a/sa/b"),
        (
            'error="connection closed due to policy rejection"',
            'error="connection closed due to policy rejection"',
        ),
    ],
)
def test_redact_secrets(raw: str, expected: str) -> None:
    assert redact_secrets(raw) == expected


def test_jwt_never_survives_in_any_wrapping() -> None:
    for wrap in ("{}", '"{}"', "x-token: {}", "[{}]", "Authorization: Bearer {}", "token={}"):
        out = redact_secrets(wrap.format(JWT))
        assert "eyJ" not in out and REDACTED in out


def test_safe_text_combines_and_truncates() -> None:
    out = safe_text("\x1b[1mAuthorization: Bearer abcdefghij\x1b[0m and more text", max_len=30)
    assert "\x1b" not in out and "abcdefghij" not in out and len(out) <= 30
