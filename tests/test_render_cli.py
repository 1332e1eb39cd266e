"""What a user sees through the real CLI: terminal width, colour switches, exit codes per format."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from clihelpers import REPO, run_cli
from scenarios import all_scenarios

BROKEN = str(REPO / "examples" / "kagenti-broken")
HEALTHY = str(REPO / "examples" / "kagenti-healthy")
FORMATS = ("table", "json", "yaml", "markdown", "junit", "sarif")
# Lines we deliberately leave to the terminal to soft-wrap: commands and YAML in a fix.
_CODE = re.compile(r"^ {4}(\S.*)$")


def _warn_only(tmp_path: Path) -> str:
    scenario = next(s for s in all_scenarios() if s.name == "ingress-bypasses-waypoint")
    return str(scenario.build(tmp_path / scenario.name))


@pytest.mark.parametrize("columns", [80, 200])
def test_table_fits_the_terminal(columns: int) -> None:
    res = run_cli(
        "check", "mlflow", "-n", "kagenti-system", "--snapshot", BROKEN, env={"COLUMNS": str(columns)}
    )
    assert res.returncode == 1 and res.stderr == ""
    lines = res.stdout.splitlines()
    too_long = [line for line in lines if len(line) > columns and not _CODE.match(line)]
    assert not too_long
    assert not [line for line in lines if line.endswith(" ")]
    # the headline names the first root cause, last, where the eye lands
    grade = next(i for i, line in enumerate(lines) if line.startswith("Grade "))
    assert lines[grade].startswith("Grade D")
    assert " ".join(lines[grade + 1 :]).startswith("Fix first: WD401")


@pytest.mark.parametrize("fmt", FORMATS)
def test_exit_codes_in_every_format(fmt: str, tmp_path: Path) -> None:
    warn_only = _warn_only(tmp_path)
    cases = [(BROKEN, "fail", 1), (HEALTHY, "warn", 0), (warn_only, "fail", 0), (warn_only, "warn", 1)]
    for snapshot, fail_on, expected in cases:
        res = run_cli(
            "check", "mlflow", "-n", "kagenti-system", "--snapshot", snapshot, "-o", fmt, "--fail-on", fail_on
        )
        assert res.returncode == expected, (snapshot, fail_on, res.stderr)
        assert res.stderr == ""
        if fmt == "json":
            json.loads(res.stdout)
        elif fmt == "yaml":
            yaml.safe_load(res.stdout)
        elif fmt == "junit":
            root = ET.fromstring(res.stdout)
            # the JUnit verdict agrees with the exit code under the same threshold
            bad = sum(int(s.get("failures")) + int(s.get("errors")) for s in root.iter("testsuite"))
            assert (bad > 0) == (expected == 1)
        elif fmt == "sarif":
            assert json.loads(res.stdout)["version"] == "2.1.0"


def _on_a_tty(*args: str, env: dict[str, str]) -> str:
    """Run the CLI with stdout on a pseudo-terminal, as a person would see it."""
    leader, follower = pty.openpty()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "WAYPOINT_DOCTOR", "NO_COLOR"))}
    base.update({"COLUMNS": "100", "TERM": "xterm-256color", **env})
    proc = subprocess.Popen(
        [sys.executable, "-m", "waypoint_doctor", *args],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=base,
        cwd=REPO,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize(
    ("env", "flags", "coloured"),
    [({}, (), True), ({"NO_COLOR": "1"}, (), False), ({}, ("--no-color",), False)],
)
def test_colour_only_on_a_terminal_and_never_when_asked(env, flags, coloured) -> None:
    out = _on_a_tty("check", "mlflow", "-n", "kagenti-system", "--snapshot", BROKEN, *flags, env=env)
    assert "WD409" in out
    assert ("\x1b[" in out) == coloured
    piped = run_cli("check", "mlflow", "-n", "kagenti-system", "--snapshot", BROKEN, env={"NO_COLOR": ""})
    assert "\x1b[" not in piped.stdout
