"""A flaky API server costs time, not the report: the real CLI and the real kubernetes client
against the fake API server with its faults injected (seeded, so every run sees the same ones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clihelpers import run_cli
from scenariolib import HEALTHY

MAX_IN_FLIGHT = 12  # collect/live.py


def check(server: Any, tmp_path: Path, *extra: str) -> tuple[int, dict[str, dict], str]:
    res = run_cli(
        "check",
        "mlflow",
        "-n",
        "kagenti-system",
        "--kubeconfig",
        str(server.kubeconfig_path),
        "-o",
        "json",
        *extra,
        home=tmp_path,
        timeout=120,
    )
    checks = {c["id"]: c for c in json.loads(res.stdout)["checks"]} if res.returncode in (0, 1) else {}
    return res.returncode, checks, res.stderr


def skipped(checks: dict[str, dict]) -> list[str]:
    return sorted(i for i, c in checks.items() if c["status"] == "skip")


def retried_ok(server: Any) -> list[str]:
    """Requests a fault hit that the collector asked again and then got whole."""
    records = server.requests
    out = []
    for i, r in enumerate(records):
        if r.fault and any(
            (o.method, o.path, o.query) == (r.method, r.path, r.query) and not o.fault
            for o in records[i + 1 :]
        ):
            out.append(f"{r.method} {r.path}")
    return out


def max_in_flight(server: Any) -> int:
    events = []
    for r in server.requests:
        events += [(r.started_s, 1), (r.started_s + r.duration_ms / 1000, -1)]
    peak = current = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        current += delta
        peak = max(peak, current)
    return peak


def test_healthy_run_reference(fake_cluster: Any, tmp_path: Path) -> None:
    code, checks, err = check(fake_cluster(HEALTHY), tmp_path)
    assert code == 0, err
    assert skipped(checks) == []


def test_a_fifth_of_reads_reset_mid_body(fake_cluster: Any, tmp_path: Path) -> None:
    server = fake_cluster(HEALTHY, faults=[{"mid_body": "reset", "probability": 0.2, "seed": 1}])
    code, checks, err = check(server, tmp_path)
    assert code == 0, err
    assert skipped(checks) == []
    hit = [r for r in server.requests if r.fault]
    assert len(hit) >= 3 and len(retried_ok(server)) == len(hit)
    assert checks["WD101"]["status"] == "pass"  # nothing was lost, so nothing to report


def test_a_fifth_of_json_bodies_truncated(fake_cluster: Any, tmp_path: Path) -> None:
    server = fake_cluster(
        HEALTHY, faults=[{"mid_body": "truncate", "probability": 0.2, "seed": 3, "path_regex": "^/apis?/"}]
    )
    code, checks, err = check(server, tmp_path)
    assert code == 0, err
    assert skipped(checks) == []
    json_hits = [r for r in server.requests if r.fault and not r.path.endswith("/log")]
    assert len(json_hits) >= 3
    assert set(retried_ok(server)) >= {f"{r.method} {r.path}" for r in json_hits}


def test_the_first_list_stalls_after_half_its_body(fake_cluster: Any, tmp_path: Path) -> None:
    server = fake_cluster(
        HEALTHY,
        faults=[{"path_regex": "^/api/v1/namespaces$", "mid_body": "stall", "times": 1, "stall_s": 60}],
    )
    code, checks, err = check(server, tmp_path, "--request-timeout", "1")
    assert code == 0, err
    assert skipped(checks) == []
    namespace_lists = [r for r in server.requests if r.path == "/api/v1/namespaces"]
    assert [r.fault for r in namespace_lists] == ["stall at 50%", ""]


def test_a_fifth_of_reads_answer_503(fake_cluster: Any, tmp_path: Path) -> None:
    server = fake_cluster(HEALTHY, faults=[{"status": 503, "probability": 0.2, "seed": 2}])
    code, checks, err = check(server, tmp_path)
    assert code == 0, err
    assert skipped(checks) == []
    assert len([r for r in server.requests if r.status == 503]) >= 3


def test_throttling_slows_the_run_down_and_keeps_concurrency_bounded(
    fake_cluster: Any, tmp_path: Path
) -> None:
    server = fake_cluster(
        HEALTHY,
        latency_ms=20,
        faults=[{"status": 429, "retry_after": 1, "probability": 0.3, "seed": 5, "times": 4}],
    )
    code, checks, err = check(server, tmp_path)
    assert code == 0, err
    assert skipped(checks) == []
    records = server.requests
    throttled = [r for r in records if r.status == 429]
    assert len(throttled) == 4
    assert max_in_flight(server) <= MAX_IN_FLIGHT
    # Retry-After: 1 is honoured, for the request that got it and as a pause for every request
    # (after half a second's grace: requests already past the gate when the 429 arrived go on)
    first_429_end = min(r.started_s + r.duration_ms / 1000 for r in throttled)
    started_during_pause = [r for r in records if first_429_end + 0.5 < r.started_s < first_429_end + 0.9]
    assert started_during_pause == []
    for r in throttled:
        again = [o for o in records if (o.path, o.query) == (r.path, r.query) and o.started_s > r.started_s]
        assert again and again[0].started_s - r.started_s >= 0.95


def test_a_list_that_keeps_failing_skips_its_checks_and_names_the_fault(
    fake_cluster: Any, tmp_path: Path
) -> None:
    server = fake_cluster(HEALTHY, faults=[{"path_regex": "authorizationpolicies$", "status": 503}])
    code, checks, err = check(server, tmp_path, "--request-timeout", "2")
    assert code in (0, 1), err
    assert checks["WD401"]["status"] == "skip"
    assert "ServiceUnavailable" in checks["WD401"]["message"]
    assert "gave up after 6 attempts" in checks["WD401"]["message"]
    assert checks["WD101"]["status"] == "warn"
    assert checks["WD302"]["status"] == "pass"  # the rest was read
    assert len([r for r in server.requests if r.path.endswith("authorizationpolicies")]) == 6


def test_one_slow_list_is_a_gap_not_the_end(fake_cluster: Any, tmp_path: Path) -> None:
    server = fake_cluster(HEALTHY, latency_ms=[{"path_regex": "authorizationpolicies$", "ms": 1500}])
    code, checks, err = check(server, tmp_path, "--request-timeout", "0.5")
    assert code in (0, 1), err
    assert checks["WD401"]["status"] == "skip" and "authorizationpolicies" in checks["WD401"]["message"]
    assert "Timeout" in checks["WD401"]["message"]
    assert checks["WD101"]["status"] in ("warn", "fail")
    assert checks["WD302"]["status"] == "pass"  # the rest was read


def test_a_list_that_keeps_being_reset_is_a_named_gap(fake_cluster: Any, tmp_path: Path) -> None:
    server = fake_cluster(HEALTHY, faults=[{"path_regex": "gatewayclasses$", "mid_body": "reset"}])
    code, checks, err = check(server, tmp_path, "--request-timeout", "2")
    assert code in (0, 1), err
    skips = {i: c["message"] for i, c in checks.items() if c["status"] == "skip"}
    assert skips and all("gatewayclasses" in m and "ConnectionReset" in m for m in skips.values())
    read = next(e for e in checks["WD101"]["evidence"] if e.get("kind") == "Read")
    assert read["reason"] == "ConnectionReset" and "reset before the answer was complete" in read["message"]


def test_a_log_cut_short_keeps_what_arrived_and_says_so(fake_cluster: Any, tmp_path: Path) -> None:
    server = fake_cluster(HEALTHY, faults=[{"path_regex": "/log$", "mid_body": "reset", "at": 0.6}])
    code, checks, err = check(server, tmp_path, "--request-timeout", "1")
    assert code in (0, 1), err
    reads = [e for e in checks["WD101"]["evidence"] if e.get("kind") == "Read"]
    assert reads and all(e["reason"] == "ConnectionReset" for e in reads)
    assert checks["WD101"]["status"] == "warn"


def test_a_server_that_never_answers_is_exit_3(fake_cluster: Any, tmp_path: Path) -> None:
    server = fake_cluster(HEALTHY, faults=[{"drop_connection": True}])
    code, _, err = check(server, tmp_path, "--request-timeout", "0.5")
    assert code == 3
    assert "never answered" in err and "Traceback" not in err
