"""`what-if` through the real CLI: offline and live, table and JSON, exit codes like `kubectl auth can-i`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clihelpers import run_cli
from scenariolib import HEALTHY, Cluster

CASES = [
    (["--from", "sa/otel-collector", "--method", "POST", "--path", "/v1/traces"], 0, "ALLOW"),
    (["--from", "sa/otel-collector", "--method", "GET", "--path", "/v1/traces"], 1, "DENY"),
    (
        ["--from", "cluster.local/ns/kagenti-system/sa/kagenti-ui", "--path", "/api/2.0/experiments"],
        0,
        "ALLOW",
    ),
    (["--from", "cluster.local/ns/other/sa/unknown"], 1, "DENY"),
]


@pytest.mark.parametrize(("args", "code", "verdict"), CASES)
def test_what_if_offline(args: list[str], code: int, verdict: str) -> None:
    res = run_cli(
        "what-if", "mlflow", "-n", "kagenti-system", "--snapshot", str(HEALTHY), *args, "-o", "json"
    )
    assert res.returncode == code, res.stderr
    doc = json.loads(res.stdout)
    assert doc["verdict"] == verdict
    assert doc["schema_version"] == "1"


def test_nearest_miss_is_named() -> None:
    res = run_cli(
        "what-if",
        "mlflow",
        "-n",
        "kagenti-system",
        "--snapshot",
        str(HEALTHY),
        "--from",
        "sa/otel-collector",
        "--method",
        "GET",
        "--path",
        "/v1/traces",
        "-o",
        "json",
    )
    hop = json.loads(res.stdout)["hops"][0]
    assert hop["nearest_miss"]["attribute"] == "methods"
    assert hop["nearest_miss"]["policy"] == "kagenti-system/mlflow-api-access"


def test_allow_nothing_denies_at_the_waypoint_to_workload_hop(tmp_path: Path) -> None:
    c = Cluster(HEALTHY)
    c.add(
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "allow-nothing", "namespace": "kagenti-system"},
            "spec": {},
        }
    )
    snap = c.write(tmp_path / "snap")
    res = run_cli(
        "what-if",
        "mlflow",
        "-n",
        "kagenti-system",
        "--snapshot",
        str(snap),
        "--from",
        "sa/otel-collector",
        "--method",
        "POST",
        "--path",
        "/v1/traces",
        "-o",
        "json",
    )
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert doc["hops"][1]["hop"] == "waypoint->workload" and doc["hops"][1]["verdict"] == "DENY"
    assert "mlflow-waypoint" in doc["explanation"]


def test_what_if_table_output() -> None:
    res = run_cli(
        "what-if",
        "mlflow",
        "-n",
        "kagenti-system",
        "--snapshot",
        str(HEALTHY),
        "--from",
        "sa/otel-collector",
        "--method",
        "GET",
        "--path",
        "/v1/traces",
    )
    assert res.returncode == 1
    assert res.stdout.startswith("DENY")
    assert "client->waypoint" in res.stdout


def test_what_if_live(fake_cluster: Any, tmp_path: Path) -> None:
    server = fake_cluster(HEALTHY)
    res = run_cli(
        "what-if",
        "mlflow",
        "-n",
        "kagenti-system",
        "--kubeconfig",
        str(server.kubeconfig_path),
        "--from",
        "pod/kagenti-ui-7d4c9b8f6-r8t5w",
        "--path",
        "/api/2.0/experiments",
        "-o",
        "json",
        home=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["request"]["from"] == "cluster.local/ns/kagenti-system/sa/kagenti-ui"
    assert not [r for r in server.requests if r.path.endswith("/log")], "what-if reads no logs"


@pytest.mark.parametrize("bad", [["--from", "pod/"], ["--port", "70000", "--from", "sa/x"]])
def test_what_if_bad_input_exits_2(bad: list[str]) -> None:
    res = run_cli("what-if", "mlflow", "-n", "kagenti-system", "--snapshot", str(HEALTHY), *bad)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr


def test_header_and_source_ip_flags(tmp_path: Path) -> None:
    """--header NAME=VALUE (repeatable) and --source-ip reach the engine: a header condition
    that is otherwise undecidable (exit 4) gets a verdict."""
    c = Cluster(HEALTHY)
    policy = c.get("AuthorizationPolicy", "kagenti-system", "mlflow-api-access")
    policy["spec"]["rules"][0]["when"] = [{"key": "request.headers[x-tenant]", "values": ["a"]}]
    snap = c.write(tmp_path / "snap")
    base = [
        "what-if",
        "mlflow",
        "-n",
        "kagenti-system",
        "--snapshot",
        str(snap),
        "--from",
        "sa/otel-collector",
    ]
    base += ["--method", "POST", "--path", "/v1/traces", "-o", "json"]
    assert run_cli(*base).returncode == 4
    res = run_cli(*base, "--header", "X-Tenant=a", "--header", "x-other: b", "--source-ip", "10.244.0.21")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["request"]["headers"] == {"x-tenant": "a", "x-other": "b"}
    assert doc["request"]["source_ip"] == "10.244.0.21"
    bad = run_cli(*base, "--header", "novalue")
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr


def test_plaintext_from_offline() -> None:
    res = run_cli(
        "what-if",
        "mlflow",
        "-n",
        "kagenti-system",
        "--snapshot",
        str(HEALTHY),
        "--from",
        "plaintext",
        "-o",
        "json",
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["request"]["plaintext"] is True and doc["hops"][0]["hop"] == "client->workload"
    table = run_cli(
        "what-if", "mlflow", "-n", "kagenti-system", "--snapshot", str(HEALTHY), "--from", "plaintext"
    )
    assert "plaintext caller" in table.stdout
