"""CUSTOM policies and the mesh's ext-authz providers, as istiod's authz builder handles them."""

from __future__ import annotations

from tests.authz.policies import OTEL, policy, rule, service_target_ref

from waypoint_doctor.authz import Request, Verdict, evaluate, parse_policy
from waypoint_doctor.authz.extauthz import ExtAuthz, parse_extension_providers, with_service_lookup
from waypoint_doctor.collect.view import build_view
from waypoint_doctor.mesh.meshconfig import mesh_config_from
from waypoint_doctor.mesh.providers import resolve_ext_authz, service_lookup

HTTP_PROVIDER = {
    "name": "opa",
    "envoyExtAuthzHttp": {"service": "opa.authz.svc.cluster.local", "port": 9191},
}
GRPC_PROVIDER = {
    "name": "grpc-authz",
    "envoyExtAuthzGrpc": {"service": "authz/ext-authz.authz.svc.cluster.local", "port": 9000},
}


def custom(name: str, provider: str, *rules: dict) -> object:
    return parse_policy(
        policy(
            name,
            {
                "targetRefs": service_target_ref(),
                "action": "CUSTOM",
                "provider": {"name": provider},
                "rules": list(rules) or [{}],
            },
        )
    )


def providers(*entries: dict, lookup: str = "found") -> ExtAuthz:
    parsed = parse_extension_providers({"extensionProviders": list(entries)})
    return ExtAuthz(with_service_lookup(parsed, lambda host, ns: lookup))  # type: ignore[arg-type,return-value]


def test_valid_provider_makes_the_verdict_undecidable():
    """istio:pilot/pkg/security/authz/builder/builder.go `buildHTTP` (custom builder): a resolved
    provider gets a shadow RBAC filter plus ext_authz; the external answer is unknowable."""
    decision = evaluate(
        [custom("ext", "opa")], Request(OTEL), enforcer="waypoint", ext_authz=providers(HTTP_PROVIDER)
    )
    assert decision.verdict is Verdict.UNKNOWN and "external authorizer 'opa'" in decision.reason


def test_undefined_provider_denies_what_it_matches():
    """builder.go: `getExtAuthz` fails ("available providers are [...] but found ...") and the
    builder logs "will generate deny configs" and installs `getBadCustomDenyRules(rules)`: a DENY
    RBAC filter with the CUSTOM policy's rules (suffix -deny-due-to-bad-CUSTOM-action)."""
    decision = evaluate(
        [custom("ext", "missing", rule(paths=["/admin*"]))],
        Request(OTEL, "GET", "/admin/x"),
        enforcer="waypoint",
        ext_authz=providers(HTTP_PROVIDER),
    )
    assert decision.verdict is Verdict.DENY and "defines no ext-authz provider 'missing'" in decision.reason
    # what it does not match goes on to the ALLOW stage
    other = evaluate(
        [custom("ext", "missing", rule(paths=["/admin*"]))],
        Request(OTEL, "GET", "/public"),
        enforcer="waypoint",
        ext_authz=providers(HTTP_PROVIDER),
    )
    assert other.verdict is Verdict.ALLOW


def test_provider_whose_service_is_missing_denies():
    """extauthz.go `buildExtAuthzHTTP`: model.LookupCluster fails ("could not find service ... in
    Istio service registry"), the provider carries an error and `getExtAuthz` returns "found errors
    in provider": the CUSTOM policy becomes deny rules."""
    decision = evaluate(
        [custom("ext", "opa")],
        Request(OTEL),
        enforcer="waypoint",
        ext_authz=providers(HTTP_PROVIDER, lookup="missing"),
    )
    assert decision.verdict is Verdict.DENY and "not in the service registry" in decision.reason


def test_provider_service_unknown_to_the_run_stays_undecidable():
    """A Service in a namespace the run did not read is not claimed missing: the provider is kept."""
    decision = evaluate(
        [custom("ext", "opa")],
        Request(OTEL),
        enforcer="waypoint",
        ext_authz=providers(HTTP_PROVIDER, lookup="unknown"),
    )
    assert decision.verdict is Verdict.UNKNOWN


def test_two_providers_on_one_waypoint_deny_through_every_custom_policy():
    """release-1.24 extauthz.go `getExtAuthz`: `notAllTheSame(providers)` -> "only 1 provider can be
    used per workload"; HEAD builder.go `buildHTTP`: more than one provider without
    PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS generates deny rules for all of them."""
    policies = [custom("a", "opa"), custom("b", "grpc-authz", rule(paths=["/b*"]))]
    ext = providers(HTTP_PROVIDER, GRPC_PROVIDER)
    decision = evaluate(policies, Request(OTEL, "GET", "/x"), enforcer="waypoint", ext_authz=ext)
    assert decision.verdict is Verdict.DENY and "2 providers" in decision.reason
    allowed_multi = ExtAuthz(ext.providers, multiple_providers=True)
    decision = evaluate(policies, Request(OTEL, "GET", "/x"), enforcer="waypoint", ext_authz=allowed_multi)
    assert decision.verdict is Verdict.UNKNOWN


def test_http_provider_is_skipped_on_a_tcp_port():
    """release-1.24 builder.go `buildTCP`: `extauthz.tcp == nil` -> "ignored CUSTOM action with HTTP
    provider on TCP filter chain": no filter, the CUSTOM policy does not apply there."""
    decision = evaluate(
        [custom("ext", "opa")],
        Request(OTEL, protocol="tcp"),
        enforcer="waypoint",
        ext_authz=providers(HTTP_PROVIDER),
    )
    assert decision.verdict is Verdict.ALLOW and any("skipped" in n for n in decision.notes)
    grpc = evaluate(
        [custom("ext", "grpc-authz")],
        Request(OTEL, protocol="tcp"),
        enforcer="waypoint",
        ext_authz=providers(GRPC_PROVIDER),
    )
    assert grpc.verdict is Verdict.UNKNOWN  # a gRPC provider has a network ext_authz filter


def test_bad_provider_still_denies_on_tcp():
    """builder.go `buildTCP` checks `getExtAuthz` first: an unusable provider denies on TCP too."""
    decision = evaluate(
        [custom("ext", "nope")],
        Request(OTEL, protocol="tcp"),
        enforcer="waypoint",
        ext_authz=providers(HTTP_PROVIDER),
    )
    assert decision.verdict is Verdict.DENY


def test_provider_validation_errors():
    """extauthz.go `processExtensionProvider`: empty and duplicate names are errors (the later
    duplicate replaces the first, in error); agent/extensionprovider.go validates port range,
    service format and statusOnError; non-authz providers are not authorizers."""
    parsed = parse_extension_providers(
        {
            "extensionProviders": [
                HTTP_PROVIDER,
                {"name": "opa", "envoyExtAuthzHttp": {"service": "x.y.svc.cluster.local", "port": 80}},
                {"name": "", "envoyExtAuthzGrpc": {"service": "a.b.svc.cluster.local", "port": 1}},
                {"name": "badport", "envoyExtAuthzGrpc": {"service": "a.b.svc.cluster.local", "port": 0}},
                {
                    "name": "status",
                    "envoyExtAuthzHttp": {"service": "a.b", "port": 1, "statusOnError": "299"},
                },
                {"name": "prefix", "envoyExtAuthzHttp": {"service": "a.b", "port": 1, "pathPrefix": "check"}},
                {"name": "otel", "opentelemetry": {"service": "otel.x", "port": 4317}},
            ]
        }
    )
    assert "duplicate" in (parsed["opa"].problem or "")
    assert "empty" in (parsed[""].problem or "")
    assert "port" in (parsed["badport"].problem or "")
    assert "statusOnError" in (parsed["status"].problem or "")
    assert "pathPrefix" in (parsed["prefix"].problem or "")
    assert "not an ext-authz provider" in (parsed["otel"].problem or "")


def test_service_lookup_over_the_view():
    """istio:pilot/pkg/model/telemetry_logging.go `LookupCluster`: `<ns>/<host>` looks in that
    namespace; a bare hostname must exist in exactly one namespace; a Kubernetes Service registers
    as <name>.<ns>.svc.<suffix>."""
    objects = [
        ("namespaces", {"metadata": {"name": "authz"}}),
        ("services", {"metadata": {"name": "opa", "namespace": "authz"}}),
        ("services", {"metadata": {"name": "other", "namespace": "authz"}}),
        (
            "serviceentries.networking.istio.io",
            {"metadata": {"name": "ext", "namespace": "authz"}, "spec": {"hosts": ["authz.example.com"]}},
        ),
    ]
    view = build_view(objects, collected=["namespaces", "services", "serviceentries.networking.istio.io"])
    lookup = service_lookup(view)
    assert lookup("opa.authz.svc.cluster.local", None) == "found"
    assert lookup("opa.authz.svc.cluster.local", "authz") == "found"
    assert lookup("gone.authz.svc.cluster.local", None) == "missing"  # authz's Services were read
    assert lookup("opa.nowhere.svc.cluster.local", None) == "missing"  # no such namespace
    assert lookup("authz.example.com", None) == "found"
    assert lookup("unknown.example.com", None) == "unknown"
    opa = {"name": "opa", "envoyExtAuthzHttp": {"service": "opa.authz.svc.cluster.local", "port": 9191}}
    mesh = mesh_config_from({"extensionProviders": [opa]}, "istio-system", "x")
    assert resolve_ext_authz(view, mesh, False).provider_problem("opa") is None
