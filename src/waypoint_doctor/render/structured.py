"""JSON and YAML: the report model's dict form, on stdout alone."""

from __future__ import annotations

import json
from typing import IO, Any


def _as_dict(report: Any) -> dict[str, Any]:
    return report.as_dict() if hasattr(report, "as_dict") else report.to_dict()


def render_json(report: Any, out: IO[str], color: bool = False) -> None:
    json.dump(_as_dict(report), out, indent=2, ensure_ascii=False)
    out.write("\n")


def render_yaml(report: Any, out: IO[str], color: bool = False) -> None:
    import yaml

    yaml.safe_dump(_as_dict(report), out, sort_keys=False, allow_unicode=True, width=120)
