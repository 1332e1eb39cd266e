"""Evaluation semantics, one table row per fact; each row cites the reference section it follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.authz.policies import NS, OTEL, TD, UI, policy, rule, service_target_ref

from waypoint_doctor.authz import Request, Verdict, evaluate, parse_policy


@dataclass
class Case:
    name: str
    ref: str
    specs: list[dict[str, Any]]
    request: Request
    expected: Verdict
    enforcer: str = "waypoint"
    trust_domain: str = TD
    aliases: tuple[str, ...] = ()
    decided_by: tuple[str, int | None] | None = None  # (policy name, rule) or None for a default
    kwargs: dict[str, Any] = field(default_factory=dict)


def allow(*rules: dict[str, Any], name: str = "allow") -> dict[str, Any]:
    return {
        "name": name,
        "spec": {"targetRefs": service_target_ref(), "action": "ALLOW", "rules": list(rules)},
    }


def deny(*rules: dict[str, Any], name: str = "deny") -> dict[str, Any]:
    return {
        "name": name,
        "spec": {"targetRefs": service_target_ref(), "action": "DENY", "rules": list(rules)},
    }


def l4(action: str, *rules: dict[str, Any], name: str = "l4") -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "mlflow"}}, "action": action}
    spec["rules"] = list(rules)
    return {"name": name, "spec": spec}


def req(principal: str | None = OTEL, method: str = "GET", path: str = "/", **kw: Any) -> Request:
    return Request(principal, method, path, **kw)


CASES = [
    # --- order and defaults (5.3)
    Case("no policy allows", "5.3", [], req(), Verdict.ALLOW),  # ref 5.3 (rule 3)
    Case(
        "allow-nothing denies",
        "5.3",
        [{"name": "nothing", "spec": {"targetRefs": service_target_ref()}}],
        req(),
        Verdict.DENY,
    ),  # ref 5.3: spec {} = allow-nothing
    Case(
        "rules [{}] allows all",
        "5.3",
        [allow({})],
        req(principal=None),
        Verdict.ALLOW,
        decided_by=("allow", 0),
    ),
    Case(
        "DENY beats ALLOW", "5.3", [allow({}), deny({}, name="d")], req(), Verdict.DENY, decided_by=("d", 0)
    ),
    Case(
        "no matching ALLOW denies",
        "5.3",
        [allow(rule(principals=[UI]))],
        req(),
        Verdict.DENY,
        decided_by=None,
    ),
    Case(
        "AUDIT never decides",
        "5.3",
        [{"name": "audit", "spec": {"targetRefs": service_target_ref(), "action": "AUDIT", "rules": [{}]}}],
        req(),
        Verdict.ALLOW,
    ),
    Case(
        "AUDIT alone is not an ALLOW",
        "5.3",
        [
            {"name": "audit", "spec": {"targetRefs": service_target_ref(), "action": "AUDIT", "rules": [{}]}},
            allow(rule(principals=[UI])),
        ],
        req(),
        Verdict.DENY,
    ),
    Case(
        "DENY without rules never fires",
        "5.3",
        [{"name": "d", "spec": {"targetRefs": service_target_ref(), "action": "DENY"}}],
        req(),
        Verdict.ALLOW,
    ),
    Case(
        "dry-run DENY is not enforced",
        "5.3",
        [deny({}, name="d") | {"annotations": {"istio.io/dry-run": "true"}}],
        req(),
        Verdict.ALLOW,
    ),
    Case(
        "dry-run with a non-boolean value is enforced",
        "5.3",
        [deny({}, name="d") | {"annotations": {"istio.io/dry-run": "yes"}}],
        req(),
        Verdict.DENY,
    ),
    # --- rule structure (5.3)
    Case(
        "fields ANDed",
        "5.3",
        [allow(rule(principals=[OTEL], methods=["POST"]))],
        req(method="GET"),
        Verdict.DENY,
    ),
    Case("values ORed", "5.3", [allow(rule(methods=["GET", "POST"]))], req(method="POST"), Verdict.ALLOW),
    Case(
        "from entries ORed",
        "5.3",
        [allow({"from": [{"source": {"principals": [UI]}}, {"source": {"principals": [OTEL]}}]})],
        req(),
        Verdict.ALLOW,
    ),
    Case(
        "all when conditions must hold",
        "5.3",
        [
            allow(
                {
                    "when": [
                        {"key": "source.namespace", "values": [NS]},
                        {"key": "destination.port", "values": ["1"]},
                    ]
                }
            )
        ],
        req(port=5000),
        Verdict.DENY,
    ),
    Case("notPaths excludes", "5.3", [allow(rule(notPaths=["/admin*"]))], req(path="/admin/x"), Verdict.DENY),
    Case(
        "notPaths lets others through",
        "5.3",
        [allow(rule(notPaths=["/admin*"]))],
        req(path="/api"),
        Verdict.ALLOW,
    ),
    Case(
        "notPrincipals presence admits plaintext only",
        "5.5",
        [deny({"from": [{"source": {"notPrincipals": ["*"]}}]}, name="strict")],
        req(principal=None),
        Verdict.DENY,
    ),
    # --- strings (5.3)
    Case("prefix match", "5.3", [allow(rule(paths=["/api/*"]))], req(path="/api/v1"), Verdict.ALLOW),
    Case("suffix match", "5.3", [allow(rule(paths=["*.json"]))], req(path="/x/data.json"), Verdict.ALLOW),
    Case("presence needs a value", "5.3", [allow(rule(principals=["*"]))], req(principal=None), Verdict.DENY),
    Case("presence matches any identity", "5.3", [allow(rule(principals=["*"]))], req(), Verdict.ALLOW),
    # --- paths (5.3, 5.6)
    Case(
        "exact path is exact",
        "5.6",
        [allow(rule(paths=["/v1/traces"]))],
        req(path="/v1/traces/"),
        Verdict.DENY,
    ),
    Case(
        "query string stripped",
        "5.6",
        [allow(rule(paths=["/v1/traces"]))],
        req(path="/v1/traces?x=1"),
        Verdict.ALLOW,
    ),
    Case("paths case-sensitive", "5.6", [allow(rule(paths=["/API"]))], req(path="/api"), Verdict.DENY),
    Case("{*} one segment", "5.3", [allow(rule(paths=["/foo/{*}"]))], req(path="/foo/bar"), Verdict.ALLOW),
    Case(
        "{*} not two segments",
        "5.3",
        [allow(rule(paths=["/foo/{*}"]))],
        req(path="/foo/bar/baz"),
        Verdict.DENY,
    ),
    Case("{*} not empty", "5.6", [allow(rule(paths=["/a/{*}"]))], req(path="/a/"), Verdict.DENY),
    Case(
        "{**} many segments", "5.3", [allow(rule(paths=["/v1/{**}"]))], req(path="/v1/a/b/c"), Verdict.ALLOW
    ),
    Case(
        "{**} zero segments after slash",
        "5.6",
        [allow(rule(paths=["/v1/{**}"]))],
        req(path="/v1/"),
        Verdict.ALLOW,
    ),
    Case(
        "/v1/{**} does not match /v1", "5.6", [allow(rule(paths=["/v1/{**}"]))], req(path="/v1"), Verdict.DENY
    ),
    Case(
        "{*} then {**}",
        "5.3",
        [allow(rule(paths=["/foo/{*}/bar/{**}"]))],
        req(path="/foo/buzz/bar/baz"),
        Verdict.ALLOW,
    ),
    Case(
        "{**} may be followed by literals",
        "5.3",
        [allow(rule(paths=["/{**}/path/template"]))],
        req(path="/a/b/path/template"),
        Verdict.ALLOW,
    ),
    # Envoy's regex for /foo/{**}/ ends in '/': the proto's example "/foo/bar/baz.txt" does not match.
    Case(
        "/foo/{**}/ needs the trailing slash",
        "5.3",
        [allow(rule(paths=["/foo/{**}/"]))],
        req(path="/foo/bar/baz.txt"),
        Verdict.DENY,
    ),
    Case(
        "/foo/{**}/ matches /foo//",
        "5.3",
        [allow(rule(paths=["/foo/{**}/"]))],
        req(path="/foo//"),
        Verdict.ALLOW,
    ),
    # --- methods and hosts (5.3, 5.6)
    Case("methods case-sensitive", "5.6", [allow(rule(methods=["get"]))], req(method="GET"), Verdict.DENY),
    Case(
        "hosts case-insensitive",
        "5.3",
        [allow(rule(hosts=["MLflow.Example.com"]))],
        req(host="mlflow.example.com"),
        Verdict.ALLOW,
    ),
    Case("unknown host is UNKNOWN", "5.3", [allow(rule(hosts=["mlflow"]))], req(), Verdict.UNKNOWN),
    # --- principals and trust domains (5.3, 5.6)
    Case(
        "spiffe:// principal never matches at waypoint",
        "5.3",
        [allow(rule(principals=["spiffe://" + OTEL]))],
        req(),
        Verdict.DENY,
    ),
    Case(
        "spiffe:// principal never matches at ztunnel",
        "5.3",
        [l4("ALLOW", rule(principals=["spiffe://" + OTEL]))],
        req(),
        Verdict.DENY,
        enforcer="ztunnel",
    ),
    Case(
        "suffix principal still matches",
        "5.6",
        [allow(rule(principals=["*/ns/kagenti-system/sa/otel-collector"]))],
        req(),
        Verdict.ALLOW,
    ),
    Case(
        "cluster.local rewritten at waypoint",
        "5.6",
        [allow(rule(principals=[OTEL]))],
        req(principal="example.org/ns/kagenti-system/sa/otel-collector"),
        Verdict.ALLOW,
        trust_domain="example.org",
    ),
    Case(
        "cluster.local compared literally at ztunnel",
        "5.3",
        [l4("ALLOW", rule(principals=[OTEL]))],
        req(principal="example.org/ns/kagenti-system/sa/otel-collector"),
        Verdict.DENY,
        enforcer="ztunnel",
        trust_domain="example.org",
    ),
    Case(
        "alias rewritten at waypoint",
        "5.3",
        [allow(rule(principals=["old.td/ns/kagenti-system/sa/otel-collector"]))],
        req(principal="new.td/ns/kagenti-system/sa/otel-collector"),
        Verdict.ALLOW,
        trust_domain="new.td",
        aliases=("old.td",),
    ),
    Case(
        "foreign trust domain kept",
        "5.6",
        [allow(rule(principals=["other.td/ns/kagenti-system/sa/otel-collector"]))],
        req(principal="example.org/ns/kagenti-system/sa/otel-collector"),
        Verdict.DENY,
        trust_domain="example.org",
    ),
    Case("namespaces from the identity", "5.3", [allow(rule(namespaces=[NS]))], req(), Verdict.ALLOW),
    Case("namespaces need mTLS", "5.3", [allow(rule(namespaces=[NS]))], req(principal=None), Verdict.DENY),
    Case(
        "serviceAccounts short form uses the policy namespace",
        "5.3",
        [allow({"from": [{"source": {"serviceAccounts": ["otel-collector"]}}]})],
        req(),
        Verdict.ALLOW,
    ),
    Case(
        "serviceAccounts any trust domain",
        "5.3",
        [allow({"from": [{"source": {"serviceAccounts": [f"{NS}/otel-collector"]}}]})],
        req(principal="elsewhere/ns/kagenti-system/sa/otel-collector"),
        Verdict.ALLOW,
    ),
    Case(
        "serviceAccounts at ztunnel",
        "5.3",
        [l4("ALLOW", {"from": [{"source": {"serviceAccounts": ["otel-collector"]}}]})],
        req(),
        Verdict.ALLOW,
        enforcer="ztunnel",
    ),
    Case(
        "trustDomains at waypoint",
        "5.3",
        [allow({"from": [{"source": {"trustDomains": ["cluster.local"]}}]})],
        req(),
        Verdict.ALLOW,
    ),
    # --- ztunnel conversion (5.2, 5.6)
    Case(
        "ztunnel drops ALLOW rule with HTTP field",
        "5.2",
        [l4("ALLOW", rule(principals=[OTEL], methods=["GET"]))],
        req(),
        Verdict.DENY,
        enforcer="ztunnel",
    ),
    Case(
        "ztunnel keeps L4 ALLOW rule",
        "5.2",
        [l4("ALLOW", rule(principals=[OTEL]))],
        req(),
        Verdict.ALLOW,
        enforcer="ztunnel",
    ),
    Case(
        "ztunnel strips DENY to its L4 part (broader)",
        "5.2",
        [l4("DENY", rule(methods=["POST"], ports=["5000"]))],
        req(method="GET", port=5000),
        Verdict.DENY,
        enforcer="ztunnel",
        decided_by=("l4", 0),
    ),
    Case(
        "ztunnel DENY with only HTTP fields has no effect",
        "5.6",
        [l4("DENY", rule(paths=["/admin"]))],
        req(path="/admin"),
        Verdict.ALLOW,
        enforcer="ztunnel",
    ),
    Case(
        "ztunnel DENY from + HTTP-only to has no effect",
        "5.6",
        [l4("DENY", rule(principals=[OTEL], paths=["/admin"]))],
        req(path="/admin"),
        Verdict.ALLOW,
        enforcer="ztunnel",
    ),
    Case("ztunnel DENY {} denies all", "5.6", [l4("DENY", {})], req(), Verdict.DENY, enforcer="ztunnel"),
    Case(
        "ztunnel ignores CUSTOM",
        "5.2",
        [l4("CUSTOM", {}) | {"provider": "authz"}],
        req(),
        Verdict.ALLOW,
        enforcer="ztunnel",
    ),
    Case(
        "ztunnel: source with only trustDomains never matches",
        "5.2",
        [l4("ALLOW", {"from": [{"source": {"trustDomains": ["cluster.local"]}}]})],
        req(),
        Verdict.DENY,
        enforcer="ztunnel",
    ),
    Case(
        "ztunnel: non-L4 when key drops the ALLOW rule",
        "5.2",
        [l4("ALLOW", {"when": [{"key": "request.headers[x-a]", "values": ["1"]}]})],
        req(),
        Verdict.DENY,
        enforcer="ztunnel",
    ),
    Case(
        "ztunnel: L4 when key works",
        "5.2",
        [l4("ALLOW", {"when": [{"key": "source.principal", "values": [OTEL]}]})],
        req(),
        Verdict.ALLOW,
        enforcer="ztunnel",
    ),
    # --- TCP at a waypoint (5.3)
    Case(
        "TCP: HTTP ALLOW rule does not match",
        "5.3",
        [allow(rule(methods=["GET"]))],
        req(protocol="tcp"),
        Verdict.DENY,
    ),
    Case(
        "TCP: DENY treats missing HTTP attributes as matching",
        "5.3",
        [deny(rule(methods=["POST"], ports=["5000"]))],
        req(protocol="tcp", port=5000),
        Verdict.DENY,
    ),
    Case(
        "TCP: L4 ALLOW rule still matches",
        "5.3",
        [allow(rule(principals=[OTEL]))],
        req(protocol="tcp"),
        Verdict.ALLOW,
    ),
    # --- unknowns and CUSTOM (5.3, interface what-if exit 4)
    Case(
        "when on a header not given is UNKNOWN",
        "5.3",
        [allow({"when": [{"key": "request.headers[x-user]", "values": ["a"]}]})],
        req(),
        Verdict.UNKNOWN,
    ),
    Case(
        "when on a header given",
        "5.3",
        [allow({"when": [{"key": "request.headers[X-User]", "values": ["a"]}]})],
        req(headers=(("x-user", "a"),)),
        Verdict.ALLOW,
    ),
    Case(
        "UNKNOWN ALLOW but another ALLOW matches",
        "5.3",
        [allow({"when": [{"key": "request.headers[x]", "values": ["a"]}]}, rule(principals=[OTEL]))],
        req(),
        Verdict.ALLOW,
    ),
    Case(
        "UNKNOWN DENY with a denying ALLOW stage is DENY",
        "5.3",
        [
            deny({"when": [{"key": "request.auth.claims[iss]", "values": ["x"]}]}),
            allow(rule(principals=[UI])),
        ],
        req(),
        Verdict.DENY,
    ),
    Case(
        "UNKNOWN DENY otherwise UNKNOWN",
        "5.3",
        [deny({"when": [{"key": "request.auth.claims[iss]", "values": ["x"]}]})],
        req(),
        Verdict.UNKNOWN,
    ),
    Case(
        "CUSTOM is UNKNOWN",
        "5.3",
        [
            {
                "name": "ext",
                "spec": {
                    "targetRefs": service_target_ref(),
                    "action": "CUSTOM",
                    "provider": {"name": "opa"},
                    "rules": [{}],
                },
            }
        ],
        req(),
        Verdict.UNKNOWN,
        decided_by=("ext", 0),
    ),
    Case(
        "DENY decides before CUSTOM",
        "5.3",
        [
            {
                "name": "ext",
                "spec": {
                    "targetRefs": service_target_ref(),
                    "action": "CUSTOM",
                    "provider": {"name": "opa"},
                    "rules": [{}],
                },
            },
            deny({}, name="d"),
        ],
        req(),
        Verdict.DENY,
        decided_by=("d", 0),
    ),
    Case(
        "CUSTOM not matching is skipped",
        "5.3",
        [
            {
                "name": "ext",
                "spec": {
                    "targetRefs": service_target_ref(),
                    "action": "CUSTOM",
                    "provider": {"name": "opa"},
                    "rules": [rule(paths=["/admin"])],
                },
            }
        ],
        req(path="/"),
        Verdict.ALLOW,
    ),
    Case(
        "CUSTOM with an undefined provider is a DENY",
        "5.6",
        [
            {
                "name": "ext",
                "spec": {
                    "targetRefs": service_target_ref(),
                    "action": "CUSTOM",
                    "provider": {"name": "opa"},
                    "rules": [{}],
                },
            }
        ],
        req(),
        Verdict.DENY,
        decided_by=("ext", 0),
        kwargs={"extension_providers": ["other"]},
    ),
    # --- skipped rules (5.3)
    Case(
        "unknown when key: rule skipped even for DENY",
        "5.3",
        [deny({"when": [{"key": "destination.name", "values": ["x"]}]}, name="d")],
        req(),
        Verdict.ALLOW,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_semantics(case: Case) -> None:
    policies = []
    for spec in case.specs:
        spec = dict(spec)
        annotations = spec.pop("annotations", None)
        body = spec["spec"]
        if "provider" in spec:
            body = body | {"provider": {"name": spec["provider"]}}
        policies.append(parse_policy(policy(spec["name"], body, annotations=annotations)))
    decision = evaluate(
        policies,
        case.request,
        enforcer=case.enforcer,
        trust_domain=case.trust_domain,
        aliases=case.aliases,
        **case.kwargs,
    )
    assert decision.verdict is case.expected, decision.reason
    if case.decided_by is not None:
        assert decision.decided_by is not None, decision.reason
        assert (decision.decided_by.policy, decision.decided_by.rule) == (
            f"{NS}/{case.decided_by[0]}",
            case.decided_by[1],
        )
    if case.expected is Verdict.DENY and case.decided_by is None and decision.decided_by is None:
        assert "none matched" in decision.reason or "allow-nothing" in decision.reason


def test_every_case_cites_the_reference() -> None:
    import re
    from pathlib import Path

    text = Path(__file__).read_text()
    assert all(re.fullmatch(r"\d\.\d", c.ref) for c in CASES)
    assert "# ref 5.3" in text


def test_unknown_lists_what_is_missing() -> None:
    p = parse_policy(
        policy(
            "a",
            {
                "targetRefs": service_target_ref(),
                "rules": [{"when": [{"key": "request.headers[x-user]", "values": ["a"]}]}],
            },
        )
    )
    decision = evaluate([p], req(), enforcer="waypoint")
    assert decision.verdict is Verdict.UNKNOWN
    assert any("x-user" in u for u in decision.unknowns)


def test_rule_id_is_envoy_format() -> None:
    p = parse_policy(policy("a", {"targetRefs": service_target_ref(), "rules": [rule(methods=["PUT"]), {}]}))
    decision = evaluate([p], req(), enforcer="waypoint")
    assert decision.rule_id == "ns[kagenti-system]-policy[a]-rule[1]"


def test_trace_names_the_failing_attribute() -> None:
    p = parse_policy(
        policy("a", {"targetRefs": service_target_ref(), "rules": [rule(principals=[UI], methods=["GET"])]})
    )
    decision = evaluate([p], req(), enforcer="waypoint")
    (trace,) = decision.trace
    (rule_trace,) = trace.rules
    assert rule_trace.sources is not None and rule_trace.sources[0].checks[0].attribute == "principals"
    assert rule_trace.sources[0].checks[0].result.value == "false"
    assert rule_trace.operations is not None and rule_trace.operations[0].result.value == "true"
