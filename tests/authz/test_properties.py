"""Properties of the engine that must hold for any input (hypothesis)."""

from __future__ import annotations

import itertools
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.authz.policies import NS, OTEL, policy, service_target_ref

from waypoint_doctor.authz import Request, Verdict, evaluate, match, parse_policy

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
PATHISH = st.text(alphabet="/abc{}*?=.-_%", max_size=20)


@given(TEXT, TEXT)
def test_string_matchers_never_crash(pattern, value):
    for fn in (
        match.match_string,
        match.match_method,
        match.match_host,
        match.match_path,
        match.match_port,
        match.match_ip_block,
        match.match_principal_waypoint,
        match.match_principal_ztunnel,
        match.match_namespace_waypoint,
        match.match_namespace_ztunnel,
        match.match_trust_domain_waypoint,
    ):
        assert isinstance(fn(pattern, value), bool)
    assert isinstance(match.match_service_account_waypoint(pattern, "ns", value), bool)
    assert isinstance(match.match_service_account_ztunnel(pattern, "ns", value), bool)
    assert isinstance(match.path_template_problems(pattern), list)
    match.waypoint_principal_values(pattern, "cluster.local", (value,))
    match.parse_identity(value)


@given(PATHISH, PATHISH)
def test_path_templates_never_crash(pattern, path):
    assert isinstance(match.match_path(pattern, path), bool)


@given(TEXT.filter(lambda s: "*" not in s and s != ""), TEXT)
def test_exact_match_implies_prefix_match(literal, value):
    # An exact pattern matches only the value itself; `literal*` matches it and all its extensions.
    # (The empty literal is excluded: "" + "*" is the presence pattern, which never matches "".)
    if match.match_string(literal, value):
        assert value == literal
        assert match.match_string(literal + "*", value)
    assert match.match_string(literal + "*", literal + value)


@given(TEXT.filter(lambda s: "*" not in s and s != ""), TEXT)
def test_suffix_match_is_endswith(literal, value):
    assert match.match_string("*" + literal, value) == value.endswith(literal)


RULE_PARTS = st.fixed_dictionaries(
    {},
    optional={
        "from": st.just([{"source": {"principals": [OTEL]}}]),
        "to": st.sampled_from(
            [
                [{"operation": {"methods": ["GET"]}}],
                [{"operation": {"paths": ["/a*"]}}],
                [{"operation": {"ports": ["80"]}}],
            ]
        ),
    },
)
POLICY_SPEC = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["ALLOW", "DENY", "AUDIT"]),
        "rules": st.lists(RULE_PARTS, min_size=1, max_size=3),
    }
)
REQUESTS = st.builds(
    Request,
    principal=st.sampled_from([OTEL, None, "cluster.local/ns/x/sa/y"]),
    method=st.sampled_from(["GET", "POST"]),
    path=st.sampled_from(["/", "/a", "/ab/c"]),
    port=st.sampled_from([80, 8080]),
)


def _policies(specs):
    return [
        parse_policy(policy(f"p{i}", {"targetRefs": service_target_ref(), **spec}))
        for i, spec in enumerate(specs)
    ]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(POLICY_SPEC, max_size=4), REQUESTS, st.randoms(use_true_random=False))
def test_evaluation_is_independent_of_policy_order(specs, request, rnd: random.Random):
    policies = _policies(specs)
    baseline = evaluate(policies, request, enforcer="waypoint")
    shuffled = list(policies)
    rnd.shuffle(shuffled)
    again = evaluate(shuffled, request, enforcer="waypoint")
    assert again.verdict is baseline.verdict
    assert again.decided_by == baseline.decided_by


@settings(max_examples=150)
@given(st.lists(POLICY_SPEC, max_size=4), REQUESTS)
def test_a_matching_deny_beats_any_allow_in_any_order(specs, request):
    policies = _policies(specs) + _policies([{"action": "ALLOW", "rules": [{}]}])
    deny_all = parse_policy(
        policy("zz-deny", {"targetRefs": service_target_ref(), "action": "DENY", "rules": [{}]})
    )
    for order in itertools.permutations([*policies[-2:], deny_all]):
        decision = evaluate([*policies[:-2], *order], request, enforcer="waypoint")
        assert decision.verdict is Verdict.DENY
        assert decision.decided_by is not None and decision.decided_by.action.value == "DENY"


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
KEYS = st.sampled_from(
    [
        "apiVersion",
        "kind",
        "metadata",
        "spec",
        "status",
        "rules",
        "from",
        "to",
        "when",
        "source",
        "operation",
        "principals",
        "paths",
        "targetRefs",
        "selector",
        "action",
        "x",
    ]
)
SPECISH = st.recursive(
    JSONISH,
    lambda children: st.dictionaries(KEYS, children, max_size=5) | st.lists(children, max_size=3),
    max_leaves=30,
)


@settings(max_examples=300)
@given(SPECISH)
def test_parse_never_raises(obj):
    p = parse_policy(obj)
    assert p is not None
    assert all(x.code != "parse-failure" for x in p.problems), p.problems


@settings(max_examples=200)
@given(st.dictionaries(KEYS, SPECISH, max_size=6), REQUESTS)
def test_evaluate_never_raises_on_parsed_garbage(spec, request):
    p = parse_policy(policy("g", spec if isinstance(spec, dict) else {}, namespace=NS))
    for enforcer in ("waypoint", "ztunnel"):
        decision = evaluate([p], request, enforcer=enforcer)
        assert decision.verdict in (Verdict.ALLOW, Verdict.DENY, Verdict.UNKNOWN)
