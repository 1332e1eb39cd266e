"""ztunnel access-log parser: the verbatim samples of the reference, table-driven."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.logs import samples
from tests.logs.ztunnel_render import render_json, render_text

from waypoint_doctor.logs.ztunnel import (
    FailureKind,
    PolicyDecision,
    RejectionReason,
    ZtunnelAccess,
    classify_error,
    iter_access,
    iter_events,
    parse_line,
)

T = datetime.fromisoformat


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            samples.ZT_SUCCESS_INBOUND,
            dict(
                time=T("2024-05-04T09:59:05.028709+00:00"),
                level="info",
                message="connection complete",
                src_addr="10.244.1.12:60059",
                src_workload="curl-7656cf8794-r7zb9",
                src_namespace="default",
                src_identity="spiffe://cluster.local/ns/default/sa/curl",
                dst_addr="10.244.1.10:9080",
                dst_hbone_addr="10.244.1.10:9080",
                dst_service="productpage.default.svc.cluster.local",
                dst_workload="productpage-v1-87d54dd59-fn6vw",
                dst_namespace="productpage",
                dst_identity="spiffe://cluster.local/ns/default/sa/bookinfo-productpage",
                direction="inbound",
                bytes_sent=175,
                bytes_recv=80,
                duration_ms=1,
                error=None,
                failure=None,
            ),
            id="success-inbound-quoted-hbone",
        ),
        pytest.param(
            samples.ZT_SUCCESS_OUTBOUND,
            dict(direction="outbound", dst_addr="10.244.1.10:15008", bytes_sent=80, bytes_recv=175),
            id="success-outbound",
        ),
        pytest.param(
            samples.ZT_TIMEOUT_15008,
            dict(
                level="error",
                dst_hbone_addr="10.244.0.10:80",
                duration_ms=10002,
                error="connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008: deadline has elapsed",
            ),
            id="timeout-15008-bare-hbone",
        ),
        pytest.param(
            samples.ZT_PLAINTEXT_STRICT,
            dict(
                src_identity=None,
                src_workload=None,
                dst_workload="golang-ex-6d957754b-nfbfv",
                dst_namespace="test",
                direction="inbound",
            ),
            id="plaintext-strict",
        ),
        pytest.param(
            samples.ZT_PRE_1_24,
            dict(
                dst_service="jaeger-query.jaeger-system.svc.cluster.local", dst_hbone_addr="10.0.17.117:16686"
            ),
            id="pre-1.24-rejection",
        ),
        pytest.param(
            samples.zt_waypoint_rejected_line(),
            dict(
                src_workload="waypoint-7b9b6c5cc6-lhlwp",
                src_identity="spiffe://cluster.local/ns/trading/sa/waypoint",
                dst_service="service-b-v1.trading.svc.cluster.local",
                direction="inbound",
            ),
            id="waypoint-identity-rejected",
        ),
        pytest.param(
            samples.zt_json(samples.ZT_JSON_VIA_WAYPOINT_EXCERPT),
            dict(
                src_identity="spiffe://cluster.local/ns/default/sa/curl",
                dst_addr="10.244.1.15:15008",
                dst_hbone_addr="10.96.47.9:8080",
                dst_service="handson.default.svc.cluster.local",
                dst_workload="waypoint-57f4fcd686-6vwck",
                dst_identity="spiffe://cluster.local/ns/default/sa/waypoint",
                direction="outbound",
                failure=None,
            ),
            id="json-outbound-via-waypoint",
        ),
        pytest.param(
            samples.zt_json(samples.ZT_JSON_REJECT_INBOUND_EXCERPT, level="error", direction="inbound"),
            dict(level="error", error="connection closed due to policy rejection"),
            id="json-inbound-rejection-pre-1.24",
        ),
        pytest.param(
            samples.zt_json(samples.ZT_JSON_REJECT_OUTBOUND_EXCERPT, level="error", direction="outbound"),
            dict(dst_addr="10.244.1.12:15008", bytes_sent=0, bytes_recv=0, duration_ms=0),
            id="json-outbound-401",
        ),
    ],
)
def test_reference_lines(line: str, expected: dict) -> None:
    rec = parse_line(line)
    assert isinstance(rec, ZtunnelAccess)
    for key, value in expected.items():
        assert getattr(rec, key) == value, key
    # The same line as bytes, and through the streaming reader, gives the same record.
    assert parse_line(line.encode()) == rec
    assert list(iter_access([line])) == [rec]


@pytest.mark.parametrize(
    ("line", "kind", "reason", "policy", "status"),
    [
        (
            samples.ZT_PLAINTEXT_STRICT,
            FailureKind.POLICY_REJECTION,
            RejectionReason.EXPLICITLY_DENIED,
            "istio-system/istio_converted_static_strict",
            None,
        ),
        (samples.ZT_PRE_1_24, FailureKind.POLICY_REJECTION, RejectionReason.UNKNOWN_PRE_1_24, None, None),
        (
            samples.zt_waypoint_rejected_line(),
            FailureKind.POLICY_REJECTION,
            RejectionReason.ALLOW_NONE,
            None,
            None,
        ),
        (samples.ZT_TIMEOUT_15008, FailureKind.TIMEOUT_15008, None, None, None),
        (
            samples.zt_json(samples.ZT_JSON_REJECT_OUTBOUND_EXCERPT, level="error", direction="outbound"),
            FailureKind.HTTP_STATUS,
            None,
            None,
            401,
        ),
    ],
)
def test_reference_failures(line, kind, reason, policy, status) -> None:
    rec = parse_line(line)
    assert rec is not None and rec.failure is not None
    assert (rec.failure.kind, rec.failure.reason, rec.failure.policy, rec.failure.http_status) == (
        kind,
        reason,
        policy,
        status,
    )


@pytest.mark.parametrize(("error", "kind", "reason", "policy", "status"), samples.ZT_ERRORS)
def test_classify_error(error, kind, reason, policy, status) -> None:
    f = classify_error(error)
    assert f.kind == kind
    assert (f.reason.value if f.reason else None) == reason
    assert f.policy == policy
    assert f.http_status == status
    assert f.detail == error


def test_client_side_401_means_rejected_by_destination() -> None:
    assert classify_error("http status: 401 Unauthorized").rejected_by_destination
    assert not classify_error("http status: 503 Service Unavailable").rejected_by_destination


def test_early_deny_connection_failed() -> None:
    line = (
        "2026-02-01T10:00:00.000001Z\twarn\taccess\tconnection failed\tsrc.addr=10.0.0.1:5555 "
        'dst.addr=10.0.0.2:15008 direction="inbound" '
        'error="connection closed due to policy rejection: explicitly denied by: prod/deny-all"'
    )
    rec = parse_line(line)
    assert rec is not None and rec.early_deny and rec.level == "warn"
    assert rec.failure.reason is RejectionReason.EXPLICITLY_DENIED and rec.failure.policy == "prod/deny-all"
    assert rec.src_identity is None and rec.bytes_sent is None


def test_1_31_cluster_fields() -> None:
    fields = {
        "src.addr": "10.0.0.1:5",
        "src.workload": "a-1",
        "src.namespace": "a",
        "src.identity": "spiffe://cluster.local/ns/a/sa/a",
        "src.cluster": "east",
        "dst.addr": "10.0.0.2:15008",
        "dst.hbone_addr": "10.0.0.2:80",
        "dst.service": "b.b.svc.cluster.local",
        "dst.workload": "b-1",
        "dst.namespace": "b",
        "dst.identity": "spiffe://cluster.local/ns/b/sa/b",
        "dst.cluster": "west",
        "direction": "outbound",
        "bytes_sent": 1,
        "bytes_recv": 2,
        "duration": 3,
    }
    text = parse_line(render_text(fields, time="2026-07-21T00:00:00.5Z"))
    js = parse_line(render_json(fields, time="2026-07-21T00:00:00.5Z"))
    assert text == js
    assert (text.src_cluster, text.dst_cluster) == ("east", "west")


def test_escaped_quotes_and_unicode_escapes() -> None:
    line = (
        '2026-02-01T10:00:00Z\terror\taccess\tconnection complete\tsrc.addr=1.1.1.1:1 src.workload="we\\"ird\\\\pod" '
        'dst.addr=2.2.2.2:80 direction="inbound" error="bad \\u{1b}[31m thing\\nnext"'
    )
    rec = parse_line(line)
    assert rec.src_workload == 'we"ird\\pod'
    assert rec.error == "bad \x1b[31m thing\nnext"


def test_unknown_fields_are_kept_not_fatal() -> None:
    line = (
        '2026-02-01T10:00:00Z\tinfo\taccess\tconnection complete\tsrc.addr=1.1.1.1:1 new.field="x y" '
        'dst.addr=2.2.2.2:80 direction="outbound" bytes_sent=1 bytes_recv=2 duration="3ms" other=7'
    )
    rec = parse_line(line)
    assert rec.direction == "outbound" and rec.duration_ms == 3
    assert dict(rec.extra) == {"new.field": "x y", "other": "7"}


def test_kubectl_timestamps_prefix() -> None:
    rec = parse_line("2026-02-01T10:00:01.000000001Z " + samples.ZT_SUCCESS_INBOUND)
    assert rec is not None and rec.time == T("2024-05-04T09:59:05.028709+00:00")


@pytest.mark.parametrize(("message", "kind", "dry_run", "policy"), samples.ZT_POLICY_MESSAGES)
def test_policy_decisions_text_and_json(message, kind, dry_run, policy) -> None:
    field = f'\tpolicy="{policy}"' if policy else ""
    text = f"2026-03-01T00:00:00.1Z\tdebug\tstate:inbound{{id=ab12 peer=10.0.0.1:4444}}\t{message}{field}"
    ev = parse_line(text)
    assert isinstance(ev, PolicyDecision)
    assert (ev.kind.value, ev.dry_run, ev.policy, ev.level) == (kind, dry_run, policy, "debug")
    assert ev.context == "inbound{id=ab12 peer=10.0.0.1:4444}"
    policy_field = f',"policy":"{policy}"' if policy else ""
    obj = (
        '{"level":"info","time":"2026-03-01T00:00:00.1Z","scope":"ztunnel::state",'
        f'"message":"{message}"{policy_field}}}'
    )
    ev2 = parse_line(obj)
    assert isinstance(ev2, PolicyDecision) and ev2.kind == ev.kind and ev2.policy == policy


def test_skipping_unknown_policy() -> None:
    ev = parse_line("2026-03-01T00:00:00Z\twarn\tstate\tskipping unknown policy ns1/gone")
    assert isinstance(ev, PolicyDecision) and ev.policy == "ns1/gone"


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "garbage",
        "2024-05-04T09:59:05.028709Z\tinfo\txds::client:xds{id=1}\tconnection established\tfoo=bar",
        "2024-05-04T09:59:05.028709Z\tinfo\taccess\tconnection opened\tsrc.addr=1.1.1.1:1",
        "not-a-time info access connection complete src.addr=1.1.1.1:1",
        "{not json connection",
        '{"message": "connection complete", "scope": "xds"}',
        '["connection complete"]',
        "2024-13-45T99:99:99Z info access connection complete src.addr=1.1.1.1:1 dst.addr=2.2.2.2:2",
    ],
)
def test_non_access_lines_are_none(line: str) -> None:
    assert parse_line(line) is None


def test_streaming_sources_agree(tmp_path: Path) -> None:
    lines = [
        samples.ZT_SUCCESS_INBOUND,
        "2024-05-04T09:59:06Z\tinfo\txds\tnoise",
        samples.ZT_TIMEOUT_15008,
        samples.ZT_PLAINTEXT_STRICT,
        samples.zt_json(samples.ZT_JSON_VIA_WAYPOINT_EXCERPT),
    ]
    text = "\r\n".join(lines) + "\n"
    path = tmp_path / "ztunnel.log"
    path.write_text(text)
    expected = [parse_line(x) for x in lines if parse_line(x) is not None]
    assert len(expected) == 4
    assert list(iter_events(path)) == expected
    assert list(iter_events(text)) == expected
    assert list(iter_events(text.encode())) == expected
    assert list(iter_events(io.BytesIO(text.encode()))) == expected
    assert list(iter_events(io.StringIO(text))) == expected
    assert list(iter_events(text.splitlines())) == expected


def test_fast_and_general_paths_agree_on_reference_lines() -> None:
    from waypoint_doctor.logs.ztunnel import _match_fast, _slow_text

    for line in (samples.ZT_SUCCESS_INBOUND, samples.ZT_TIMEOUT_15008, samples.ZT_PLAINTEXT_STRICT):
        fast = _match_fast(line)
        assert fast is not None
        assert _slow_text(line) == fast


def test_times_are_utc_aware() -> None:
    rec = parse_line(samples.ZT_SUCCESS_INBOUND)
    assert rec.time.tzinfo is not None and rec.time.utcoffset() == UTC.utcoffset(None)
