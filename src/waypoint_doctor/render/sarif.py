"""SARIF 2.1.0 for code-scanning UIs: one rule per check, one result per finding.

Findings that carry a file and line (from `lint`) get a physical location; findings about
live objects get a logical location naming the Kubernetes object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import quote

from waypoint_doctor import __version__
from waypoint_doctor.checks.spec import Status
from waypoint_doctor.render.safe import clean_text
from waypoint_doctor.report.model import CheckResult, FleetReport

_LEVEL = {Status.FAIL: "error", Status.ERROR: "error", Status.WARN: "warning"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def artifact_uri(file: str, cwd: Path | None = None) -> str:
    """A file as code scanning wants it: relative to where the tool ran (the repository root
    in CI), else an absolute file:// URI. Never a bare OS path, which is not a URI."""
    path = Path(file)
    if path.is_absolute():
        base = (cwd or Path.cwd()).resolve()
        try:
            path = path.resolve().relative_to(base)
        except ValueError:
            return path.resolve().as_uri()
    return quote(PurePosixPath(*path.parts).as_posix(), safe="/-._~")


def _locations(evidence: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    locs: list[dict[str, Any]] = []
    for e in evidence:
        if e.get("file"):
            region = {"startLine": int(e["line"])} if isinstance(e.get("line"), int) and e["line"] > 0 else {}
            phys: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(str(e["file"]))}}
            if region:
                phys["region"] = region
            locs.append({"physicalLocation": phys})
        elif e.get("kind") and e.get("name"):
            fq = "/".join(str(x) for x in (e.get("kind"), e.get("namespace"), e.get("name")) if x)
            locs.append({"logicalLocations": [{"fullyQualifiedName": clean_text(fq), "kind": "resource"}]})
    return locs[:10]


def _suppression(r: CheckResult) -> dict[str, Any]:
    """SARIF §3.35: an annotation on the object is the manifest's own word ("inSource"); a flag
    or the config file is "external". Code scanning lists such results as dismissed."""
    assert r.suppressed is not None
    out: dict[str, Any] = {
        "kind": "inSource" if r.suppressed.by == "annotation" else "external",
        "status": "accepted",
        "properties": {"by": r.suppressed.by, "rule": clean_text(r.suppressed.rule)},
    }
    if r.suppressed.reason:
        out["justification"] = clean_text(r.suppressed.reason)
    return out


def _all_checks(report: Any) -> list[CheckResult]:
    if isinstance(report, FleetReport):
        return [*report.cluster_checks, *(c for s in report.services for c in s.checks)]
    return list(report.checks)


def render_sarif(report: Any, out: IO[str], color: bool = False) -> None:
    checks = _all_checks(report)
    rules: dict[str, dict[str, Any]] = {}
    for r in sorted(checks, key=lambda c: c.id):
        # No helpUri: it must be an absolute URI and the doc is a path in our repository.
        rules.setdefault(
            r.id,
            {
                "id": r.id,
                "name": "".join(w[:1].upper() + w[1:] for w in r.title.replace("-", " ").split()),
                "shortDescription": {"text": r.title},
                "help": {"text": f"{r.title}. Documentation: {r.doc} in the waypoint-doctor repository."},
                "properties": {"category": r.category, "doc": r.doc},
            },
        )
    index = {rule_id: i for i, rule_id in enumerate(rules)}
    results = []
    for r in checks:
        if r.status not in _LEVEL:
            continue
        text = clean_text(r.message)
        if r.remediation:
            text += "\nFix: " + clean_text(r.remediation)
        result: dict[str, Any] = {
            "ruleId": r.id,
            "ruleIndex": index[r.id],
            "level": _LEVEL[r.status],
            "message": {"text": text},
        }
        locs = _locations(r.evidence)
        if locs:
            result["locations"] = locs
        if r.suppressed is not None:
            result["suppressions"] = [_suppression(r)]
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "waypoint-doctor",
                        "version": __version__,
                        "informationUri": "https://istio.io/latest/docs/ambient/",
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
            }
        ],
    }
    json.dump(doc, out, indent=2)
    out.write("\n")
