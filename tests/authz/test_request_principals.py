"""JWT request principals: istiod matches the issuer and the subject separately."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.authz.policies import OTEL, policy, service_target_ref

from waypoint_doctor.authz import Request, Verdict, evaluate, parse_policy
from waypoint_doctor.authz.match import match_request_principal, split_request_principal

ISS = "https://accounts.example.com/tenant"


@pytest.mark.parametrize(
    ("pattern", "issuer", "subject", "expected"),
    [
        (f"{ISS}/alice", ISS, "alice", True),
        (f"{ISS}/alice", ISS, "bob", False),
        (f"{ISS}/alice", "https://accounts.example.com", "tenant/alice", False),
        ("*", ISS, "alice", True),
        ("*", ISS, "", False),
        (f"{ISS}/*", ISS, "anyone", True),
        (f"{ISS}/*", "https://other", "anyone", False),
        (f"{ISS}/al*", ISS, "alice", True),
        ("*/alice", ISS, "alice", True),
        ("*.example.com/tenant/alice", ISS, "alice", True),
        ("*example.com/tenant/alice", ISS, "alice", True),
        ("*alice", ISS, "malice", True),
        # the last '/' of "https://" splits it: iss must be exactly "https:/" (a trap)
        ("https://acc*", ISS, "x", False),
        ("iss-prefix*", "iss-prefix-1", "x", True),
        ("issuer-only", "issuer-only", "", True),
    ],
)
def test_issuer_and_subject_are_matched_apart(pattern, issuer, subject, expected):
    """istio:pilot/pkg/security/authz/model/generator.go `requestPrincipalGenerator.extendedPrincipal`
    (same in release-1.22 .. HEAD): split at the LAST '/' (an issuer may be a URL), then an AND of a
    metadata matcher on `iss` and one on `sub`: `*` = both `.+`; `*x` = iss suffix (sub exact) or,
    without '/', sub suffix; `x*` = sub prefix (iss exact) or, without '/', iss prefix."""
    assert match_request_principal(pattern, issuer, subject) is expected


def test_split_keeps_url_issuers_whole():
    """generator.go: `strings.LastIndex(value, "/")`."""
    assert split_request_principal(f"{ISS}/alice") == (ISS, "alice")
    assert split_request_principal("no-slash") == ("no-slash", None)


def test_no_jwt_never_matches_request_principals():
    """A request without a validated JWT has no `iss`/`sub` metadata: the metadata matchers fail, so
    an ALLOW on requestPrincipals denies and notRequestPrincipals matches."""
    allow = parse_policy(
        policy(
            "jwt",
            {
                "targetRefs": service_target_ref(),
                "rules": [{"from": [{"source": {"requestPrincipals": ["*"]}}]}],
            },
        )
    )
    assert evaluate([allow], Request(OTEL, request_principal=""), enforcer="waypoint").verdict is Verdict.DENY
    assert (
        evaluate([allow], Request(OTEL, request_principal=None), enforcer="waypoint").verdict
        is Verdict.UNKNOWN
    )
    assert (
        evaluate([allow], Request(OTEL, request_principal=f"{ISS}/a"), enforcer="waypoint").verdict
        is Verdict.ALLOW
    )


@given(st.text(max_size=20), st.text(max_size=20), st.text(max_size=20))
def test_matcher_is_total(pattern, issuer, subject):
    assert isinstance(match_request_principal(pattern, issuer, subject), bool)
