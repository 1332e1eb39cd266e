"""Grouping parsed records into evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.logs import samples
from tests.logs.ztunnel_render import render_text

from waypoint_doctor.logs.aggregate import (
    TrafficTarget,
    WaypointMarkers,
    address_host,
    detect_bypass,
    digest_ztunnel,
    group_connection_errors,
    group_rejections,
    group_waypoint_denials,
)
from waypoint_doctor.logs.envoy import parse_line as parse_envoy
from waypoint_doctor.logs.ztunnel import FailureKind, RejectionReason, iter_access

SVC = "orders.shop.svc.cluster.local"
WP_ID = "spiffe://cluster.local/ns/shop/sa/waypoint"
BASE = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
TARGET = TrafficTarget(SVC, frozenset({"orders-7d9f-abcde"}), frozenset({"10.0.1.5", "10.96.0.20"}))
WAYPOINT = WaypointMarkers(frozenset({"waypoint-5c6d-xyz12"}), frozenset({WP_ID}))


def ts(seconds: float) -> str:
    return (BASE + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def inbound(
    at: float, src_identity: str | None, error: str | None = None, src_workload: str = "client-1"
) -> str:
    fields = {
        "src.addr": "10.0.2.9:40000",
        "src.workload": src_workload,
        "src.namespace": "shop",
        "src.identity": src_identity,
        "dst.addr": "10.0.1.5:8080",
        "dst.hbone_addr": "10.0.1.5:8080",
        "dst.service": SVC,
        "dst.workload": "orders-7d9f-abcde",
        "dst.namespace": "shop",
        "dst.identity": "spiffe://cluster.local/ns/shop/sa/orders",
        "direction": "inbound",
        "bytes_sent": 0,
        "bytes_recv": 0,
        "duration": 0,
        "error": error,
    }
    return render_text(fields, time=ts(at), level="error" if error else "info")


def outbound(
    at: float, dst_workload: str, dst_identity: str, error: str | None = None, src: str = "frontend-1"
) -> str:
    fields = {
        "src.addr": "10.0.3.3:50000",
        "src.workload": src,
        "src.namespace": "web",
        "src.identity": "spiffe://cluster.local/ns/web/sa/frontend",
        "dst.addr": "10.0.9.9:15008",
        "dst.hbone_addr": "10.96.0.20:8080",
        "dst.service": SVC,
        "dst.workload": dst_workload,
        "dst.namespace": "shop",
        "dst.identity": dst_identity,
        "direction": "outbound",
        "bytes_sent": 10,
        "bytes_recv": 20,
        "duration": 5,
        "error": error,
    }
    return render_text(fields, time=ts(at), level="error" if error else "info")


ALLOW_NONE = "connection closed due to policy rejection: allow policies exist, but none allowed"
DENIED = "connection closed due to policy rejection: explicitly denied by: shop/deny-legacy"


def records(lines):
    return list(iter_access(lines))


def test_rejections_grouped_by_identity_reason_policy() -> None:
    lines = [
        inbound(0, WP_ID, ALLOW_NONE, src_workload="waypoint-5c6d-xyz12"),
        inbound(10, WP_ID, ALLOW_NONE, src_workload="waypoint-5c6d-xyz12"),
        inbound(20, WP_ID, ALLOW_NONE, src_workload="waypoint-5c6d-xyz12"),
        inbound(5, "spiffe://cluster.local/ns/legacy/sa/batch", DENIED, src_workload="batch-1"),
        inbound(6, None, ALLOW_NONE),  # plaintext
        inbound(7, WP_ID),  # success: not a rejection
        samples.ZT_PLAINTEXT_STRICT,  # toward another workload: not the target
    ]
    groups = group_rejections(records(lines), TARGET)
    assert [(g.source_identity, g.reason, g.policy, g.count) for g in groups] == [
        (WP_ID, RejectionReason.ALLOW_NONE, None, 3),
        (None, RejectionReason.ALLOW_NONE, None, 1),
        (
            "spiffe://cluster.local/ns/legacy/sa/batch",
            RejectionReason.EXPLICITLY_DENIED,
            "shop/deny-legacy",
            1,
        ),
    ]
    top = groups[0]
    assert top.first_seen == BASE and top.last_seen == BASE + timedelta(seconds=20)
    assert top.source_workloads == ("waypoint-5c6d-xyz12",) and top.reported_by == "destination"
    assert top.destinations == ("orders-7d9f-abcde",)


def test_since_window_counts_back_from_now_or_newest_line() -> None:
    lines = [inbound(t, WP_ID, ALLOW_NONE) for t in (0, 100, 200, 300)] + [outbound(400, "x", "y")]
    recs = records(lines)
    # now = newest line (t=400): a 150 s window holds t=300 only... and t=250+ → 1 rejection
    (g,) = group_rejections(recs, TARGET, since=timedelta(seconds=150))
    assert g.count == 1 and g.first_seen == BASE + timedelta(seconds=300)
    # explicit now (a snapshot's takenAt); lines later than `now` (clock skew) are kept
    (g,) = group_rejections(recs, TARGET, since=timedelta(seconds=100), now=BASE + timedelta(seconds=250))
    assert g.count == 2 and g.first_seen == BASE + timedelta(seconds=200)
    assert g.last_seen == BASE + timedelta(seconds=300)
    assert group_rejections(recs, TARGET, since=timedelta(seconds=10), now=BASE + timedelta(hours=1)) == ()
    (g,) = group_rejections(recs, TARGET)
    assert g.count == 4


def test_client_side_401_is_a_rejection_reported_by_the_source() -> None:
    lines = [
        outbound(
            0,
            "orders-7d9f-abcde",
            "spiffe://cluster.local/ns/shop/sa/orders",
            "http status: 401 Unauthorized",
        )
    ]
    (g,) = group_rejections(records(lines), TARGET)
    assert g.reported_by == "source" and g.reason is None
    assert group_connection_errors(records(lines), TARGET) == ()


def test_connection_errors_by_kind_and_peer() -> None:
    timeout = "connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008: deadline has elapsed"
    lines = [
        outbound(0, "waypoint-5c6d-xyz12", WP_ID, timeout),
        outbound(1, "waypoint-5c6d-xyz12", WP_ID, timeout),
        outbound(
            2,
            "orders-7d9f-abcde",
            "spiffe://cluster.local/ns/shop/sa/orders",
            "io error: Connection refused (os error 111)",
        ),
        outbound(
            3,
            "orders-7d9f-abcde",
            "spiffe://cluster.local/ns/shop/sa/orders",
            "no healthy upstream: 10.96.0.20:8080",
        ),
        inbound(4, WP_ID, ALLOW_NONE),  # rejections are not connection errors
    ]
    groups = group_connection_errors(records(lines), TARGET)
    assert next((g.kind, g.peer, g.count) for g in groups) == (
        FailureKind.TIMEOUT_15008,
        "waypoint-5c6d-xyz12",
        2,
    )
    assert {(g.kind, g.peer) for g in groups} == {
        (FailureKind.TIMEOUT_15008, "waypoint-5c6d-xyz12"),
        (FailureKind.REFUSED, "orders-7d9f-abcde"),
        (FailureKind.NO_HEALTHY_UPSTREAM, "orders-7d9f-abcde"),
    }
    assert groups[0].reporters == ("frontend-1",) and groups[0].sample_errors == (timeout,)


def test_bypass_detection() -> None:
    lines = [
        outbound(0, "waypoint-5c6d-xyz12", WP_ID),  # via the waypoint
        outbound(1, "waypoint-5c6d-xyz12", WP_ID),
        outbound(
            2, "orders-7d9f-abcde", "spiffe://cluster.local/ns/shop/sa/orders", src="legacy-1"
        ),  # bypass
        inbound(3, WP_ID, src_workload="waypoint-5c6d-xyz12"),  # arrived from the waypoint
        inbound(4, "spiffe://cluster.local/ns/web/sa/frontend", src_workload="frontend-2"),  # direct at dest
        inbound(5, "spiffe://cluster.local/ns/web/sa/frontend", ALLOW_NONE),  # rejected: not bypass
    ]
    summary = detect_bypass(records(lines), TARGET, WAYPOINT)
    assert summary.via_waypoint == 2 and summary.from_waypoint == 1 and summary.bypass_count == 2
    assert {(g.observed_at, g.destination_workload, g.source_workloads) for g in summary.bypassing} == {
        ("source", "orders-7d9f-abcde", ("legacy-1",)),
        ("destination", "orders-7d9f-abcde", ("frontend-2",)),
    }


def test_bypass_needs_a_known_waypoint() -> None:
    lines = [outbound(2, "orders-7d9f-abcde", "spiffe://cluster.local/ns/shop/sa/orders")]
    assert detect_bypass(records(lines), TARGET, WaypointMarkers()).bypassing == ()


def test_digest_is_one_pass_over_a_generator() -> None:
    lines = [inbound(0, WP_ID, ALLOW_NONE), outbound(1, "orders-7d9f-abcde", "x")]
    digest = digest_ztunnel(iter_access(lines), TARGET, waypoint=WAYPOINT)
    assert digest.records == 2 and len(digest.rejections) == 1 and digest.bypass.bypass_count == 1
    assert digest.newest == BASE + timedelta(seconds=1)


def test_empty_target_matches_everything() -> None:
    groups = group_rejections(records([samples.ZT_PLAINTEXT_STRICT, samples.ZT_PRE_1_24]))
    assert sorted(g.reason.value for g in groups) == ["explicitly-denied", "unknown-pre-1.24"]


def test_waypoint_denials_grouped() -> None:
    def line(at: str, method: str, path: str, details: str, authority: str = "orders:8080") -> str:
        return (
            f'[{at}] "{method} {path} HTTP/1.1" 403 - {details} - "-" 0 19 0 - "-" "curl/8" "id-{at[-5:]}" '
            f'"{authority}" "-" inbound-vip|8080|http|{SVC} - 10.0.9.9:15008 10.0.3.3:50000 - default'
        )

    recs = [
        parse_envoy(
            line(
                "2026-11-20T10:00:00.000Z",
                "POST",
                "/orders?token=abc",
                "rbac_access_denied_matched_policy[none]",
            )
        ),
        parse_envoy(
            line("2026-11-20T10:00:05.000Z", "POST", "/orders", "rbac_access_denied_matched_policy[none]")
        ),
        parse_envoy(
            line(
                "2026-11-20T10:00:06.000Z",
                "DELETE",
                "/orders/1",
                "rbac_access_denied_matched_policy[ns[shop]-policy[deny-delete]-rule[0]]",
            )
        ),
        parse_envoy(samples.ENVOY_TEXT_POLICY),  # another service
        parse_envoy(samples.envoy_200_line()),  # not a denial
    ]
    groups = group_waypoint_denials(recs, service_fqdn=SVC)
    assert [(g.matched, g.method, g.path, g.count) for g in groups] == [
        ("none", "POST", "/orders", 2),
        ("ns[shop]-policy[deny-delete]-rule[0]", "DELETE", "/orders/1", 1),
    ]
    assert groups[0].no_policy_matched and groups[1].policy == "shop/deny-delete" and groups[1].rule == 0
    assert groups[0].last_seen == datetime(2026, 11, 20, 10, 0, 5, tzinfo=UTC)
    assert len(group_waypoint_denials(recs)) == 3
    # now = the newest line (10:00:06); a 0.5 s window keeps only the DELETE
    windowed = group_waypoint_denials(recs, service_fqdn=SVC, since=timedelta(seconds=0.5))
    assert [(g.method, g.count) for g in windowed] == [("DELETE", 1)]
    windowed = group_waypoint_denials(recs, service_fqdn=SVC, since=timedelta(seconds=2))
    assert [(g.method, g.count) for g in windowed] == [("DELETE", 1), ("POST", 1)]


def test_waypoint_denials_match_authority_when_cluster_has_no_host() -> None:
    rec = parse_envoy(
        samples.ENVOY_TEXT_NONE.replace("outbound_.80_._.nginx-svc.default.svc.cluster.local", "-")
    )
    assert rec.service_fqdn is None
    assert group_waypoint_denials([rec], service_fqdn=SVC) != ()  # unattributed kept by default
    assert group_waypoint_denials([rec], service_fqdn=SVC, include_unattributed=False) == ()


def test_address_host() -> None:
    assert address_host("10.0.0.1:80") == "10.0.0.1"
    assert address_host("[fd00::1]:80") == "fd00::1"
    assert address_host("fd00::1") == "fd00::1"
    assert address_host(None) is None
