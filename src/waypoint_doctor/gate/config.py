"""`.waypoint-doctor.yaml`: the gate of a repository, found from the current directory upward.

```yaml
fail-on: warn                 # fail (default), warn or never
select: [WD3, WD4]            # check IDs or prefixes; default: every check
ignore: [WD410]
suppress:
  - check: WD409
    object: AuthorizationPolicy kagenti-system/legacy-*   # optional: [KIND ]NAMESPACE/NAME
    reason: L4 policy kept until the migration (OPS-1234)
  - WD504=Service kagenti-system/mlflow                    # the --suppress form
```

Flags win: `--fail-on`, `--select` and `--ignore` replace the file's value when given;
`--suppress` adds to the file's suppressions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waypoint_doctor.gate.rules import (
    Selection,
    Suppression,
    parse_check_patterns,
    parse_suppression,
)
from waypoint_doctor.options import UsageError

CONFIG_NAMES = (".waypoint-doctor.yaml", ".waypoint-doctor.yml")
FAIL_ON = ("fail", "warn", "never")
_KEYS = ("fail-on", "select", "ignore", "suppress")
_SUPPRESS_KEYS = ("check", "object", "reason")


@dataclass(frozen=True)
class Gate:
    """What decides the exit code and what a report leaves out or marks suppressed."""

    fail_on: str = "fail"
    selection: Selection = field(default_factory=Selection)
    suppressions: tuple[Suppression, ...] = ()
    config_path: str | None = None  # the file it came from, if any


def find_config(start: Path | None = None) -> Path | None:
    """The nearest `.waypoint-doctor.yaml` in `start` (default: the current directory) or above."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        for name in CONFIG_NAMES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return list(value)
    raise UsageError(f"{where}: expected a list of check IDs or prefixes, e.g. [WD3, WD410]")


def _suppression(item: Any, where: str) -> Suppression:
    if isinstance(item, str):
        return parse_suppression(item, by="config", where=where)
    if not isinstance(item, Mapping):
        raise UsageError(
            f"{where}: expected 'WD409=KIND NAMESPACE/NAME' or a mapping with check, object, reason"
        )
    unknown = sorted(str(k) for k in item if k not in _SUPPRESS_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(_SUPPRESS_KEYS)})")
    check, obj, reason = item.get("check"), item.get("object"), item.get("reason")
    if not isinstance(check, str) or not check.strip():
        raise UsageError(f"{where}: 'check' is required (a check ID or prefix, e.g. WD409)")
    if obj is not None and not isinstance(obj, str):
        raise UsageError(f"{where}: 'object' must be a string: [KIND ]NAMESPACE/NAME")
    if reason is not None and not isinstance(reason, str):
        raise UsageError(f"{where}: 'reason' must be a string")
    text = check.strip() + (f"={obj.strip()}" if obj and obj.strip() else "")
    return parse_suppression(text, by="config", reason=(reason or "").strip() or None, where=where)


@dataclass(frozen=True)
class ConfigFile:
    path: str
    fail_on: str | None = None
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    suppressions: tuple[Suppression, ...] = ()


def load_config(path: Path) -> ConfigFile:
    """Parse one config file; UsageError (exit 2) naming the file for anything malformed."""
    import yaml

    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{where}{at}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        return ConfigFile(where)
    if not isinstance(data, Mapping):
        raise UsageError(f"{where}: expected a mapping with {', '.join(_KEYS)}")
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})")
    fail_on = data.get("fail-on")
    if fail_on is not None and fail_on not in FAIL_ON:
        raise UsageError(f"{where}: fail-on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    select = data.get("select")
    ignore = data.get("ignore")
    raw_suppress = data.get("suppress") or []
    if not isinstance(raw_suppress, list):
        raise UsageError(f"{where}: suppress must be a list")
    return ConfigFile(
        path=where,
        fail_on=fail_on,
        select=None if select is None else parse_check_patterns(_strings(select, f"{where}: select"), where),
        ignore=None if ignore is None else parse_check_patterns(_strings(ignore, f"{where}: ignore"), where),
        suppressions=tuple(
            _suppression(item, f"{where}: suppress[{i}]") for i, item in enumerate(raw_suppress)
        ),
    )


def resolve_gate(
    *,
    fail_on: str | None,
    select: Sequence[str] | None,
    ignore: Sequence[str] | None,
    suppress: Sequence[str] | None,
    config: str | None = None,
    use_config: bool = True,
    cwd: Path | None = None,
) -> Gate:
    """Flags over the config file (`config`, else the nearest one, unless `use_config` is False)."""
    if fail_on is not None and fail_on not in FAIL_ON:
        raise UsageError(f"--fail-on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    file: ConfigFile | None = None
    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise UsageError(f"--config {config}: no such file")
        file = load_config(path)
    elif use_config:
        found = find_config(cwd)
        file = load_config(found) if found is not None else None
    flag_select = parse_check_patterns(select, "--select") if select else None
    flag_ignore = parse_check_patterns(ignore, "--ignore") if ignore else None
    flag_suppress = tuple(parse_suppression(s, by="flag") for s in suppress or ())
    chosen_select = flag_select if flag_select is not None else (file.select if file else None)
    chosen_ignore = flag_ignore if flag_ignore is not None else (file.ignore if file else None)
    return Gate(
        fail_on=fail_on or (file.fail_on if file and file.fail_on else "fail"),
        selection=Selection(chosen_select or (), chosen_ignore or ()),
        suppressions=flag_suppress + (file.suppressions if file else ()),
        config_path=file.path if file else None,
    )
