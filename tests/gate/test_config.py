"""`.waypoint-doctor.yaml`: found from the current directory upward, parsed strictly, and
overridden by flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from waypoint_doctor.gate.config import Gate, find_config, load_config, resolve_gate
from waypoint_doctor.gate.rules import Selection
from waypoint_doctor.options import UsageError

CONFIG = """\
fail-on: warn
select: [WD3, WD4]
ignore: WD410
suppress:
  - check: WD409
    object: AuthorizationPolicy kagenti-system/legacy-*
    reason: L4 policy kept until OPS-1234
  - WD504=Service kagenti-system/mlflow
  - check: WD2
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_found_from_a_subdirectory_upward(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "repo" / ".waypoint-doctor.yaml", CONFIG)
    deep = tmp_path / "repo" / "deploy" / "k8s"
    deep.mkdir(parents=True)
    assert find_config(deep) == cfg
    assert find_config(tmp_path) != cfg  # not below where we start


def test_nearest_file_wins(tmp_path: Path) -> None:
    _write(tmp_path / ".waypoint-doctor.yaml", "fail-on: never\n")
    near = _write(tmp_path / "sub" / ".waypoint-doctor.yml", "fail-on: warn\n")
    assert find_config(tmp_path / "sub") == near


def test_every_field_parsed(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path / ".waypoint-doctor.yaml", CONFIG))
    assert cfg.fail_on == "warn" and cfg.select == ("WD3", "WD4") and cfg.ignore == ("WD410",)
    first, second, third = cfg.suppressions
    assert (first.check, first.kind, first.namespace, first.name) == (
        "WD409",
        "AuthorizationPolicy",
        "kagenti-system",
        "legacy-*",
    )
    assert first.reason == "L4 policy kept until OPS-1234" and first.by == "config"
    assert first.rule == "WD409=AuthorizationPolicy kagenti-system/legacy-*"
    assert second.rule == "WD504=Service kagenti-system/mlflow" and second.reason is None
    assert third.rule == "WD2" and third.name == "*"


def test_flags_win_and_suppressions_add_up(tmp_path: Path) -> None:
    _write(tmp_path / ".waypoint-doctor.yaml", CONFIG)
    gate = resolve_gate(fail_on=None, select=None, ignore=None, suppress=None, cwd=tmp_path)
    assert gate.fail_on == "warn" and gate.selection == Selection(("WD3", "WD4"), ("WD410",))
    assert gate.config_path == str(tmp_path / ".waypoint-doctor.yaml")
    gate = resolve_gate(fail_on="fail", select=["WD5"], ignore=["WD501"], suppress=["WD502=x"], cwd=tmp_path)
    assert gate.fail_on == "fail" and gate.selection == Selection(("WD5",), ("WD501",))
    assert [s.by for s in gate.suppressions] == ["flag", "config", "config", "config"]
    no_file = resolve_gate(
        fail_on=None, select=None, ignore=None, suppress=None, use_config=False, cwd=tmp_path
    )
    assert no_file == Gate()


def test_explicit_config_path(tmp_path: Path) -> None:
    path = _write(tmp_path / "gate.yaml", "fail-on: never\n")
    assert (
        resolve_gate(fail_on=None, select=None, ignore=None, suppress=None, config=str(path)).fail_on
        == "never"
    )
    with pytest.raises(UsageError, match="no such file"):
        resolve_gate(fail_on=None, select=None, ignore=None, suppress=None, config=str(tmp_path / "x.yaml"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fail_on: warn\n", "unknown key 'fail_on'"),
        ("fail-on: sometimes\n", "fail-on must be one of fail, warn, never"),
        ("select: [WD9x]\n", "invalid check 'WD9x'"),
        ("select: {a: 1}\n", "expected a list"),
        ("suppress: WD409\n", "suppress must be a list"),
        ("suppress: [{object: x}]\n", r"suppress\[0\]: 'check' is required"),
        ("suppress: [{check: WD409, why: x}]\n", "unknown key 'why'"),
        ("suppress: ['WD409=a b c']\n", r"suppress\[0\]"),
        ("- a\n- b\n", "expected a mapping"),
        ("fail-on: [\n", ":2: invalid YAML"),
    ],
)
def test_malformed_config_is_a_usage_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path / ".waypoint-doctor.yaml", text)
    with pytest.raises(UsageError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_empty_config_is_no_config(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path / ".waypoint-doctor.yaml", "# nothing yet\n"))
    assert cfg.fail_on is None and cfg.select is None and cfg.suppressions == ()
