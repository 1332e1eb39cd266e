"""Markdown for tickets: a summary table, then the detail of every finding that needs action."""

from __future__ import annotations

from typing import IO, Any

from waypoint_doctor.checks.spec import Status
from waypoint_doctor.render.evidence import evidence_line
from waypoint_doctor.render.safe import clean_text
from waypoint_doctor.report.model import CheckResult, FleetReport, Report

_ICON = {"pass": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️", "error": "💥", "info": "ℹ️"}


def _cell(text: str) -> str:
    return clean_text(text, keep_newlines=False).replace("|", "\\|")


def _fence(text: str) -> str:
    body = clean_text(text)
    fence = "```"
    while fence in body:
        fence += "`"
    return f"{fence}\n{body}\n{fence}"


def _checks_md(checks: tuple[CheckResult, ...], lines: list[str]) -> None:
    lines += ["| Status | ID | Check | Finding |", "|---|---|---|---|"]
    for r in sorted(checks, key=lambda r: r.id):
        lines.append(
            f"| {_ICON[r.status.value]} {r.status.value} | {r.id} | {_cell(r.title)} | {_cell(r.message)} |"
        )
    lines.append("")
    for r in sorted(checks, key=lambda r: r.id):
        if r.status not in (Status.FAIL, Status.WARN, Status.ERROR):
            continue
        lines += [f"### {r.id} {_cell(r.title)} ({r.status.value})", "", _cell(r.message), ""]
        if r.evidence:
            lines.append("Evidence:")
            lines += ["- `" + _cell(evidence_line(e)).replace("`", "'") + "`" for e in r.evidence]
            lines.append("")
        if r.remediation:
            lines += ["Fix:", "", _fence(r.remediation), ""]
        lines += [f"See [{r.doc}]({r.doc}).", ""]


def _service_md(report: Report, lines: list[str], level: str = "#") -> None:
    t = report.target
    lines += [
        f"{level} waypoint-doctor: {t.kind} {_cell(t.namespace)}/{_cell(t.name)}",
        "",
        f"**Grade {report.grade}** (score {report.score}/100). {_cell(report.headline)}",
        "",
        f"Source: {_cell(report.source.get('kind', ''))} "
        f"{_cell(report.source.get('context') or report.source.get('path') or '')}; generated {report.generated_at}.",
        "",
    ]
    _checks_md(report.checks, lines)


def render_markdown(report: Any, out: IO[str], color: bool = False) -> None:
    lines: list[str] = []
    if isinstance(report, FleetReport):
        lines += ["# waypoint-doctor fleet report", "", "## Cluster-wide checks", ""]
        _checks_md(report.cluster_checks, lines)
        lines += ["## Services", "", "| Grade | Score | Service | First thing to fix |", "|---|---|---|---|"]
        for s in report.services:
            lines.append(
                f"| {s.grade} | {s.score} | {_cell(s.target.namespace)}/{_cell(s.target.name)} | {_cell(s.headline)} |"
            )
        lines.append("")
        for s in report.services:
            _service_md(s, lines, level="##")
    else:
        _service_md(report, lines)
    out.write("\n".join(lines).rstrip() + "\n")
