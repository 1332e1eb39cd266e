"""Check patterns and suppression rules: parsing, matching, and what a finding names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waypoint_doctor.checks.spec import Status, Target
from waypoint_doctor.gate.apply import apply_suppressions, objects_of
from waypoint_doctor.gate.rules import (
    ObjectRef,
    Selection,
    Suppression,
    parse_check_pattern,
    parse_check_patterns,
    parse_suppression,
)
from waypoint_doctor.options import UsageError
from waypoint_doctor.report.model import CheckResult, Suppressed


def test_check_patterns_are_ids_or_prefixes_in_any_case() -> None:
    assert parse_check_pattern(" wd4 ") == "WD4"
    assert parse_check_patterns(["WD3,WD40", "wd409 WD3"], "--select") == ("WD3", "WD40", "WD409")
    for bad in ("WD", "WD4000", "X409", "409", "WD4*", ""):
        with pytest.raises(UsageError, match="invalid check"):
            parse_check_pattern(bad, "--select")


def test_selection_ignore_wins_over_select() -> None:
    sel = Selection(select=("WD4",), ignore=("WD41",))
    assert sel.wants("WD409") and not sel.wants("WD410") and not sel.wants("WD302")
    assert Selection().wants("WD101") and not Selection().active


@pytest.mark.parametrize(
    ("rule", "kind", "namespace", "name"),
    [
        ("WD409", None, None, "*"),
        ("WD409=*", None, None, "*"),
        ("WD409=AuthorizationPolicy kagenti-system/*", "AuthorizationPolicy", "kagenti-system", "*"),
        ("wd4=Service shop/cart", "Service", "shop", "cart"),
        ("WD302=mlflow", None, None, "mlflow"),
        ("WD201=Namespace kagenti-*", "Namespace", None, "kagenti-*"),
        ("WD409 = */allow-?", None, "*", "allow-?"),
    ],
)
def test_parse_suppression(rule: str, kind: str | None, namespace: str | None, name: str) -> None:
    s = parse_suppression(rule)
    assert (s.kind, s.namespace, s.name) == (kind, namespace, name)
    assert s.rule == rule.strip() and s.by == "flag" and s.reason is None


@pytest.mark.parametrize(
    "rule",
    [
        "",
        "=x",
        "WD409=",
        "WD409=a b c",
        "WD409=/name",
        "WD409=ns/",
        "WD409=a/b/c",
        "WD409=9Kind ns/x",
        "foo=x",
    ],
)
def test_malformed_suppressions_are_usage_errors(rule: str) -> None:
    with pytest.raises(UsageError, match="--suppress"):
        parse_suppression(rule)


@given(st.text(max_size=60))
def test_suppression_parser_only_ever_raises_usage_errors(text: str) -> None:
    try:
        s = parse_suppression(text)
    except UsageError:
        return
    assert s.check.startswith("WD")


_name = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)


@given(
    st.sampled_from(["WD4", "WD409", "WD5"]),
    st.sampled_from([None, "AuthorizationPolicy", "Service"]),
    _name,
    _name,
)
def test_a_well_formed_rule_matches_exactly_its_object(
    check: str, kind: str | None, ns: str, name: str
) -> None:
    rule = f"{check}={kind + ' ' if kind else ''}{ns}/{name}"
    s = parse_suppression(rule)
    obj = ObjectRef(kind or "Gateway", ns, name)
    assert s.matches(check + "0" * (5 - len(check)), [obj])
    assert not s.matches(check + "0" * (5 - len(check)), [ObjectRef(obj.kind, ns + "x", name)])
    assert not s.matches("WD101", [obj])


def test_kind_is_case_insensitive_and_globs_are_case_sensitive() -> None:
    s = parse_suppression("WD409=authorizationpolicy Kagenti-*/*")
    assert not s.matches("WD409", [ObjectRef("AuthorizationPolicy", "kagenti-system", "p")])
    s = parse_suppression("WD409=authorizationpolicy kagenti-*/*")
    assert s.matches("WD409", [ObjectRef("AuthorizationPolicy", "kagenti-system", "p")])


def _result(check_id: str, status: Status, *evidence: dict) -> CheckResult:
    return CheckResult(check_id, "t", "policy", status, "m", evidence=tuple(evidence))


def test_objects_of_a_finding_include_the_target_and_policies_named_in_evidence() -> None:
    r = _result(
        "WD409",
        Status.FAIL,
        {"kind": "Hop", "policies": ["ns1/deny-all", "ns1/allow-x"]},
        {"kind": "AuthorizationPolicy", "namespace": "ns1", "name": "allow-x"},
        {"kind": "WaypointDenial", "nearest_miss": {"policy": "ns1/api", "rule": 1}},
        {"kind": "Decision", "decided_by": None},
    )
    assert objects_of(r, Target("ns1", "svc")) == [
        ObjectRef("Service", "ns1", "svc"),
        ObjectRef("AuthorizationPolicy", "ns1", "deny-all"),
        ObjectRef("AuthorizationPolicy", "ns1", "allow-x"),
        ObjectRef("AuthorizationPolicy", "ns1", "api"),
    ]


def test_only_findings_are_suppressed_and_flags_come_before_annotations() -> None:
    results = [
        _result("WD409", Status.FAIL, {"kind": "AuthorizationPolicy", "namespace": "ns", "name": "p"}),
        _result("WD410", Status.PASS, {"kind": "AuthorizationPolicy", "namespace": "ns", "name": "p"}),
        _result("WD504", Status.WARN, {"kind": "AuthorizationPolicy", "namespace": "ns", "name": "p"}),
        _result("WD105", Status.ERROR),
    ]
    annotations = {
        ("AuthorizationPolicy", "ns", "p"): {
            "waypoint-doctor.io/ignore": "WD409, wd50",
            "waypoint-doctor.io/ignore-reason": " migrating ",
        }
    }
    out = apply_suppressions(
        results,
        target=Target("ns", "svc"),
        suppressions=[Suppression("WD409", reason="flag first", by="config", rule="WD409")],
        annotations_of=lambda k, n, name: annotations.get((k, n, name)),
    )
    assert out[0].suppressed == Suppressed("config", "WD409", "flag first")
    assert out[1].suppressed is None  # a pass has nothing to silence
    assert out[2].suppressed == Suppressed(
        "annotation", "waypoint-doctor.io/ignore: WD409, wd50 on AuthorizationPolicy ns/p", "migrating"
    )
    assert out[3].suppressed is None


def test_cluster_scoped_checks_do_not_name_the_service_under_check() -> None:
    rule = parse_suppression("WD1=Service ns/svc")
    out = apply_suppressions(
        [_result("WD105", Status.FAIL), _result("WD302", Status.FAIL)],
        target=Target("ns", "svc"),
        suppressions=[rule],
        annotations_of=None,
        cluster_scoped=lambda check_id: check_id.startswith("WD1"),
    )
    assert out[0].suppressed is None
    assert out[1].suppressed is None  # WD302 is not WD1xx
    out = apply_suppressions(
        [_result("WD302", Status.FAIL)],
        target=Target("ns", "svc"),
        suppressions=[parse_suppression("WD3=Service ns/svc")],
        annotations_of=None,
    )
    assert out[0].suppressed is not None
