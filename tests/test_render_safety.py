"""Text from a cluster is data: it never drives the terminal, and secrets never reach a report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clihelpers import run_cli
from scenariolib import HEALTHY, Cluster

EVIL = "\x1b[2J\x1b]0;owned\x07\x1b[31mred\x9b31m\rover\u202eLTR"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def hostile(tmp_path: Path) -> Path:
    c = Cluster(HEALTHY)
    # a broken Gateway whose status message and a log line carry escapes and a token
    c.set_condition(
        "Gateway",
        "kagenti-system",
        "mlflow-waypoint",
        {
            "type": "Programmed",
            "status": "False",
            "reason": "AddressNotUsable",
            "message": f"Failed to assign to any requested addresses: {EVIL}",
        },
    )
    c.annotate("Service", "kagenti-system", "mlflow", "note", EVIL)
    c.append_log(
        "kagenti-system",
        "mlflow-waypoint-7c9d8b6f4-lhlwp",
        "istio-proxy",
        f'[2026-11-20T10:14:00.000Z] "GET /{EVIL} HTTP/1.1" 403 - rbac_access_denied_matched_policy[none]'
        f' - "-" 0 19 0 - "-" "Bearer {JWT}" "id" "mlflow:5000" "-" '
        "inbound-vip|5000|http|mlflow.kagenti-system.svc.cluster.local - 10.96.47.9:5000 "
        "10.244.0.22:51004 - default",
    )
    return c.write(tmp_path / "hostile")


@pytest.mark.parametrize("fmt", ["table", "markdown", "junit", "json", "yaml", "sarif"])
def test_no_control_characters_or_tokens_in_any_output(fmt: str, tmp_path: Path) -> None:
    snap = hostile(tmp_path)
    res = run_cli("check", "mlflow", "-n", "kagenti-system", "--snapshot", str(snap), "-o", fmt)
    assert res.returncode == 1, res.stderr
    out = res.stdout
    if fmt in ("json", "sarif"):
        out = json.dumps(json.loads(out), ensure_ascii=False)  # escapes would be \u001b in JSON text
    for bad in ("\x1b", "\x07", "\x9b", "\r", "\u202e"):
        assert bad not in out, f"{fmt} output carries {bad!r}"
    assert JWT not in out
