#!/usr/bin/env python3
"""One service read live, phase by phase, and what each fault of issue 12 does to it.

`scripts/bench_fleet.py --shapes mlflow` gives the headline figure (wall time and requests of
`check mlflow -n kagenti-system` at 50 ms per request, with an older commit beside it). This
one says where that time goes, from the fake API server's request log: start-up (process
launch to the first request), reading the cluster (first request to last answer), and checks,
report and exit; how many requests were in flight at most; and, with `--services N`, that N
more services in the namespace do not change the request count. Then it runs the same check
under each fault the fake server can inject (seeded, so each run sees the same faults) and
prints the exit code, the checks that skipped, the requests a fault hit and how many of those
were asked again and answered whole. Prints figures; asserts nothing.

    python scripts/bench_live.py [--latency-ms 50] [--runs 5] [--services 0] [--faults all|none|reset,...]

The package is byte-compiled first (an installed wheel is; an editable install under
PYTHONDONTWRITEBYTECODE=1 would recompile every module at every start): `--no-compile` skips it.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from benchlib import REPO, Run, run_cli

sys.path.insert(0, str(REPO / "tests"))

from fakeapi.server import FakeApiServer  # test infrastructure, reused on purpose

EXAMPLE = REPO / "examples" / "kagenti-healthy"
NAMESPACE = "kagenti-system"

# The faults of issue 12 (and 8's back-pressure), as the fake API server's fault rules.
FAULTS: dict[str, tuple[str, list[dict[str, Any]], tuple[str, ...]]] = {
    "reset": ("20 % of reads reset mid-body", [{"mid_body": "reset", "probability": 0.2, "seed": 1}], ()),
    "truncate": (
        "20 % of JSON bodies truncated",
        [{"mid_body": "truncate", "probability": 0.2, "seed": 1, "path_regex": r"^/apis?(/|$)"}],
        (),
    ),
    "stall": (
        "the first list stalls after half its body (--request-timeout 2)",
        [{"path_regex": "^/api/v1/namespaces$", "mid_body": "stall", "times": 1, "stall_s": 60}],
        ("--request-timeout", "2"),
    ),
    "5xx": ("20 % of reads answer 503", [{"status": 503, "probability": 0.2, "seed": 1}], ()),
    "429": (
        "30 % of reads answer 429 Retry-After: 1 (at most 4)",
        [{"status": 429, "retry_after": 1, "probability": 0.3, "seed": 5, "times": 4}],
        (),
    ),
    "always-503": (
        "authorizationpolicies always answer 503",
        [{"path_regex": "authorizationpolicies$", "status": 503}],
        (),
    ),
    "never-answers": (
        "every connection is cut before an answer (--request-timeout 1)",
        [{"drop_connection": True}],
        ("--request-timeout", "1"),
    ),
}


def add_services(root: Path, count: int) -> None:
    """`count` more waypoint-bound services with a pod each, in the example's namespace."""
    docs: list[dict[str, Any]] = []
    for i in range(count):
        name = f"extra-{i:03d}"
        labels = {"app": name}
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": name,
                    "namespace": NAMESPACE,
                    "labels": {"istio.io/use-waypoint": "mlflow-waypoint"},
                },
                "spec": {"selector": labels, "ports": [{"name": "http", "port": 8080}]},
            }
        )
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"{name}-0", "namespace": NAMESPACE, "labels": labels},
                "spec": {"nodeName": "kagenti-worker", "containers": [{"name": "app"}]},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
            }
        )
    (root / "extra-services.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")


def env_without_istioctl(home: Path) -> dict[str, str]:
    """The API's cost alone: no istioctl (tests/bin has a stand-in), a private HOME, no KUBE*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "WAYPOINT_DOCTOR"))}
    env.update(HOME=str(home), NO_COLOR="1")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if "tests/bin" not in p)
    return env


def check_once(server: FakeApiServer, home: Path, extra: tuple[str, ...] = ()) -> tuple[Run, float]:
    """One `check mlflow` run, and when it was launched on the server's request-log clock."""
    server.clear_requests()
    launched = time.monotonic() - server.started_at
    args = ["check", "mlflow", "-n", NAMESPACE, "--kubeconfig", str(server.kubeconfig_path), "-o", "json"]
    return run_cli([*args, *extra], env=env_without_istioctl(home), timeout=300), launched


def phases(server: FakeApiServer, launched: float, wall: float) -> tuple[float, float, float]:
    """(launch to the first request, first request to the last answer, the rest)."""
    recs = server.requests
    if not recs:
        return wall, 0.0, 0.0
    first = min(r.started_s for r in recs) - launched
    last = max(r.started_s + r.duration_ms / 1000 for r in recs) - launched
    return first, last - first, wall - last


def most_in_flight(server: FakeApiServer) -> int:
    events = []
    for r in server.requests:
        events += [(r.started_s, 1), (r.started_s + r.duration_ms / 1000, -1)]
    peak = current = 0
    for _, delta in sorted(events):
        current += delta
        peak = max(peak, current)
    return peak


def outcome(run: Run) -> str:
    if run.returncode not in (0, 1):
        last = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else ""
        return f"exit {run.returncode}: {last}"
    checks = json.loads(run.stdout)["checks"]
    skipped = sorted(c["id"] for c in checks if c["status"] == "skip")
    wd101 = next((c for c in checks if c["id"] == "WD101"), None)
    tail = f"; WD101 {wd101['status']}" if wd101 else ""
    return f"exit {run.returncode}, skipped: {', '.join(skipped) or 'none'}{tail}"


def asked_again(server: FakeApiServer) -> tuple[int, int]:
    """(requests a fault hit, of those: asked again later and answered without a fault)."""
    recs = server.requests
    hit = [i for i, r in enumerate(recs) if r.fault]
    recovered = sum(
        1
        for i in hit
        if any(
            (o.method, o.path, o.query) == (recs[i].method, recs[i].path, recs[i].query) and not o.fault
            for o in recs[i + 1 :]
        )
    )
    return len(hit), recovered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--runs", type=int, default=5, help="runs of the fault-free case (median)")
    parser.add_argument("--services", type=int, default=0, help="extra waypoint-bound services")
    parser.add_argument("--faults", default="all", help="all, none, or a comma list of: " + ", ".join(FAULTS))
    parser.add_argument("--no-compile", action="store_true", help="do not byte-compile the package first")
    args = parser.parse_args()
    faults = list(FAULTS) if args.faults == "all" else [] if args.faults == "none" else args.faults.split(",")
    if not args.no_compile:
        compileall.compile_dir(REPO / "src", quiet=1)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "cluster"
        shutil.copytree(EXAMPLE, root)
        if args.services:
            add_services(root, args.services)
        home = Path(tmp)
        print(
            f"check mlflow -n {NAMESPACE}: {args.latency_ms:g} ms per request, "
            f"{args.services} extra services{'' if args.no_compile else ', package byte-compiled'}"
        )
        samples, counts, peaks = [], [], []
        for i in range(args.runs):
            with FakeApiServer(root, latency_ms=args.latency_ms) as server:
                server.write_kubeconfig(Path(tmp) / f"kubeconfig-{i}")
                run, launched = check_once(server, home)
                samples.append((run.seconds, *phases(server, launched, run.seconds)))
                counts.append(len(server.requests))
                peaks.append(most_in_flight(server))
        med = [statistics.median(col) for col in zip(*samples, strict=True)]
        print(
            f"  wall, median of {args.runs}:     {med[0]:.3f} s  [{' '.join(f'{s[0]:.2f}' for s in samples)}]"
        )
        print(f"    start-up to first request: {med[1]:.3f} s")
        print(f"    reading the cluster:       {med[2]:.3f} s")
        print(f"    checks, report, exit:      {med[3]:.3f} s")
        print(f"  requests: {statistics.median(counts):g}, at most {max(peaks)} in flight; {outcome(run)}")

        for name in faults:
            what, rules, extra = FAULTS[name]
            # a fresh server per fault: seeded rules then hit the same requests every run
            with FakeApiServer(root, latency_ms=args.latency_ms, faults=rules) as server:
                server.write_kubeconfig(Path(tmp) / f"kubeconfig-{name}")
                run, _ = check_once(server, home, extra)
                hit, recovered = asked_again(server)
                print(f"\n  [{name}] {what}")
                print(f"    {outcome(run)}")
                print(
                    f"    {run.seconds:.2f} s, {len(server.requests)} requests, {hit} hit by the fault, "
                    f"{recovered} of them asked again and answered whole"
                )


if __name__ == "__main__":
    main()
