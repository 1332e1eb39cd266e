"""The terminal report: a rich table grouped by family, then the detail of what needs action."""

from __future__ import annotations

from typing import IO, Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from waypoint_doctor.checks.spec import Status
from waypoint_doctor.render.evidence import evidence_line
from waypoint_doctor.render.safe import clean_text
from waypoint_doctor.report.model import CheckResult, FleetReport, Report

FAMILIES = {
    "1": "Control plane and prerequisites",
    "2": "Namespace and ambient enrollment",
    "3": "Service and waypoint binding",
    "4": "AuthorizationPolicy",
    "5": "Identity and evidence from logs",
}
_STYLE = {
    Status.PASS: ("PASS", "green"),
    Status.WARN: ("WARN", "yellow"),
    Status.FAIL: ("FAIL", "bold red"),
    Status.SKIP: ("SKIP", "dim"),
    Status.ERROR: ("ERROR", "bold magenta"),
    Status.INFO: ("INFO", "cyan"),
}
_GRADE_STYLE = {"A": "bold green", "B": "green", "C": "yellow", "D": "yellow", "E": "red", "F": "bold red"}


def _status_text(status: Status) -> Text:
    label, style = _STYLE[status]
    return Text(label, style=style)


def _checks_table(checks: tuple[CheckResult, ...]) -> Table:
    table = Table(show_header=True, header_style="bold", expand=True, show_lines=False, pad_edge=False)
    table.add_column("Status", no_wrap=True, width=6)
    table.add_column("ID", no_wrap=True, width=5)
    table.add_column("Check", ratio=2)
    table.add_column("Finding", ratio=3, overflow="fold")
    current = None
    for result in sorted(checks, key=lambda r: r.id):
        family = result.id[2]
        if family != current:
            if current is not None:
                table.add_section()
            current = family
            table.add_row("", "", Text(FAMILIES.get(family, "Other"), style="bold underline"), "")
        table.add_row(_status_text(result.status), result.id, result.title, Text(clean_text(result.message)))
    return table


def _decision_matrix(evidence: tuple) -> Table | None:
    """The WD410 decision table as a grid: principals down, operations across."""
    rows = [e for e in evidence if e.get("kind") == "Decision"]
    if not rows or len(rows) != len(evidence):
        return None
    ops: list[str] = []
    cells: dict[tuple[str, str], str] = {}
    principals: list[str] = []
    for e in rows:
        op = f"{e.get('method', '*')} {e.get('path', '*')}"
        principal = str(e.get("principal", ""))
        if op not in ops:
            ops.append(op)
        if principal not in principals:
            principals.append(principal)
        cells[(principal, op)] = str(e.get("verdict", ""))
    grid = Table(show_header=True, header_style="bold", box=None, pad_edge=False, padding=(0, 1))
    grid.add_column("principal", overflow="fold")
    for op in ops:
        grid.add_column(clean_text(op, keep_newlines=False), overflow="fold")
    verdict_style = {"ALLOW": "green", "DENY": "red", "UNKNOWN": "yellow"}
    for principal in principals:
        grid.add_row(
            clean_text(principal, keep_newlines=False),
            *(
                Text(
                    cells.get((principal, op), "-"),
                    style=verdict_style.get(cells.get((principal, op), ""), ""),
                )
                for op in ops
            ),
        )
    return grid


def _indented(text: str, level: int = 1, style: str = "") -> Text:
    return Text("  " * level + text, style=style)


def _details(checks: tuple[CheckResult, ...]) -> list[Any]:
    parts: list[Any] = []
    for r in sorted(checks, key=lambda r: r.id):
        if r.status not in (Status.FAIL, Status.WARN, Status.ERROR, Status.INFO):
            continue
        if r.status is Status.INFO and not r.evidence:
            continue
        parts.append(Text.assemble(_status_text(r.status), " ", (f"{r.id} {r.title}", "bold")))
        parts.append(_indented(clean_text(r.message, keep_newlines=False)))
        matrix = _decision_matrix(r.evidence)
        if matrix is not None:
            parts.append(Padding(matrix, (0, 0, 0, 2), expand=False))
        else:
            for item in r.evidence[:12]:
                parts.append(
                    _indented("• " + clean_text(evidence_line(item), keep_newlines=False), style="dim")
                )
            if len(r.evidence) > 12:
                parts.append(_indented(f"… and {len(r.evidence) - 12} more (see -o json)", style="dim"))
        if r.remediation:
            parts.append(_indented("Fix:", style="bold"))
            parts.extend(_indented(line, 2) for line in clean_text(r.remediation).splitlines())
        parts.append(_indented(f"docs: {r.doc}", style="dim"))
        parts.append(Text(""))
    return parts


def _header(report: Report) -> Text:
    t = report.target
    src = report.source
    where = src.get("context") or src.get("path") or src.get("server") or src.get("kind", "")
    text = Text.assemble(
        ("waypoint-doctor ", "bold"),
        f"{t.kind} {clean_text(t.namespace)}/{clean_text(t.name)}  ",
        ("source: ", "dim"),
        f"{src.get('kind', '')} {clean_text(where)}",
    )
    return text


def _score_line(report: Report) -> Text:
    s = report.summary
    counts = ", ".join(f"{s.get(k, 0)} {k}" for k in ("pass", "warn", "fail", "skip", "error", "info"))
    return Text.assemble(
        ("Grade ", "bold"),
        (report.grade, _GRADE_STYLE.get(report.grade, "bold")),
        f"  score {report.score}/100  ({counts})",
    )


def _service_renderables(report: Report) -> list[Any]:
    return [
        _header(report),
        _checks_table(report.checks),
        Text(""),
        *_details(report.checks),
        _score_line(report),
        Text(clean_text(report.headline), style="bold"),
    ]


def render_table(report: Any, out: IO[str], color: bool = False) -> None:
    console = Console(
        file=out,
        force_terminal=color,
        no_color=not color,
        color_system="auto" if color else None,
        width=None if color else 140,
        soft_wrap=False,
        highlight=False,
    )
    if isinstance(report, FleetReport):
        console.print(Text("Cluster-wide checks", style="bold"))
        console.print(_checks_table(report.cluster_checks))
        console.print(Group(*_details(report.cluster_checks)))
        summary = Table(show_header=True, header_style="bold")
        for col in ("Grade", "Score", "Service", "Fails", "Warns", "First thing to fix"):
            summary.add_column(col)
        for svc in report.services:
            summary.add_row(
                Text(svc.grade, style=_GRADE_STYLE.get(svc.grade, "")),
                str(svc.score),
                f"{clean_text(svc.target.namespace)}/{clean_text(svc.target.name)}",
                str(svc.summary.get("fail", 0)),
                str(svc.summary.get("warn", 0)),
                clean_text(svc.headline),
            )
        console.print(Text(f"{len(report.services)} services", style="bold"))
        console.print(summary)
        for svc in report.services:
            if svc.summary.get("fail", 0) or svc.summary.get("error", 0):
                console.print(Group(*_service_renderables(svc)))
        return
    console.print(Group(*_service_renderables(report)))
