"""WD501-WD505 in detail: messages, evidence and remediations, beyond the pass/fail of scenarios."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waypoint_doctor.checks.spec import CheckOptions, Target
from waypoint_doctor.collect.snapshot_dir import load_snapshot
from waypoint_doctor.engine import check_service
from waypoint_doctor.report.model import CheckResult

from scenariolib import HEALTHY, Cluster
from scenarios import wd5
from scenarios.edits import ISTIO_NS, NS, WAYPOINT_POD

TARGET = Target(namespace=NS, name="mlflow")
EXAMPLES = HEALTHY.parent


def report_of(path: Path, options: CheckOptions | None = None) -> dict[str, CheckResult]:
    report = check_service(load_snapshot(path), TARGET, options or CheckOptions())
    return {c.id: c for c in report.checks}


def built(tmp_path: Path, mutate) -> dict[str, CheckResult]:
    cluster = Cluster(HEALTHY)
    mutate(cluster)
    return report_of(cluster.write(tmp_path / "snap"))


def test_healthy_passes_all_five() -> None:
    checks = report_of(HEALTHY)
    assert {
        i: checks[i].status.value for i in ("WD501", "WD502", "WD503", "WD504", "WD505")
    } == dict.fromkeys(("WD501", "WD502", "WD503", "WD504", "WD505"), "pass")
    assert "computed from ServiceAccounts and trust domain cluster.local" in checks["WD501"].message


def test_wd502_waypoint_rejection_evidence_and_fix() -> None:
    r = report_of(EXAMPLES / "kagenti-waypoint-hop-denied")["WD502"]
    assert r.status.value == "fail"
    assert "rejects the waypoint (cluster.local/ns/kagenti-system/sa/mlflow-waypoint)" in r.message
    assert "see WD409" in r.message
    (item,) = r.evidence
    assert item["source_identity"] == "spiffe://cluster.local/ns/kagenti-system/sa/mlflow-waypoint"
    assert item["reason"] == "allow policies exist, but none allowed" and item["see"] == "WD409"
    assert (
        item["count"] == 24
        and item["last_seen"].endswith("Z")
        and item["reported_by"] == "destination ztunnel"
    )
    assert item["destinations"] == ["mlflow-5f7d9c8b7d-x2k9q"]
    assert "principals:\n        - cluster.local/ns/kagenti-system/sa/mlflow-waypoint" in r.remediation
    assert "matchLabels:\n      app: mlflow" in r.remediation


def test_wd502_window_counts_back_from_taken_at(tmp_path: Path) -> None:
    cluster = Cluster(HEALTHY)
    wd5.waypoint_rejected_after_policy_change(cluster)  # lines at 10:07-10:09
    snap = cluster.write(tmp_path / "snap")
    wide = report_of(snap, CheckOptions(now=datetime(2026, 11, 20, 10, 15, tzinfo=UTC)))["WD502"]
    assert wide.status.value == "fail" and wide.evidence[0]["count"] == 3
    narrow = report_of(snap, CheckOptions(now=datetime(2026, 11, 20, 10, 15, tzinfo=UTC), since_seconds=420))
    assert narrow["WD502"].evidence[0]["count"] == 2  # 10:08 and 10:09
    assert "in the 7m before 2026-11-20T10:15:00.000Z" in narrow["WD502"].message
    live = report_of(snap, CheckOptions(log_window_applied=True))["WD502"]
    assert live.evidence[0]["count"] == 3 and "in the last 15m" in live.message


def test_wd502_plaintext_strict_is_a_warning(tmp_path: Path) -> None:
    r = built(tmp_path, wd5.plaintext_client_meets_strict)["WD502"]
    assert r.status.value == "warn"
    item = r.evidence[0]
    assert item["source_identity"].startswith("(none") and item["source_addresses"] == ["10.244.0.99"]
    assert item["policy"] == "istio-system/istio_converted_static_strict"
    assert "plaintext client hit STRICT" in r.remediation


def test_wd503_hbone_timeout_names_the_waypoint_and_networkpolicy(tmp_path: Path) -> None:
    r = built(tmp_path, wd5.hbone_blocked_to_waypoint)["WD503"]
    assert r.status.value == "fail"
    item = r.evidence[0]
    assert item["error"] == "timeout-15008" and item["peer"] == WAYPOINT_POD and item["peer_is_waypoint"]
    assert item["count"] == 3 and item["reported_by"] == ["otel-collector-6b8f9d7c5-m4n2p"]
    assert "kind: NetworkPolicy" in r.remediation and "port: 15008" in r.remediation


def test_wd504_none_decoded_with_caller_and_nearest_miss(tmp_path: Path) -> None:
    r = built(tmp_path, wd5.waypoint_403_none)["WD504"]
    assert r.status.value == "fail"
    item = r.evidence[0]
    assert item["matched_policy"].startswith("[none]")
    assert (item["method"], item["path"], item["count"]) == (
        "DELETE",
        "/api/2.0/mlflow/experiments/delete",
        2,
    )
    assert item["callers"] == ["cluster.local/ns/kagenti-system/sa/kagenti-ui"]
    assert item["nearest_miss"]["policy"] == "kagenti-system/mlflow-api-access"
    assert item["see"] == "WD410"


def test_wd504_deny_rule_quoted(tmp_path: Path) -> None:
    r = built(tmp_path, wd5.waypoint_403_deny_policy)["WD504"]
    assert r.status.value == "warn"
    item = r.evidence[0]
    assert (item["matched_policy"], item["rule"]) == ("kagenti-system/deny-admin", 0)
    assert "/admin/*" in item["rule_spec"]
    assert "deny-admin" in r.message and "rule 0" in r.message


def test_wd504_access_logs_off_skips_with_the_telemetry_fix(tmp_path: Path) -> None:
    r = built(tmp_path, wd5.waypoint_access_logs_off)["WD504"]
    assert r.status.value == "skip" and "access logging is off" in r.message
    assert "kind: Telemetry" in r.remediation and "name: mlflow-waypoint" in r.remediation


def test_wd505_bypass_seen_from_both_sides(tmp_path: Path) -> None:
    r = built(tmp_path, wd5.client_goes_straight_to_the_pod)["WD505"]
    assert r.status.value == "fail" and "bypassed the waypoint" in r.message
    item = r.evidence[0]
    assert (
        item["observed_at"] == "source ztunnel" and item["destination_workload"] == "mlflow-5f7d9c8b7d-x2k9q"
    )
    assert item["source_workloads"] == ["otel-collector-6b8f9d7c5-m4n2p"] and item["count"] == 2
    assert "name: require-waypoint" in r.remediation
    r2 = built(tmp_path / "2", wd5.pod_reached_without_the_waypoint)["WD505"]
    assert r2.status.value == "fail" and r2.evidence[0]["observed_at"] == "destination ztunnel"


def test_logs_forbidden_skips_name_the_permission(tmp_path: Path) -> None:
    checks = built(tmp_path, wd5.all_logs_forbidden)
    for cid in ("WD502", "WD503", "WD505"):
        assert checks[cid].status.value == "skip"
        assert "get pods/log in namespace istio-system" in checks[cid].message
    assert "get pods/log in namespace kagenti-system" in checks["WD504"].message
    assert checks["WD501"].status.value in ("pass", "info")  # identities still computed


def test_logs_turned_off() -> None:
    checks = check_service(load_snapshot(HEALTHY), TARGET, CheckOptions(logs_enabled=False))
    by_id = {c.id: c for c in checks.checks}
    assert by_id["WD502"].status.value == "skip" and "--no-logs" in by_id["WD502"].message


def test_missing_destination_node_log_is_not_a_pass(tmp_path: Path) -> None:
    def drop_dest(c: Cluster) -> None:
        c.logs.pop((ISTIO_NS, wd5.DEST_ZTUNNEL, "istio-proxy"))

    r = built(tmp_path, drop_dest)["WD502"]
    assert r.status.value == "skip" and "kagenti-worker" in r.message


def test_wd501_trust_domain_mismatch(tmp_path: Path) -> None:
    r = built(tmp_path, wd5.otel_in_another_trust_domain)["WD501"]
    assert r.status.value == "fail"
    assert "prod.example/ns/kagenti-system/sa/otel-collector" in r.message
    assert "cluster.local/ns/kagenti-system/sa/otel-collector" in r.message
    bad = next(e for e in r.evidence if e.get("problem"))
    assert bad["source"] == "istioctl ztunnel-config workloads" and bad["named_by"] == []


def test_wd501_waypoint_certificate(tmp_path: Path) -> None:
    r = built(tmp_path, wd5.waypoint_certificate_differs)["WD501"]
    assert r.status.value == "fail" and "waypoint-runner" in r.message and "WD409" in r.message
    ok = built(tmp_path / "ok", wd5.istioctl_consistent)["WD501"]
    assert ok.status.value == "pass" and "from istioctl" in ok.message
    wp = next(e for e in ok.evidence if e["kind"] == "WaypointIdentity")
    assert wp["certificate"] == wp["expected"] == "cluster.local/ns/kagenti-system/sa/mlflow-waypoint"


def test_wd501_unavailable_certificate_warns(tmp_path: Path) -> None:
    r = built(tmp_path, wd5.otel_certificate_unavailable)["WD501"]
    assert r.status.value == "warn" and "otel-collector (Unavailable)" in r.message


def test_wd501_broken_istioctl_output_is_evidence_not_a_crash(tmp_path: Path) -> None:
    def garbage(c: Cluster) -> None:
        c.istioctl[f"ztunnel-config-certificates.ztunnel-4kq7p.{ISTIO_NS}.json"] = "\x1b[31mnot json"
        c.istioctl["istioctl-errors.txt"] = (
            "`istioctl version -o json` timed out after 20s (istioctl killed)\n"
        )

    r = built(tmp_path, garbage)["WD501"]
    assert r.status.value == "pass"
    problems = [e for e in r.evidence if e["kind"] == "IstioctlOutput"]
    assert {p["file"] for p in problems} == {
        "ztunnel-config-certificates.ztunnel-4kq7p.istio-system.json",
        "istioctl-errors.txt",
    }
    assert all("\x1b" not in p["problem"] for p in problems)


def test_secrets_and_escapes_in_logs_never_reach_the_report(tmp_path: Path) -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"

    def poisoned(c: Cluster) -> None:
        line = wd5._waypoint_line(
            8, "GET", f"/x?access_token={jwt}", 403, "rbac_access_denied_matched_policy[none]", wd5.UI
        )
        c.append_log(NS, WAYPOINT_POD, "istio-proxy", line.replace('"curl/8.11.0"', '"\x1b[2Jcurl"'))

    r = built(tmp_path, poisoned)["WD504"]
    text = repr(r.evidence) + r.message
    assert jwt not in text and "\x1b" not in text and "access_token" not in text


LINES = st.sampled_from(
    [
        wd5._inbound(7, wd5.WAYPOINT, wd5.ALLOW_NONE),
        wd5._outbound(
            8, wd5.UI, WAYPOINT_POD, "10.244.1.15", error="io error: Connection refused (os error 111)"
        ),
        wd5._waypoint_line(9, "GET", "/", 403, "rbac_access_denied_matched_policy[none]", wd5.UI),
        "garbage",
    ]
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.one_of(LINES, st.text(max_size=200)), max_size=6), st.data())
def test_arbitrary_log_content_never_crashes_a_check(tmp_path_factory, lines, data) -> None:
    cluster = Cluster(HEALTHY)
    for line in lines:
        key = data.draw(st.sampled_from(sorted(cluster.logs)))
        cut = data.draw(st.integers(0, len(line)))
        cluster.logs[key] = cluster.logs[key] + line[:cut].replace("\n", " ") + "\n"
    snap = cluster.write(tmp_path_factory.mktemp("snap"))
    checks = report_of(snap)
    assert not [c.id for c in checks.values() if c.status.value == "error"]


@pytest.mark.parametrize("demo", ["kagenti-broken", "kagenti-spiffe-principal"])
def test_wd501_names_unmatched_callers_without_failing(demo: str) -> None:
    r = report_of(EXAMPLES / demo)["WD501"]
    assert r.status.value == "info" and "named by no principal" in r.message and "WD405" in r.message
