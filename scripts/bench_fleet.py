#!/usr/bin/env python3
"""Fleet-scan cost: `check -A` over a generated cluster served by the fake API server.

Generates N namespaces, each with S waypoint-bound services, P pods per service and one
L7 policy per service, serves it on 127.0.0.1 with the test suite's fake API server, runs
the real CLI once per scope, and prints wall time, API requests and peak memory. The point
is the shape: requests must grow with the number of kinds (and namespaces in scope), never
with the number of services or pods. Prints figures; asserts nothing.

    python scripts/bench_fleet.py [--namespaces 20] [--services 10] [--pods 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fakeapi.server import FakeApiServer  # noqa: E402  (test infrastructure, reused on purpose)


def generate(root: Path, n_ns: int, n_svc: int, n_pods: int) -> int:
    base = REPO / "examples" / "kagenti-healthy"
    docs: list[dict] = []
    for f in ("istio-system.yaml", "gateway-api.yaml"):
        docs += [d for d in yaml.safe_load_all((base / f).read_text()) if d]
    for i in range(n_ns):
        ns = f"team-{i:03d}"
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "labels": {"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"},
                },
            }
        )
        docs.append(
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway",
                "metadata": {"name": "waypoint", "namespace": ns},
                "spec": {
                    "gatewayClassName": "istio-waypoint",
                    "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
                },
                "status": {
                    "addresses": [{"type": "IPAddress", "value": f"10.96.{i}.1"}],
                    "conditions": [
                        {"type": "Programmed", "status": "True", "reason": "Programmed", "message": "ok"}
                    ],
                },
            }
        )
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "waypoint-0",
                    "namespace": ns,
                    "labels": {"gateway.networking.k8s.io/gateway-name": "waypoint"},
                },
                "spec": {
                    "nodeName": "kagenti-worker",
                    "serviceAccountName": "waypoint",
                    "containers": [{"name": "istio-proxy"}],
                },
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
            }
        )
        for j in range(n_svc):
            svc = f"svc-{j:03d}"
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": svc, "namespace": ns},
                    "spec": {"selector": {"app": svc}, "ports": [{"port": 8080}]},
                }
            )
            docs.append(
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": svc, "namespace": ns}}
            )
            docs.append(
                {
                    "apiVersion": "security.istio.io/v1",
                    "kind": "AuthorizationPolicy",
                    "metadata": {"name": f"{svc}-l7", "namespace": ns},
                    "spec": {
                        "targetRefs": [{"kind": "Service", "group": "", "name": svc}],
                        "action": "ALLOW",
                        "rules": [
                            {
                                "from": [{"source": {"principals": [f"cluster.local/ns/{ns}/sa/client"]}}],
                                "to": [{"operation": {"methods": ["GET"], "paths": ["/api/*"]}}],
                            }
                        ],
                    },
                }
            )
            for k in range(n_pods):
                docs.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {
                            "name": f"{svc}-{k}",
                            "namespace": ns,
                            "labels": {"app": svc},
                            "annotations": {"ambient.istio.io/redirection": "enabled"},
                        },
                        "spec": {
                            "nodeName": "kagenti-worker",
                            "serviceAccountName": svc,
                            "containers": [{"name": "app"}],
                        },
                        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
                    }
                )
    (root / "objects.yaml").write_text(yaml.safe_dump_all(docs))
    (root / "snapshot.yaml").write_text("takenAt: '2026-11-20T10:15:00Z'\n")
    return len(docs)


def run(server: FakeApiServer, args: list[str]) -> tuple[float, int, int, dict]:
    before = len(server.requests)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource, sys, runpy; sys.argv=['waypoint-doctor']+sys.argv[1:];"
            "\ntry: runpy.run_module('waypoint_doctor', run_name='__main__')"
            "\nfinally: print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)",
            *args,
            "--kubeconfig",
            str(server.kubeconfig_path),
            "-o",
            "json",
            "--no-logs",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    rss_kb = int(proc.stderr.strip().splitlines()[-1]) if proc.stderr.strip() else 0
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return elapsed, len(server.requests) - before, rss_kb, doc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--namespaces", type=int, default=20)
    ap.add_argument("--services", type=int, default=10)
    ap.add_argument("--pods", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n = generate(root, a.namespaces, a.services, a.pods)
        server = FakeApiServer(root).start()
        server.write_kubeconfig(root / "kubeconfig", "bench", None)
        try:
            print(f"cluster: {a.namespaces} namespaces x {a.services} services x {a.pods} pods = {n} objects")
            for label, args in (
                ("check one service", ["check", "svc-000", "-n", "team-000"]),
                ("check --all (one namespace)", ["check", "--all", "-n", "team-000"]),
                ("check -A (whole cluster)", ["check", "-A"]),
            ):
                elapsed, reqs, rss, doc = run(server, args)
                services = doc.get("summary", {}).get("services", 1 if doc.get("checks") else 0)
                print(
                    f"{label:30s} {elapsed * 1000:8.0f} ms  {reqs:4d} requests  "
                    f"{rss / 1024:6.1f} MiB peak RSS  {services} services reported"
                )
        finally:
            server.stop()
    _ = resource


if __name__ == "__main__":
    main()
