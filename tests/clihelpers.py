"""Run the real CLI as a user would: a subprocess with a controlled environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
    home: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "WAYPOINT_DOCTOR"))}
    if home is not None:
        base["HOME"] = str(home)
    base["NO_COLOR"] = "1"
    base.pop("KUBERNETES_SERVICE_HOST", None)
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "waypoint_doctor", *args],
        capture_output=True,
        text=True,
        env=base,
        timeout=timeout,
        cwd=cwd or REPO,
        stdin=subprocess.DEVNULL,
    )
