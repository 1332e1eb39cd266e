#!/usr/bin/env python3
"""Benchmark the ztunnel access-log parser on a generated log.

Generates a realistic ztunnel log (mixed successes, policy rejections, 15008 timeouts, refused
connections, early denies, non-access noise) in a temporary directory, then times:

- the parser streaming over the file (records/s and MB/s),
- ``grep -c 'connection complete'`` on the same file, as a floor for "just reading it",
- peak memory: the tracemalloc peak while streaming, and the max RSS of a fresh process that
  streams the file compared with one that only imports the parser.

Prints figures; asserts nothing. Usage::

    python scripts/bench_logs.py [--size-mb 100] [--json] [--keep]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from waypoint_doctor.logs.ztunnel import iter_events

NAMESPACES = ["default", "trading", "payments-prod", "bookinfo", "shop"]
APPS = [
    "curl",
    "frontend",
    "orders-api",
    "ratings-v1",
    "reviews-v2",
    "productpage-v1",
    "checkout-service",
    "payment-gateway",
    "service-b-v1",
]
ERRORS_INBOUND = [
    "connection closed due to policy rejection: allow policies exist, but none allowed",
    "connection closed due to policy rejection: explicitly denied by: {ns}/deny-legacy",
    "connection closed due to policy rejection",
]
ERRORS_OUTBOUND = [
    "connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008: deadline has elapsed",
    "io error: Connection refused (os error 111)",
    "http status: 401 Unauthorized",
    "no healthy upstream: 10.96.12.7:8080",
]


def _pod(app: str, rng: random.Random) -> str:
    return f"{app}-{rng.randrange(16**9):09x}-{rng.randrange(36**5):05x}"


def _ip(rng: random.Random) -> str:
    return f"10.244.{rng.randrange(8)}.{rng.randrange(2, 250)}"


def _text_line(ts: datetime, rng: random.Random) -> str:
    roll = rng.random()
    stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if roll < 0.03:
        return f'{stamp}\tinfo\txds::client:xds{{id=7}}\treceived response\ttype_url="type.googleapis.com/istio.workload.Address" size={rng.randrange(1, 40)} removes=0'
    src_ns, dst_ns = rng.choice(NAMESPACES), rng.choice(NAMESPACES)
    src_app, dst_app = rng.choice(APPS), rng.choice(APPS)
    src_ip, dst_ip = _ip(rng), _ip(rng)
    port = rng.choice([8080, 9080, 80, 5000])
    outbound = rng.random() < 0.5
    via_waypoint = outbound and rng.random() < 0.4
    if roll < 0.05:
        err = rng.choice(ERRORS_INBOUND).format(ns=dst_ns)
        return (
            f"{stamp}\twarn\taccess\tconnection failed\tsrc.addr={src_ip}:{rng.randrange(30000, 60000)} "
            f'dst.addr={dst_ip}:15008 direction="inbound" error="{err}"'
        )
    dst_workload = f"waypoint-{rng.randrange(16**9):09x}-x1y2z" if via_waypoint else _pod(dst_app, rng)
    dst_sa = "waypoint" if via_waypoint else dst_app
    plaintext = rng.random() < 0.03  # no mTLS: no identities
    passthrough = rng.random() < 0.02  # unknown destination: no service
    parts = [
        f"{stamp}\t{{level}}\taccess\tconnection complete\tsrc.addr={src_ip}:{rng.randrange(30000, 60000)}",
        f'src.workload="{_pod(src_app, rng)}"',
        f'src.namespace="{src_ns}"',
        f'src.identity="spiffe://cluster.local/ns/{src_ns}/sa/{src_app}"',
        f"dst.addr={dst_ip}:{15008 if outbound else port}",
        f"dst.hbone_addr={dst_ip}:{port}",
        f'dst.service="{dst_app}.{dst_ns}.svc.cluster.local"',
        f'dst.workload="{dst_workload}"',
        f'dst.namespace="{dst_ns}"',
        f'dst.identity="spiffe://cluster.local/ns/{dst_ns}/sa/{dst_sa}"',
    ]
    if plaintext:
        parts = [p for p in parts if "identity=" not in p]
    if passthrough:
        parts = [p for p in parts if not p.startswith(("dst.service=", "dst.hbone_addr="))]
    parts += [
        f'direction="{"outbound" if outbound else "inbound"}"',
        f"bytes_sent={rng.randrange(0, 20000)}",
        f"bytes_recv={rng.randrange(0, 20000)}",
        f'duration="{rng.randrange(0, 3000)}ms"',
    ]
    level = "info"
    if roll < 0.15:
        level = "error"
        err = rng.choice(ERRORS_OUTBOUND if outbound else ERRORS_INBOUND).format(ns=dst_ns)
        parts.append(f'error="{err}"')
    return " ".join(parts).replace("{level}", level)


def _json_line(ts: datetime, rng: random.Random) -> str:
    import json

    text = _text_line(ts, rng)
    from waypoint_doctor.logs.ztunnel import PolicyDecision, parse_line

    rec = parse_line(text)
    if rec is None or isinstance(rec, PolicyDecision):
        return json.dumps(
            {
                "level": "info",
                "time": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "scope": "xds::client",
                "message": "received response",
            }
        )
    obj = {
        "level": rec.level,
        "time": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "scope": "access",
        "message": rec.message,
    }
    for name, key in (
        ("src_addr", "src.addr"),
        ("src_workload", "src.workload"),
        ("src_namespace", "src.namespace"),
        ("src_identity", "src.identity"),
        ("dst_addr", "dst.addr"),
        ("dst_hbone_addr", "dst.hbone_addr"),
        ("dst_service", "dst.service"),
        ("dst_workload", "dst.workload"),
        ("dst_namespace", "dst.namespace"),
        ("dst_identity", "dst.identity"),
        ("direction", "direction"),
        ("bytes_sent", "bytes_sent"),
        ("bytes_recv", "bytes_recv"),
        ("error", "error"),
    ):
        value = getattr(rec, name)
        if value is not None:
            obj[key] = value
    if rec.duration_ms is not None:
        obj["duration"] = f"{rec.duration_ms}ms"
    return json.dumps(obj)


def generate(path: Path, size_mb: int, as_json: bool, seed: int = 7) -> int:
    rng = random.Random(seed)
    target = size_mb * 1024 * 1024
    ts = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    written = 0
    make = _json_line if as_json else _text_line
    # Generate a pool of lines once and cycle through it with fresh timestamps: realistic
    # content, and generation does not dominate the benchmark's wall time.
    pool = [make(ts, rng) for _ in range(20000)]
    stamp_len = len("2026-11-20T08:00:00.000000Z")
    with open(path, "w", encoding="utf-8") as fh:
        i = 0
        while written < target:
            ts += timedelta(microseconds=rng.randrange(50, 5000))
            line = pool[i % len(pool)]
            stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if as_json:
                at = line.find('"time": "') + len('"time": "')
                end = line.find('"', at)
                line = line[:at] + stamp + line[end:]
            else:
                line = stamp + line[stamp_len:]
            fh.write(line)
            fh.write("\n")
            written += len(line) + 1
            i += 1
    return path.stat().st_size


def bench_parse(path: Path) -> dict[str, float]:
    gc.collect()
    t0 = time.perf_counter()
    n = errors = 0
    for ev in iter_events(path):
        n += 1
        if getattr(ev, "failure", None) is not None:
            errors += 1
    elapsed = time.perf_counter() - t0
    size = path.stat().st_size
    return {
        "records": n,
        "with_error": errors,
        "seconds": elapsed,
        "mb_s": size / elapsed / 1e6,
    }


_CHILD = """
import resource, sys
sys.path.insert(0, {src!r})
from waypoint_doctor.logs.ztunnel import iter_events
from pathlib import Path
if {parse!r}:
    for _ in iter_events(Path({path!r})):
        pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_child_rss(path: Path) -> tuple[float, float]:
    """Max RSS (MB) of a fresh interpreter that imports the parser, and of one that also
    streams the whole file: the difference is what parsing costs in memory."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = []
    for parse in (False, True):
        code = _CHILD.format(src=src, path=str(path), parse=parse)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        out.append(int(res.stdout.strip()) / 1024.0)
    return out[0], out[1]


def bench_tracemalloc(path: Path) -> float:
    """Peak Python allocation while streaming the whole file (tracemalloc slows parsing down)."""
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    for _ in iter_events(path):
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (peak - base) / 1e6


def bench_grep(path: Path) -> dict[str, float] | None:
    grep = shutil.which("grep")
    if not grep:
        return None
    t0 = time.perf_counter()
    out = subprocess.run(
        [grep, "-c", "connection complete", str(path)], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - t0
    return {
        "count": int(out.stdout.strip() or 0),
        "seconds": elapsed,
        "mb_s": path.stat().st_size / elapsed / 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--json", action="store_true", help="also benchmark the JSON log form")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--no-tracemalloc", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="wd-bench-"))
    try:
        forms = [("text", False)] + ([("json", True)] if args.json else [])
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.size_mb} MB per form")
        for name, as_json in forms:
            path = tmp / f"ztunnel-{name}.log"
            t0 = time.perf_counter()
            size = generate(path, args.size_mb, as_json)
            print(f"\n[{name}] generated {size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s: {path}")
            # Warm the page cache so both measurements read from memory.
            with open(path, "rb") as fh:
                while fh.read(1 << 24):
                    pass
            grep = bench_grep(path)
            if grep:
                print(
                    f"[{name}] grep -c      : {grep['seconds']:.2f}s  {grep['mb_s']:8.1f} MB/s  ({grep['count']} lines)"
                )
            res = bench_parse(path)
            print(
                f"[{name}] parser       : {res['seconds']:.2f}s  {res['mb_s']:8.1f} MB/s  "
                f"({res['records']} records, {res['with_error']} with error, "
                f"{res['records'] / res['seconds']:,.0f} records/s)"
            )
            base, parsed = bench_child_rss(path)
            print(
                f"[{name}] max RSS of a fresh process: {base:.1f} MB importing the parser, "
                f"{parsed:.1f} MB after streaming the file (+{parsed - base:.1f} MB)"
            )
            if grep:
                print(f"[{name}] parser/grep speed ratio: {res['mb_s'] / grep['mb_s']:.2f}")
            if not args.no_tracemalloc:
                peak = bench_tracemalloc(path)
                print(f"[{name}] tracemalloc peak while streaming the whole file: {peak:.1f} MB")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
