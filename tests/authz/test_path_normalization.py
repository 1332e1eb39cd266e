"""Path normalisation at the waypoint, as istiod configures Envoy and Envoy rewrites `:path`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.authz.policies import NS, OTEL, policy, rule, service_target_ref

from waypoint_doctor.authz import Request, Verdict, evaluate, parse_policy
from waypoint_doctor.authz.normalize import (
    EscapedSlashes,
    PathSettings,
    normalize_path,
)
from waypoint_doctor.mesh.meshconfig import mesh_config_from

DENY_ADMIN = parse_policy(
    policy(
        "deny-admin",
        {"targetRefs": service_target_ref(), "action": "DENY", "rules": [rule(paths=["/admin*"])]},
    )
)
ALLOW_TRACES = parse_policy(
    policy(
        "allow-traces",
        {
            "targetRefs": service_target_ref(),
            "rules": [rule(principals=[OTEL], methods=["POST"], paths=["/v1/traces"])],
        },
    )
)


def test_mesh_modes_map_to_the_hcm_options_istiod_sets():
    """istio:pilot/pkg/networking/core/listener_builder.go `buildHTTPConnectionManager` (every
    release 1.22..HEAD): NONE sets normalize_path false; BASE and DEFAULT normalize_path true;
    MERGE_SLASHES adds merge_slashes; DECODE_AND_MERGE_SLASHES adds
    path_with_escaped_slashes_action UNESCAPE_AND_FORWARD. The waypoint's HCM is built by the same
    function (listener_waypoint.go calls lb.buildHTTPConnectionManager)."""
    assert PathSettings.for_mode("NONE") == PathSettings(normalize=False, source="NONE")
    assert PathSettings.for_mode(None).normalize and not PathSettings.for_mode(None).merge_slashes
    assert PathSettings.for_mode("DEFAULT") == PathSettings.for_mode(None)
    assert PathSettings.for_mode("BASE").escaped_slashes is EscapedSlashes.KEEP_UNCHANGED
    assert PathSettings.for_mode("MERGE_SLASHES").merge_slashes
    decode = PathSettings.for_mode("DECODE_AND_MERGE_SLASHES")
    assert decode.merge_slashes and decode.escaped_slashes is EscapedSlashes.UNESCAPE_AND_FORWARD


def test_mesh_config_reads_path_normalization_and_connection_settings():
    """istio/api mesh/v1alpha1/config.proto `ProxyPathNormalization` (field pathNormalization,
    default BASE); proxy.proto `ConnectionSettings.http_merge_slashes` and
    `http_path_with_escaped_slashes_action`, applied after the mesh mode by
    istio:pilot/pkg/networking/core/connection_settings.go `applyConnectionSettingsToHCM` (1.31+)."""
    mesh = mesh_config_from({"pathNormalization": {"normalization": "MERGE_SLASHES"}}, "istio-system", None)
    assert mesh.path_settings.merge_slashes
    overridden = mesh_config_from(
        {
            "pathNormalization": {"normalization": "MERGE_SLASHES"},
            "defaultConfig": {"connectionSettings": {"httpMergeSlashes": False}},
        },
        "istio-system",
        None,
    )
    assert (
        not overridden.path_settings.merge_slashes
        and "httpMergeSlashes=false" in overridden.path_settings.source
    )
    assert mesh_config_from({}, "istio-system", None).path_settings == PathSettings()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/a/b/../c", "/a/c"),
        ("/a/b/./c", "/a/b/c"),
        ("a/b/../c", "/a/c"),
        ("/a/b/../../../../c", "/c"),
        ("/a/..\\c", "/c"),
        ("/%5c%25", "/%5c%25"),
        ("/a/b/%2E%2E/c", "/a/c"),
        ("/a/b/%2e%2e/c", "/a/c"),
        ("/a/%2F%2f/c", "/a/%2F%2f/c"),
        ("/A/B/C", "/A/B/C"),
        ("..", "/"),
        ("/a//b", "/a//b"),
        ("/x?y/../z", "/x?y/../z"),
    ],
)
def test_base_canonicalisation_matches_envoys_tests(raw, expected):
    """envoy test/common/http/path_utility_test.cc `NormalizeValidPaths` / `NormalizeCasePath`:
    PathUtil::canonicalPath resolves dot segments (also %2E), turns backslashes into slashes,
    keeps reserved escapes (%2F, %5c, %25) as written, never changes case, leaves slashes alone
    and only touches the part before '?'."""
    assert normalize_path(raw, PathSettings.for_mode("BASE")).candidates == (expected,)


def test_merge_slashes_after_canonicalisation():
    """envoy source/common/http/conn_manager_utility.cc `maybeNormalizePath`: escaped slashes,
    then canonicalPath, then mergeSlashes; path_utility.cc `PathTransformer::mergeSlashes` keeps a
    leading and a trailing slash and ignores the query."""
    merge = PathSettings.for_mode("MERGE_SLASHES")
    assert normalize_path("/a//b/c//", merge).candidates == ("/a/b/c/",)
    assert normalize_path("//a/b/c", merge).candidates == ("/a/b/c",)
    assert normalize_path("/a//b?a=///c", merge).candidates == ("/a/b?a=///c",)
    assert normalize_path("/a/.//b", merge).candidates == ("/a/b",)


def test_decode_and_merge_slashes_unescapes_before_canonicalising():
    """envoy conn_manager_utility.cc: UNESCAPE_AND_FORWARD runs PathUtil::unescapeSlashes (%2F,
    %2f -> '/', %5C, %5c -> '\\') before canonicalPath, so `/a%2fb/../c` becomes `/a/c`; Istio's
    docs (reference/config/security/normalization) list %2f and %5c as decoded only with
    DECODE_AND_MERGE_SLASHES."""
    decode = PathSettings.for_mode("DECODE_AND_MERGE_SLASHES")
    assert normalize_path("/a%2fb/../c", decode).candidates == ("/a/c",)
    assert normalize_path("/a%2fb/../c", PathSettings.for_mode("BASE")).candidates == ("/c",)
    assert normalize_path("/some%2fdata", decode).candidates == ("/some/data",)


def test_escaped_slashes_reject_and_redirect():
    """proxy.proto PathWithEscapedSlashesAction: REJECT_REQUEST answers 400 and
    UNESCAPE_AND_REDIRECT redirects (conn_manager_utility.cc returns Reject / Redirect) before any
    filter runs; nothing is authorized on the escaped path."""
    reject = PathSettings.for_mode("BASE").with_connection_settings(
        {"httpPathWithEscapedSlashesAction": "REJECT_REQUEST"}
    )
    result = normalize_path("/admin%2fusers", reject)
    assert result.candidates == () and "400" in (result.rejected or "")
    redirect = PathSettings.for_mode("BASE").with_connection_settings(
        {"httpPathWithEscapedSlashesAction": "UNESCAPE_AND_REDIRECT"}
    )
    assert "redirect" in (normalize_path("/a%2Fb", redirect).rejected or "")
    assert normalize_path("/plain", reject).candidates == ("/plain",)


def test_none_compares_the_raw_path():
    """listener_builder.go: NONE sets normalize_path false and no merge: Envoy compares the path as sent."""
    assert normalize_path("/api/../admin", PathSettings.for_mode("NONE")).candidates == ("/api/../admin",)


def test_unreserved_escapes_depend_on_the_envoy_build():
    """Chromium url_canon_path.cc as Envoy vendored it (kPathCharLookup UNESCAPE for letters,
    digits, '-', '_', '~') decodes `%61` to `a`, as istio.io's normalization reference says; the
    upstream table after crbug 1509295 copies valid escapes unchanged. Both readings are kept."""
    result = normalize_path("/%61dmin/x", PathSettings())
    assert set(result.candidates) == {"/admin/x", "/%61dmin/x"}
    assert result.path is None


def test_nested_escape_is_not_turned_into_a_new_one():
    """Chromium `CheckForNestedEscapes`: `%%30%30` must not become `%00` after unescaping; the
    first '%' is escaped to %25."""
    assert "/%2500" in normalize_path("/%%30%30", PathSettings()).candidates


def test_escaping_of_characters_that_must_be_escaped():
    """Chromium kPathCharLookup ESCAPE: space, '"', '<', '>', '`', '{', '}' and non-ASCII bytes are
    percent-encoded in upper case (AppendEscapedChar)."""
    assert normalize_path("/a b/é", PathSettings()).candidates == ("/a%20b/%C3%A9",)


def test_deny_admin_applies_to_a_dot_dot_path_at_the_waypoint():
    """Issue 11: a DENY on `/admin*` applies to `/api/../admin/users`, because the waypoint's
    HCM normalises the path (BASE by default) before the RBAC filter; with NONE it does not."""
    request = Request(OTEL, "GET", "/api/../admin/users")
    decision = evaluate([DENY_ADMIN], request, enforcer="waypoint")
    assert decision.verdict is Verdict.DENY and decision.path_seen == "/admin/users"
    raw = evaluate([DENY_ADMIN], request, enforcer="waypoint", path_settings=PathSettings.for_mode("NONE"))
    assert raw.verdict is Verdict.ALLOW and raw.path_seen is None


def test_dot_segment_matches_the_allowed_path():
    """Issue 11: `/v1/./traces` matches an ALLOW on `/v1/traces` after BASE normalisation."""
    decision = evaluate([ALLOW_TRACES], Request(OTEL, "POST", "/v1/./traces"), enforcer="waypoint")
    assert decision.verdict is Verdict.ALLOW and decision.path_seen == "/v1/traces"


def test_merge_slashes_mode_changes_the_verdict():
    """MERGE_SLASHES: `//v1//traces` is `/v1/traces` for the RBAC filter; under BASE it is not."""
    request = Request(OTEL, "POST", "//v1//traces")
    assert evaluate([ALLOW_TRACES], request, enforcer="waypoint").verdict is Verdict.DENY
    merged = evaluate(
        [ALLOW_TRACES], request, enforcer="waypoint", path_settings=PathSettings.for_mode("MERGE_SLASHES")
    )
    assert merged.verdict is Verdict.ALLOW


def test_build_dependent_decoding_is_undecidable_only_when_it_matters():
    """A percent-encoded letter decides the DENY only under the vendored canonicaliser: the answer
    is UNKNOWN, not a guess; where both readings agree the answer stands."""
    unsure = evaluate([DENY_ADMIN], Request(OTEL, "GET", "/%61dmin"), enforcer="waypoint")
    assert unsure.verdict is Verdict.UNKNOWN and "Envoy build" in unsure.reason
    both = evaluate([DENY_ADMIN], Request(OTEL, "GET", "/admin/%61"), enforcer="waypoint")
    assert both.verdict is Verdict.DENY


def test_ztunnel_never_sees_paths():
    """ztunnel is L4 (ambient/authorization.go drops HTTP fields): no normalisation applies there."""
    l4 = parse_policy(policy("l4", {"selector": {"matchLabels": {"app": "x"}}, "rules": [{}]}, namespace=NS))
    decision = evaluate([l4], Request(OTEL, "GET", "/a/../b"), enforcer="ztunnel")
    assert decision.path_seen is None


@given(st.text(alphabet="/.%2eEfF5cC\\ab?", max_size=24))
def test_normalisation_is_idempotent_and_total(path):
    """Canonicalising a canonical path changes nothing (RFC 3986 6.2.2 normal form), and no input
    raises: every mode returns candidates or a rejection."""
    for mode in ("NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES"):
        settings = PathSettings.for_mode(mode)
        result = normalize_path(path, settings)
        assert result.candidates or result.rejected
        for candidate in result.candidates:
            again = normalize_path(candidate, settings)
            if mode in ("BASE", "MERGE_SLASHES") and "%" not in candidate:
                assert again.candidates == (candidate,)
