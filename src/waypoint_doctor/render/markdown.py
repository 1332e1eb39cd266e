"""Markdown for tickets (GitHub-flavoured): what needs action first, the full checklist folded.

A ticket reader wants the few findings that need action, their evidence and a fix to paste;
the 30 checks that passed are one click away in a <details> block, not in the way.
"""

from __future__ import annotations

from typing import IO, Any

from waypoint_doctor.checks.spec import Status
from waypoint_doctor.render.evidence import evidence_line
from waypoint_doctor.render.remediation import split_remediation
from waypoint_doctor.render.safe import clean_text
from waypoint_doctor.report.model import CheckResult, FleetReport, Report

_ICON = {"pass": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️", "error": "💥", "info": "ℹ️"}
_ACTION = (Status.FAIL, Status.ERROR, Status.WARN)
_FENCE_LANG = {"yaml": "yaml", "shell": "sh"}


def _cell(text: str) -> str:
    """One table cell: one line, `|` escaped (GitHub splits cells on it even in code spans)."""
    return clean_text(text, keep_newlines=False).replace("|", "\\|")


def _inline(text: str) -> str:
    """Running text outside tables: one line, no markup characters a cluster could inject."""
    out = clean_text(text, keep_newlines=False)
    for ch in ("\\", "*", "_", "[", "]", "<", ">", "#", "`"):
        out = out.replace(ch, "\\" + ch)
    return out


def _code_span(text: str) -> str:
    """Inline code that survives backticks in the text (CommonMark: a longer delimiter)."""
    body = clean_text(text, keep_newlines=False)
    ticks = "`"
    while ticks in body:
        ticks += "`"
    pad = " " if body.startswith("`") or body.endswith("`") or ticks != "`" else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"


def _fence(text: str, lang: str = "") -> str:
    body = clean_text(text)
    fence = "```"
    while fence in body:
        fence += "`"
    return f"{fence}{lang}\n{body}\n{fence}"


def _remediation_md(text: str) -> list[str]:
    lines: list[str] = []
    for block in split_remediation(clean_text(text)):
        if block.kind == "prose":
            lines += [_inline(" ".join(block.text.split())), ""]
        else:
            lines += [_fence(block.text, _FENCE_LANG.get(block.kind, "")), ""]
    return lines


def _row(r: CheckResult) -> str:
    status = f"{_ICON[r.status.value]} {r.status.value}"
    message = r.message
    if r.suppressed is not None:
        status += " (suppressed)"
        message = f"({r.suppressed.describe()}) {message}"
    return f"| {status} | {r.id} | {_cell(r.title)} | {_cell(message)} |"


_HEADER = ["| Status | ID | Check | Finding |", "|---|---|---|---|"]


def _checks_md(checks: tuple[CheckResult, ...], lines: list[str], level: str = "###") -> None:
    ordered = sorted(checks, key=lambda r: r.id)
    action = [r for r in ordered if r.status in _ACTION and r.suppressed is None]
    if action:
        lines += [*_HEADER, *(_row(r) for r in action), ""]
    else:
        lines += ["Nothing needs action.", ""]
    counts = {s: sum(1 for r in ordered if r.status.value == s and r.suppressed is None) for s in _ICON}
    counts["suppressed"] = sum(1 for r in ordered if r.suppressed is not None)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines += [
        "<details>",
        f"<summary>All {len(ordered)} checks ({summary})</summary>",
        "",
        *_HEADER,
        *(_row(r) for r in ordered),
        "",
        "</details>",
        "",
    ]
    for r in action:
        lines += [f"{level} {r.id} {_inline(r.title)} ({r.status.value})", "", _inline(r.message), ""]
        if r.evidence:
            lines.append("Evidence:")
            lines += ["- " + _code_span(evidence_line(e, r.message)) for e in r.evidence[:20]]
            if len(r.evidence) > 20:
                lines.append(f"- … and {len(r.evidence) - 20} more (see `-o json`)")
            lines.append("")
        if r.remediation:
            lines += ["Fix:", "", *_remediation_md(r.remediation)]
        if r.doc:
            lines += [f"Doc: {_code_span(r.doc)}", ""]


def _service_md(report: Report, lines: list[str], level: str = "#") -> None:
    t = report.target
    src = report.source
    where = src.get("context") or src.get("path") or ""
    lines += [
        f"{level} waypoint-doctor: {t.kind} {_inline(t.namespace)}/{_inline(t.name)}",
        "",
        f"**Grade {report.grade}** (score {report.score}/100). {_inline(report.headline)}",
        "",
        f"Source: {_inline(src.get('kind', ''))} {_inline(where)}; generated {report.generated_at}.",
        "",
    ]
    s = report.summary
    verdicts = sum(s.get(k, 0) for k in ("pass", "warn", "fail", "error"))
    if s.get("skip", 0) > verdicts:  # a grade earned by skipping must not read as healthy
        lines += [
            f"> **Only {verdicts} of {verdicts + s.get('skip', 0)} checks could run**: the others' inputs "
            "are missing from the snapshot or unreadable; the grade covers those alone.",
            "",
        ]
    _checks_md(report.checks, lines, level + "#")


def render_markdown(report: Any, out: IO[str], color: bool = False) -> None:
    lines: list[str] = []
    if isinstance(report, FleetReport):
        lines += ["# waypoint-doctor fleet report", "", "## Cluster-wide checks", ""]
        _checks_md(report.cluster_checks, lines)
        lines += ["## Services", ""]
        if not report.services:
            lines += ["No service in scope is bound to a waypoint or targeted by an AuthorizationPolicy.", ""]
        else:
            lines += ["| Grade | Score | Service | First thing to fix |", "|---|---|---|---|"]
            for s in report.services:
                lines.append(
                    f"| {s.grade} | {s.score} | {_cell(s.target.namespace)}/{_cell(s.target.name)} "
                    f"| {_cell(s.headline)} |"
                )
            lines.append("")
        for s in report.services:
            _service_md(s, lines, level="##")
    else:
        _service_md(report, lines)
    out.write("\n".join(lines).rstrip() + "\n")
