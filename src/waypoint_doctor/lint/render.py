"""Terminal table and Markdown for a lint report: findings in file order, with file:line.

A lint report is about files, not a Service, so it gets its own two small text renderers; JSON,
YAML, JUnit and SARIF come from the shared renderers.
"""

from __future__ import annotations

from typing import IO

from waypoint_doctor.checks.spec import Status
from waypoint_doctor.lint.report import LintReport
from waypoint_doctor.render.safe import clean_text
from waypoint_doctor.report.model import CheckResult

_STYLE = {
    Status.PASS: ("PASS", "green"),
    Status.WARN: ("WARN", "yellow"),
    Status.FAIL: ("FAIL", "bold red"),
    Status.SKIP: ("SKIP", "dim"),
    Status.ERROR: ("ERROR", "bold magenta"),
    Status.INFO: ("INFO", "cyan"),
}
_ICON = {"pass": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️", "error": "💥", "info": "ℹ️"}


def _where(result: CheckResult) -> str:
    for e in result.evidence:
        if e.get("file"):
            return f"{e['file']}:{e['line']}" if e.get("line") else str(e["file"])
    return ""


def _object(result: CheckResult) -> str:
    for e in result.evidence:
        if e.get("kind"):
            ns = e.get("namespace")
            return f"{e['kind']} {ns}/{e.get('name', '')}" if ns else f"{e['kind']} {e.get('name', '')}"
    return ""


def _counts(report: LintReport) -> str:
    s = report.summary
    return ", ".join(f"{s.get(k, 0)} {k}" for k in ("fail", "warn", "info", "pass", "skip", "error"))


def render_lint_table(report: LintReport, out: IO[str], color: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(
        file=out,
        force_terminal=color,
        no_color=not color,
        color_system="auto" if color else None,
        width=None if color else 160,
        soft_wrap=False,
        highlight=False,
    )
    objects = ", ".join(f"{n} {k}" for k, n in report.objects.items()) or "no objects lint judges"
    console.print(
        Text.assemble(
            ("waypoint-doctor lint ", "bold"),
            clean_text(", ".join(report.files)),
            ("  objects: ", "dim"),
            objects,
            f" ({report.ignored} other documents ignored)" if report.ignored else "",
        )
    )
    findings = [r for r in report.checks if r.evidence]
    if findings:
        table = Table(show_header=True, header_style="bold", pad_edge=False)
        table.add_column("Status", no_wrap=True)
        table.add_column("Check", no_wrap=True)
        table.add_column("Where", no_wrap=True)
        table.add_column("Object")
        table.add_column("Finding", overflow="fold")
        for r in findings:
            label, style = _STYLE[r.status]
            table.add_row(
                Text(label, style=style),
                r.id,
                clean_text(_where(r)),
                clean_text(_object(r)),
                Text(clean_text(r.message)),
            )
        console.print(table)
        for r in findings:
            if r.remediation and r.status in (Status.FAIL, Status.WARN):
                console.print(Text.assemble((f"{r.id} ", "bold"), clean_text(_where(r)), (" fix:", "bold")))
                console.print(Text(clean_text(r.remediation)), style="", overflow="fold")
                console.print("")
    quiet = [r for r in report.checks if not r.evidence]
    if quiet:
        console.print(
            Text(
                "  ".join(f"{r.id} {_STYLE[r.status][0].lower()}" for r in sorted(quiet, key=lambda r: r.id)),
                style="dim",
            )
        )
    console.print(Text(_counts(report), style="bold"))


def _cell(text: str) -> str:
    return clean_text(text, keep_newlines=False).replace("|", "\\|")


def render_lint_markdown(report: LintReport, out: IO[str], color: bool = False) -> None:
    lines = [f"# waypoint-doctor lint: {_cell(', '.join(report.files))}", "", f"**{_counts(report)}**", ""]
    lines += ["| Status | ID | Where | Object | Finding |", "|---|---|---|---|---|"]
    for r in report.checks:
        lines.append(
            f"| {_ICON[r.status.value]} {r.status.value} | {r.id} | {_cell(_where(r))} | {_cell(_object(r))} | "
            f"{_cell(r.message)} |"
        )
    lines.append("")
    for r in report.checks:
        if r.remediation and r.status in (Status.FAIL, Status.WARN):
            body = clean_text(r.remediation)
            fence = "```"
            while fence in body:
                fence += "`"
            lines += [
                f"### {r.id} {_cell(_where(r))}",
                "",
                _cell(r.message),
                "",
                "Fix:",
                "",
                fence,
                body,
                fence,
                "",
            ]
    out.write("\n".join(lines).rstrip() + "\n")
