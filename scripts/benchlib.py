"""Shared helpers of the benchmarks in scripts/: run the real CLI in a fresh process and measure it.

- :func:`run_cli`: one run of ``python -m waypoint_doctor ...`` (interpreter start included), with
  wall time, peak RSS of that process (``wait4``), exit code, and a timeout that stops it;
- :func:`repeat`: the median of a few runs, with every sample kept for the printout;
- :func:`baseline_source`: the ``src/`` of an older commit, exported with ``git archive``, so a
  benchmark can print the figure of the old code beside the new in the same run;
- :func:`fake_api`: the test suite's fake API server over a scenario directory, with latency.

Benchmarks print figures; they assert nothing. On a shared machine the figures are noisy: the
medians of several runs and the naive baselines measured in the same run are what to compare.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Run:
    seconds: float
    rss_mb: float
    returncode: int | None  # None: stopped at the timeout
    stdout: str = ""
    stderr: str = ""

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def run_cli(
    args: Sequence[str],
    *,
    source: Path | None = None,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    """Run ``python -m waypoint_doctor *args`` in a fresh interpreter; ``source`` is another
    ``src/`` directory to import the package from (a baseline)."""
    full_env = dict(os.environ if env is None else env)
    full_env.pop("PYTHONPATH", None)
    if source is not None:
        full_env["PYTHONPATH"] = str(source)
    full_env.setdefault("COLUMNS", "100")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "waypoint_doctor", *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=REPO,
            start_new_session=True,
        )
        deadline = None if timeout is None else t0 + timeout
        returncode: int | None = None
        rss_kb = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG if deadline is not None else 0)
            if pid:
                returncode = os.waitstatus_to_exitcode(status)
                rss_kb = usage.ru_maxrss
                break
            if deadline is not None and time.perf_counter() >= deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                _, _, usage = os.wait4(proc.pid, 0)
                rss_kb = usage.ru_maxrss
                break
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        proc.returncode = returncode if returncode is not None else -9  # reaped above
        out.seek(0)
        err.seek(0)
        return Run(
            elapsed,
            rss_kb / 1024,
            returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


@dataclass
class Repeated:
    runs: list[Run] = field(default_factory=list)
    extra: list[int] = field(default_factory=list)  # e.g. API requests per run

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def rss_mb(self) -> float:
        return max(r.rss_mb for r in self.runs)

    def samples(self) -> str:
        return " ".join(f"{r.seconds:.2f}" for r in self.runs)


def repeat(fn: Callable[[], tuple[Run, int]], runs: int) -> Repeated:
    out = Repeated()
    for _ in range(runs):
        run, extra = fn()
        out.runs.append(run)
        out.extra.append(extra)
    return out


def baseline_source(ref: str, dest: Path) -> Path | None:
    """Export ``src/`` of ``ref`` into ``dest``; None when this is not a git checkout or the ref
    is unknown."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", ref, "src"], capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def describe_ref(ref: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "log", "-1", "--format=%h %s", ref],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ref


@contextlib.contextmanager
def fake_api(scenario: Path, latency_ms: float | None, workdir: Path) -> Iterator[object]:
    """The fake API server of tests/fakeapi serving ``scenario``; yields the started server (its
    kubeconfig written) and stops it at the end."""
    sys.path.insert(0, str(REPO / "tests"))
    from fakeapi.server import FakeApiServer  # test infrastructure, reused on purpose

    kwargs = {} if latency_ms is None else {"latency_ms": latency_ms}
    server = FakeApiServer(scenario, **kwargs).start()
    try:
        server.write_kubeconfig(workdir / "kubeconfig", "bench", None)
        yield server
    finally:
        server.stop()


def fmt_seconds(run_or_seconds: Run | float, timeout: float | None = None) -> str:
    if isinstance(run_or_seconds, Run):
        if run_or_seconds.timed_out:
            return f"> {timeout or run_or_seconds.seconds:.0f} s (stopped)"
        seconds = run_or_seconds.seconds
    else:
        seconds = run_or_seconds
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"
