"""A snapshot assembled by hand, the way a person would with kubectl, diagnoses like the live run.

The real kubectl reads the fake API server (`kubectl get … -o yaml`, `kubectl logs`) into a
directory with no snapshot.yaml; `check --snapshot` on it must give the statuses the live run
gives. This proves both the hand-made snapshot path and that the fake server's answers are
what kubectl (and so real users) would save.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clihelpers import run_cli
from scenariolib import HEALTHY

KINDS = [
    ("namespaces", []),
    ("pods", ["-A"]),
    ("services", ["-A"]),
    ("serviceaccounts", ["-A"]),
    ("configmaps", ["-n", "istio-system"]),
    ("deployments.apps", ["-A"]),
    ("daemonsets.apps", ["-A"]),
    ("gateways.gateway.networking.k8s.io", ["-A"]),
    ("gatewayclasses.gateway.networking.k8s.io", []),
    ("authorizationpolicies.security.istio.io", ["-A"]),
]
LOGS = [
    ("istio-system", "ztunnel-4kq7p", "istio-proxy"),
    ("istio-system", "ztunnel-9wd2s", "istio-proxy"),
    ("kagenti-system", "mlflow-waypoint-7c9d8b6f4-lhlwp", "istio-proxy"),
]


def statuses(stdout: str) -> dict[str, str]:
    return {c["id"]: c["status"] for c in json.loads(stdout)["checks"]}


def test_kubectl_made_snapshot_matches_live(fake_cluster: Any, kubectl: Any, tmp_path: Path) -> None:
    server = fake_cluster(HEALTHY)
    snap = tmp_path / "by-hand"
    snap.mkdir()
    for resource, scope in KINDS:
        out = kubectl(server, "get", resource, *scope, "-o", "yaml", check=True).stdout
        (snap / f"{resource}.yaml").write_text(out)
    for ns, pod, container in LOGS:
        out = kubectl(server, "logs", "-n", ns, pod, "-c", container, check=True).stdout
        path = snap / "logs" / ns / pod / f"{container}.log"
        path.parent.mkdir(parents=True)
        path.write_text(out)

    offline = run_cli(
        "check", "mlflow", "-n", "kagenti-system", "--snapshot", str(snap), "-o", "json", "--since", "1h"
    )
    live = run_cli(
        "check",
        "mlflow",
        "-n",
        "kagenti-system",
        "--kubeconfig",
        str(server.kubeconfig_path),
        "-o",
        "json",
        "--since",
        "1h",
        home=tmp_path,
    )
    assert offline.returncode == live.returncode == 0, offline.stderr + live.stderr
    by_hand, over_the_wire = statuses(offline.stdout), statuses(live.stdout)
    assert by_hand == over_the_wire
    assert "fail" not in by_hand.values()
