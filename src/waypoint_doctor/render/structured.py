"""JSON and YAML: the report model's dict form, on stdout alone."""

from __future__ import annotations

import json
from typing import IO, Any


def render_json(report: Any, out: IO[str], color: bool = False) -> None:
    json.dump(report.as_dict(), out, indent=2, ensure_ascii=False)
    out.write("\n")


def render_yaml(report: Any, out: IO[str], color: bool = False) -> None:
    import yaml

    yaml.safe_dump(report.as_dict(), out, sort_keys=False, allow_unicode=True, width=120)
