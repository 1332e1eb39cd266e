"""Envoy (waypoint) access-log parser over the reference samples."""

from __future__ import annotations

from datetime import datetime

import pytest
from tests.logs import samples

from waypoint_doctor.logs.envoy import EnvoyAccess, decode_rbac, iter_access, parse_cluster, parse_line


def test_text_none_line() -> None:
    rec = parse_line(samples.ENVOY_TEXT_NONE)
    assert rec == EnvoyAccess(
        time=datetime.fromisoformat("2025-07-22T17:55:49.074+00:00"),
        method="GET",
        path="/",
        protocol="HTTP/1.1",
        response_code=403,
        response_flags=None,
        response_code_details="rbac_access_denied_matched_policy[none]",
        connection_termination_details=None,
        upstream_transport_failure_reason=None,
        bytes_received=0,
        bytes_sent=19,
        duration_ms=0,
        upstream_service_time_ms=None,
        x_forwarded_for="10.244.1.1",
        user_agent="curl/8.14.1",
        request_id="ff387ab3-186d-4e3f-9695-0f884acb4e20",
        authority="172.18.10.10",
        upstream_host=None,
        upstream_cluster="inbound|80||",
        upstream_local_address=None,
        downstream_local_address="10.244.1.9:80",
        downstream_remote_address="10.244.1.1:0",
        requested_server_name="outbound_.80_._.nginx-svc.default.svc.cluster.local",
        route_name="default",
    )
    assert rec.rbac is not None and rec.rbac.no_policy_matched and rec.rbac.policy is None
    assert rec.service_fqdn == "nginx-svc.default.svc.cluster.local"  # from the SNI


def test_text_policy_line() -> None:
    rec = parse_line(samples.ENVOY_TEXT_POLICY)
    assert (rec.method, rec.path, rec.response_code, rec.user_agent, rec.authority) == (
        "POST",
        "/post",
        403,
        "fortio.org/fortio-1.69.5",
        "probe:8000",
    )
    assert rec.request_id == "8fed64e3-..."
    rbac = rec.rbac
    assert (rbac.namespace, rbac.name, rbac.rule, rbac.policy) == (
        "starfleet",
        "probe-read-only",
        0,
        "starfleet/probe-read-only",
    )
    assert rbac.describe() == "policy starfleet/probe-read-only, rule 0"
    assert rec.service_fqdn == "probe.starfleet.svc.cluster.local"
    assert rec.service_port == 8080


def test_json_waypoint_excerpt() -> None:
    rec = parse_line(samples.envoy_json(samples.ENVOY_JSON_EXCERPT))
    assert (rec.method, rec.authority, rec.response_code, rec.response_flags) == (
        "POST",
        "handson:8080",
        403,
        None,
    )
    assert rec.rbac.policy == "default/layer7-authz" and rec.rbac.rule == 0
    cluster = rec.cluster
    assert (cluster.kind, cluster.port, cluster.subset, cluster.host) == (
        "inbound-vip",
        8080,
        "http",
        "handson.default.svc.cluster.local",
    )
    assert rec.service_fqdn == "handson.default.svc.cluster.local"


def test_200_through_waypoint() -> None:
    rec = parse_line(samples.envoy_200_line())
    assert rec.response_code == 200 and rec.response_code_details == "via_upstream" and rec.rbac is None
    assert rec.service_fqdn == "productpage.default.svc.cluster.local" and rec.service_port == 9080


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ("rbac_access_denied_matched_policy[none]", ("none", None, None, None, "")),
        (
            "rbac_access_denied_matched_policy[ns[a]-policy[b-c]-rule[12]]",
            ("ns[a]-policy[b-c]-rule[12]", "a", "b-c", 12, ""),
        ),
        (
            "rbac_access_denied_matched_policy[istio-ext-authz-ns[a]-policy[ext]-rule[0]]",
            ("istio-ext-authz-ns[a]-policy[ext]-rule[0]", "a", "ext", 0, "istio-ext-authz-"),
        ),
        ("rbac_access_denied_matched_policy[weird]", ("weird", None, None, None, "")),
        ("via_upstream", None),
        ("", None),
        (None, None),
        ("rbac_access_denied_matched_policy[unterminated", None),
    ],
)
def test_decode_rbac(details, expected) -> None:
    got = decode_rbac(details)
    if expected is None:
        assert got is None
    else:
        assert (got.matched, got.namespace, got.name, got.rule, got.prefix) == expected


def test_tcp_rbac_in_termination_details() -> None:
    line = (
        '[2026-01-01T00:00:00.000Z] "- - -" 0 - - rbac_access_denied_matched_policy[ns[db]-policy[deny-tcp]-rule[1]] '
        '"-" 0 0 1 - "-" "-" "-" "-" "-" inbound-vip|5432|tcp|db.db.svc.cluster.local - 10.0.0.5:15008 10.0.0.9:4000 - -'
    )
    rec = parse_line(line)
    assert rec.method is None and rec.response_code == 0
    assert rec.rbac.policy == "db/deny-tcp" and rec.rbac.rule == 1
    assert rec.service_fqdn == "db.db.svc.cluster.local"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "outbound|9080|v1|reviews.default.svc.cluster.local",
            ("outbound", 9080, "v1", "reviews.default.svc.cluster.local"),
        ),
        ("inbound|80||", ("inbound", 80, None, None)),
        ("main_internal", ("main_internal", None, None, None)),
    ],
)
def test_parse_cluster(name, expected) -> None:
    c = parse_cluster(name)
    assert (c.kind, c.port, c.subset, c.host) == expected
    assert parse_cluster("-") is None and parse_cluster(None) is None


@pytest.mark.parametrize(
    "line",
    [
        "",
        "2026-01-01T00:00:00.000000Z\tinfo\tenvoy upstream\tcds: added/updated 3 cluster(s)",
        "[2026-01-01] garbage",
        '{"level": "info", "msg": "not an access log"}',
        "[",
        "{",
    ],
)
def test_non_access_lines(line: str) -> None:
    assert parse_line(line) is None


def test_kubectl_timestamps_prefix_and_stream() -> None:
    text = "\n".join(
        [
            "2026-01-01T00:00:00.000000Z\tinfo\tenvoy main\tstarting",
            "2026-10-09T08:33:05.000000001Z " + samples.ENVOY_TEXT_POLICY,
            samples.ENVOY_TEXT_NONE,
        ]
    )
    recs = list(iter_access(text))
    assert [r.rbac.matched for r in recs] == ["ns[starfleet]-policy[probe-read-only]-rule[0]", "none"]
