#!/usr/bin/env python3
"""Start-up cost of the CLI: `waypoint-doctor --help` and a snapshot run, median of N runs.

Prints figures; asserts nothing. The target is "well under a second" for --help, which means
no `kubernetes` import on that path (see the import-time breakdown printed last).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = 7


def timed(args: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(args, capture_output=True, check=False, cwd=REPO)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    py = sys.executable
    baseline = timed([py, "-c", "pass"])
    help_t = timed([py, "-m", "waypoint_doctor", "--help"])
    snap = [
        py,
        "-m",
        "waypoint_doctor",
        "check",
        "mlflow",
        "-n",
        "kagenti-system",
        "--snapshot",
        str(REPO / "examples" / "kagenti-healthy"),
        "-o",
        "json",
    ]
    snap_t = timed(snap)
    print(f"python -c pass                      {baseline * 1000:7.1f} ms (interpreter floor)")
    print(f"waypoint-doctor --help              {help_t * 1000:7.1f} ms")
    print(f"check --snapshot (healthy) -o json  {snap_t * 1000:7.1f} ms")
    out = subprocess.run(
        [py, "-X", "importtime", "-c", "import waypoint_doctor.cli"],
        capture_output=True,
        text=True,
        check=False,
    ).stderr.splitlines()
    rows = []
    for line in out[1:]:
        parts = line.split("|")
        if len(parts) == 3:
            rows.append((int(parts[1].strip()), parts[2].rstrip()))
    print("heaviest imports on the --help path (cumulative µs):")
    for cum, name in sorted(rows, reverse=True)[:8]:
        print(f"  {cum:>8}  {name}")
    print("kubernetes imported on --help path:", any("kubernetes" in n for _, n in rows))


if __name__ == "__main__":
    main()
