"""Terminal table and Markdown for a lint report: findings in file order, with file:line.

A lint report is about files, not a Service, so it gets its own two small text renderers; JSON,
YAML, JUnit and SARIF come from the shared renderers.
"""

from __future__ import annotations

import io
from typing import IO, Any

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
    text = ", ".join(f"{s.get(k, 0)} {k}" for k in ("fail", "warn", "info", "pass", "skip", "error"))
    return text + (f", {s['suppressed']} suppressed" if s.get("suppressed") else "")


def _message(result: CheckResult) -> str:
    if result.suppressed is None:
        return result.message
    return f"({result.suppressed.describe()}) {result.message}"


def _needs_fix(result: CheckResult) -> bool:
    return (
        bool(result.remediation) and result.status in (Status.FAIL, Status.WARN) and result.suppressed is None
    )


def _label(result: CheckResult) -> Any:
    from rich.text import Text

    label, style = _STYLE[result.status]
    return Text(label, style=style + (" dim strike" if result.suppressed is not None else ""))


def _print_fix(console: Any, remediation: str, indent: int) -> None:
    from rich.padding import Padding
    from rich.text import Text

    from waypoint_doctor.render.remediation import split_remediation

    for block in split_remediation(clean_text(remediation)):
        for line in block.text.splitlines():
            if block.kind == "prose":
                console.print(Padding(Text(line), (0, 0, 0, indent)))
            else:  # a command or YAML: never wrapped by us, so it pastes as written
                console.print(Text(" " * indent + line), soft_wrap=True)


def render_lint_table(
    report: LintReport, out: IO[str], color: bool = False, width: int | None = None
) -> None:
    """`width`: the terminal's columns (the CLI passes COLUMNS or the tty size); else 120."""
    from rich import box
    from rich.console import Console
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        no_color=not color,
        color_system="auto" if color else None,
        width=width or 120,
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
    if findings and console.width < 120:
        # Narrow terminal: one finding per paragraph, as compilers and linters print them.
        console.print("")
        for r in findings:
            console.print(Text.assemble(_label(r), " ", (r.id, "bold"), " ", clean_text(_where(r))))
            console.print(Padding(Text(clean_text(_message(r), keep_newlines=False)), (0, 0, 0, 2)))
            if _needs_fix(r):
                console.print(Padding(Text("fix:", style="bold"), (0, 0, 0, 2)))
                _print_fix(console, r.remediation, indent=4)
        console.print("")
    elif findings:
        table = Table(show_header=True, header_style="bold", pad_edge=False, box=box.SIMPLE_HEAD)
        table.add_column("Status", no_wrap=True)
        table.add_column("Check", no_wrap=True)
        table.add_column("Where", no_wrap=True)
        table.add_column("Object")
        table.add_column("Finding", overflow="fold")
        for r in findings:
            table.add_row(
                _label(r),
                r.id,
                clean_text(_where(r)),
                clean_text(_object(r)),
                Text(clean_text(_message(r))),
            )
        console.print(table)
        for r in findings:
            if _needs_fix(r):
                console.print(Text.assemble((f"{r.id} ", "bold"), clean_text(_where(r)), (" fix:", "bold")))
                _print_fix(console, r.remediation, indent=2)
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
    # Tables and padding fill lines to the width; trailing blanks only hinder copy-paste.
    out.write("".join(line.rstrip(" ") + "\n" for line in buffer.getvalue().splitlines()))


def _cell(text: str) -> str:
    return clean_text(text, keep_newlines=False).replace("|", "\\|")


def render_lint_markdown(report: LintReport, out: IO[str], color: bool = False) -> None:
    lines = [f"# waypoint-doctor lint: {_cell(', '.join(report.files))}", "", f"**{_counts(report)}**", ""]
    lines += ["| Status | ID | Where | Object | Finding |", "|---|---|---|---|---|"]
    for r in report.checks:
        lines.append(
            f"| {_ICON[r.status.value]} {r.status.value}{' (suppressed)' if r.suppressed else ''} | {r.id} "
            f"| {_cell(_where(r))} | {_cell(_object(r))} | {_cell(_message(r))} |"
        )
    lines.append("")
    for r in report.checks:
        if _needs_fix(r):
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
