"""The CLI contract: exit codes, clean errors, fast start, every output format."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml

from clihelpers import REPO, run_cli

HEALTHY = str(REPO / "examples" / "kagenti-healthy")


def dead_end_kubeconfig(tmp_path: Path, server: str, namespace: str | None = None) -> Path:
    """A kubeconfig whose server nothing listens on."""
    context: dict[str, str] = {"cluster": "x", "user": "x"}
    if namespace:
        context["namespace"] = namespace
    kc = tmp_path / "kubeconfig"
    kc.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "clusters": [{"name": "x", "cluster": {"server": server}}],
                "users": [{"name": "x", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": context}],
            }
        )
    )
    return kc


SCHEMA = json.loads((REPO / "src/waypoint_doctor/schema/report.schema.json").read_text())


def test_help_does_not_import_kubernetes() -> None:
    code = "import sys, waypoint_doctor.cli; print('kubernetes' in sys.modules, 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "False"


def test_help_lists_commands() -> None:
    res = run_cli("--help")
    assert res.returncode == 0
    assert "check" in res.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["check", "MLflow", "-n", "kagenti-system"], "invalid service name"),
        (["check", "mlflow", "-n", "Kagenti_System"], "invalid namespace"),
        (["check", "mlflow", "-n", "a" * 64], "invalid namespace"),
        (["check", "-n", "kagenti-system"], "name a SERVICE"),
        (["check", "mlflow", "-o", "xml"], "unknown output format"),
        (["check", "mlflow", "--since", "soon"], "invalid duration"),
    ],
)
def test_bad_input_is_refused_before_any_request(args: list[str], needle: str, tmp_path: Path) -> None:
    # a kubeconfig pointing nowhere: if the CLI made a request it would exit 3, not 2
    kc = dead_end_kubeconfig(tmp_path, "https://127.0.0.1:1")
    res = run_cli(*args, env={"KUBECONFIG": str(kc)})
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr
    assert "Traceback" not in res.stderr


def test_no_kubeconfig_exits_3_with_one_line(tmp_path: Path) -> None:
    res = run_cli("check", "mlflow", "-n", "kagenti-system", home=tmp_path)
    assert res.returncode == 3
    assert "no kubeconfig" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert res.stdout == ""


def test_missing_kubeconfig_file_exits_3(tmp_path: Path) -> None:
    res = run_cli("check", "mlflow", "--kubeconfig", str(tmp_path / "nope"), home=tmp_path)
    assert res.returncode == 3
    assert "does not exist" in res.stderr


def test_unreachable_server_exits_3(tmp_path: Path) -> None:
    kc = dead_end_kubeconfig(tmp_path, "https://127.0.0.1:9", namespace="kagenti-system")
    res = run_cli("check", "mlflow", env={"KUBECONFIG": str(kc)}, home=tmp_path)
    assert res.returncode == 3, res.stderr
    assert "cannot reach the Kubernetes API" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_unknown_context_exits_3(tmp_path: Path) -> None:
    kc = dead_end_kubeconfig(tmp_path, "https://127.0.0.1:9")
    res = run_cli("check", "mlflow", "--context", "prod", env={"KUBECONFIG": str(kc)}, home=tmp_path)
    assert res.returncode == 3
    assert "prod" in res.stderr


def test_unreadable_snapshot_exits_2(tmp_path: Path) -> None:
    res = run_cli("check", "mlflow", "--snapshot", str(tmp_path / "missing"))
    assert res.returncode == 2
    assert "cannot read snapshot" in res.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.yaml").write_text("kind: [unclosed\n")
    res = run_cli("check", "mlflow", "--snapshot", str(bad))
    assert res.returncode == 2
    assert "x.yaml" in res.stderr and "line" in res.stderr


def test_json_report_validates_against_schema() -> None:
    res = run_cli("check", "mlflow", "-n", "kagenti-system", "--snapshot", HEALTHY, "-o", "json")
    assert res.returncode in (0, 1), res.stderr
    doc = json.loads(res.stdout)  # stdout holds the JSON alone
    jsonschema.validate(doc, SCHEMA)
    assert doc["target"] == {"kind": "Service", "namespace": "kagenti-system", "name": "mlflow"}
    assert doc["source"]["kind"] == "snapshot"


@pytest.mark.parametrize("fmt", ["table", "yaml", "markdown", "junit", "sarif"])
def test_every_format_renders(fmt: str) -> None:
    res = run_cli("check", "mlflow", "-n", "kagenti-system", "--snapshot", HEALTHY, "-o", fmt)
    assert res.returncode in (0, 1), res.stderr
    assert "Traceback" not in res.stderr
    if fmt == "yaml":
        assert yaml.safe_load(res.stdout)["schema_version"] == "1"
    elif fmt == "junit":
        assert ET.fromstring(res.stdout).tag == "testsuites"
    elif fmt == "sarif":
        assert json.loads(res.stdout)["version"] == "2.1.0"
    elif fmt == "markdown":
        assert res.stdout.startswith("# waypoint-doctor")
    else:
        assert "Grade" in res.stdout
        assert "\x1b[" not in res.stdout  # no colour when not a terminal


def test_empty_snapshot_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here")
    res = run_cli("check", "mlflow", "-n", "kagenti-system", "--snapshot", str(empty))
    assert res.returncode == 2
    assert "no Kubernetes objects" in res.stderr
