"""The terminal report: a rich table grouped by family, then the detail of what needs action."""

from __future__ import annotations

import io
import re
from typing import IO, Any

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from waypoint_doctor.checks.spec import Status
from waypoint_doctor.render.evidence import evidence_line
from waypoint_doctor.render.remediation import split_remediation
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
# Blanks at the end of a line, before any colour reset codes.
_TRAILING_BLANKS = re.compile(r" +((?:\x1b\[[0-9;]*m)*)$")
# Without a terminal and without COLUMNS: wide enough for a log file or a pager.
DEFAULT_WIDTH = 120
# An evidence value longer than this is cut on the terminal; -o json has it whole.
_EVIDENCE_VALUE_MAX = 160
_GRADE_STYLE = {"A": "bold green", "B": "green", "C": "yellow", "D": "yellow", "E": "red", "F": "bold red"}


def _status_text(status: Status) -> Text:
    label, style = _STYLE[status]
    return Text(label, style=style)


def _shown_in_detail(r: CheckResult) -> bool:
    if r.suppressed is not None:  # listed in the table, marked; nothing to act on
        return False
    return r.status in (Status.FAIL, Status.WARN, Status.ERROR) or (
        r.status is Status.INFO and bool(r.evidence)
    )


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + " …"


def _checks_table(checks: tuple[CheckResult, ...], width: int) -> Table:
    table = Table(
        show_header=True,
        header_style="bold",
        show_lines=False,
        pad_edge=False,
        box=box.SIMPLE_HEAD,
    )
    table.add_column("Status", no_wrap=True, width=6)
    table.add_column("ID", no_wrap=True, width=5)
    # A third of what the two fixed columns leave, at most what the longest title needs.
    check_width = min(36, max(16, (width - 20) // 3))
    finding_width = max(30, width - check_width - 20)
    table.add_column("Check", width=check_width)
    table.add_column("Finding", overflow="fold")
    current = None
    for result in sorted(checks, key=lambda r: r.id):
        family = result.id[2]
        if family != current:
            if current is not None:
                table.add_section()
            current = family
            table.add_row("", "", Text(FAMILIES.get(family, "Other"), style="bold"), "")
        message = clean_text(result.message, keep_newlines=False)
        if _shown_in_detail(result):  # in full below: two or three lines are enough here
            message = _shorten(message, max(100, 3 * finding_width))
        status = _status_text(result.status)
        if result.suppressed is not None:
            status.stylize("dim strike")
            message = f"({clean_text(result.suppressed.describe(), keep_newlines=False)}) {message}"
        table.add_row(status, result.id, result.title, Text(message))
    return table


def _decision_matrix(evidence: tuple) -> Table | None:
    """The WD410 decision table as a grid: principals down, operations across."""
    rows = [e for e in evidence if e.get("kind") == "Decision"]
    if not rows:
        return None
    ops: list[str] = []
    cells: dict[tuple[str, str], Text] = {}
    principals: list[str] = []
    verdict_style = {"ALLOW": "green", "DENY": "red", "UNKNOWN": "yellow"}
    for e in rows:
        op = f"{e.get('method', '*')} {e.get('path', '*')}"
        principal = str(e.get("principal", ""))
        if op not in ops:
            ops.append(op)
        if principal not in principals:
            principals.append(principal)
        verdict = str(e.get("verdict", ""))
        # A refusal at the pods' ztunnel reads differently to the caller (reset/503, not 403).
        mark = "*" if verdict == "DENY" and str(e.get("denied_at", "")).endswith("->workload") else ""
        cells[(principal, op)] = Text(verdict + mark, style=verdict_style.get(verdict, ""))
    prefix = _common_identity_prefix(principals)
    short = {p: clean_text(p[len(prefix) :], keep_newlines=False) for p in principals}
    # Fewer columns than rows reads better at 80 columns: put the shorter list across.
    across_ops = len(ops) <= len(principals)
    grid = Table(
        show_header=True,
        header_style="bold",
        box=None,
        pad_edge=False,
        padding=(0, 1),
    )
    # The row labels give way (fold) before the column headers get cut.
    grid.add_column("principal" if across_ops else "operation", no_wrap=across_ops, overflow="fold")
    for col in ops if across_ops else principals:
        if across_ops:
            grid.add_column(clean_text(col, keep_newlines=False), overflow="fold")
        else:
            grid.add_column(short[col], no_wrap=True)
    for row in principals if across_ops else ops:
        if across_ops:
            grid.add_row(short[row], *(cells.get((row, op), Text("-")) for op in ops))
        else:
            grid.add_row(
                clean_text(row, keep_newlines=False), *(cells.get((p, row), Text("-")) for p in principals)
            )
    return grid


def _common_identity_prefix(principals: list[str]) -> str:
    """`cluster.local/ns/kagenti-system/sa/` when every principal shares it, else ""."""
    prefixes = {p.rpartition("/sa/")[0] + "/sa/" for p in principals if "/sa/" in p}
    if len(prefixes) == 1 and all("/sa/" in p for p in principals):
        return prefixes.pop()
    return ""


def _indented(text: str | Text, level: int = 1, style: str = "") -> Padding:
    """Indented text whose wrapped lines keep the indent."""
    body = text if isinstance(text, Text) else Text(text, style=style)
    return Padding(body, (0, 0, 0, 2 * level), expand=False)


def _bullet(text: str) -> Padding:
    """`• text` whose wrapped lines hang under the text, not under the bullet."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("•", Text(text))
    return Padding(grid, (0, 0, 0, 2), style="dim", expand=False)


def _code_line(line: str, level: int = 2) -> Text:
    """A command or YAML line: never wrapped by us, so it copies and pastes exactly."""
    return Text("  " * level + line, no_wrap=True, overflow="ignore")


def _remediation(text: str, check_id: str, shown: dict[str, str]) -> list[Any]:
    """The fix; a multi-line block already printed for an earlier check is named, not repeated
    (WD409 and WD502 both end in the same allow-waypoint policy)."""
    parts: list[Any] = []
    for block in split_remediation(clean_text(text)):
        if block.kind == "prose":
            parts.extend(_indented(line, 2) for line in block.text.splitlines())
        elif block.text in shown and "\n" in block.text:
            what = "command" if block.kind == "shell" else "YAML"
            parts.append(_indented(f"(the same {what} as in the fix of {shown[block.text]} above)", 2, "dim"))
        else:
            shown.setdefault(block.text, check_id)
            parts.extend(_code_line(line) for line in block.text.splitlines())
    return parts


def _details(checks: tuple[CheckResult, ...]) -> list[Any]:
    parts: list[Any] = []
    shown: dict[str, str] = {}
    for r in sorted(checks, key=lambda r: r.id):
        if not _shown_in_detail(r):
            continue
        message = clean_text(r.message, keep_newlines=False)
        parts.append(Text.assemble(_status_text(r.status), " ", (f"{r.id} {r.title}", "bold")))
        parts.append(_indented(message))
        matrix = _decision_matrix(r.evidence)
        if matrix is not None:
            decisions = [str(e.get("principal", "")) for e in r.evidence if e.get("kind") == "Decision"]
            prefix = _common_identity_prefix(decisions)
            if prefix:
                parts.append(
                    _indented(f"principals: {clean_text(prefix, keep_newlines=False)}…", style="dim")
                )
            parts.append(Padding(matrix, (0, 0, 0, 2), expand=False))
            if any(
                str(e.get("denied_at", "")).endswith("->workload")
                for e in r.evidence
                if e.get("verdict") == "DENY"
            ):
                parts.append(
                    _indented("* refused by ztunnel at the pods (the caller sees a reset or 503)", 1, "dim")
                )
        others = [e for e in r.evidence if matrix is None or e.get("kind") != "Decision"]
        for item in others[:12]:
            line = evidence_line(item, message=message, max_value=_EVIDENCE_VALUE_MAX)
            parts.append(_bullet(clean_text(line, keep_newlines=False)))
        if len(others) > 12:
            parts.append(_indented(f"… and {len(others) - 12} more (see -o json)", style="dim"))
        if r.remediation:
            parts.append(_indented("Fix:", style="bold"))
            parts.extend(_remediation(r.remediation, r.id, shown))
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
    if s.get("suppressed"):
        counts += f", {s['suppressed']} suppressed"
    return Text.assemble(
        ("Grade ", "bold"),
        (report.grade, _GRADE_STYLE.get(report.grade, "bold")),
        f"  score {report.score}/100  ({counts})",
    )


def _coverage_warning(report: Report) -> Text | None:
    """A grade earned by skipping most checks must not read as a clean bill of health."""
    s = report.summary
    verdicts = sum(s.get(k, 0) for k in ("pass", "warn", "fail", "error"))
    skipped = s.get("skip", 0)
    if skipped <= verdicts:
        return None
    return Text(
        f"Only {verdicts} of {verdicts + skipped} checks could run ({skipped} skipped: "
        "their inputs are missing from the snapshot or unreadable); the grade covers those alone.",
        style="yellow",
    )


def _headline_title(headline: str) -> str:
    """`Fix first: WD401 Title` without the message: the service's detail below has it."""
    parts = headline.split(": ", 2)
    return ": ".join(parts[:2]) if len(parts) == 3 else headline


def _print_all(console: Console, parts: list[Any]) -> None:
    # crop=False: a command longer than the terminal is left for the terminal to soft-wrap,
    # so that it still copies as one line.
    for part in parts:
        if isinstance(part, Text) and part.no_wrap:
            console.print(part, soft_wrap=True)
        else:
            console.print(part, crop=False)


def _service_renderables(report: Report, width: int) -> list[Any]:
    coverage = _coverage_warning(report)
    return [
        _header(report),
        _checks_table(report.checks, width),  # its box ends with a blank line
        *_details(report.checks),
        _score_line(report),
        *([coverage] if coverage is not None else []),
        Text(clean_text(report.headline, keep_newlines=False), style="bold"),
    ]


def render_table(report: Any, out: IO[str], color: bool = False, width: int | None = None) -> None:
    """`width`: the terminal's columns (the CLI passes COLUMNS or the tty size); else 120."""
    buffer = io.StringIO()
    _render_into(report, buffer, color, width)
    # Tables pad every line to the width; trailing blanks only get in the way of copy-paste.
    out.write("".join(_TRAILING_BLANKS.sub(r"\1", line) + "\n" for line in buffer.getvalue().splitlines()))


def _render_into(report: Any, out: IO[str], color: bool, width: int | None) -> None:
    console = Console(
        file=out,
        force_terminal=color,
        no_color=not color,
        color_system="auto" if color else None,
        width=width or DEFAULT_WIDTH,
        soft_wrap=False,
        highlight=False,
    )
    if isinstance(report, FleetReport):
        console.print(Text("Cluster-wide checks", style="bold"))
        console.print(_checks_table(report.cluster_checks, console.width))
        _print_all(console, _details(report.cluster_checks))
        if not report.services:
            scope = report.scope.get("namespaces")
            where = (
                "any namespace" if scope == "all" else "namespace " + ", ".join(map(clean_text, scope or []))
            )
            console.print(
                Text(
                    f"No service in {where} is bound to a waypoint or targeted by an AuthorizationPolicy: "
                    "nothing to check beyond the cluster-wide checks above.",
                    style="bold",
                )
            )
            return
        summary = Table(show_header=True, header_style="bold", box=box.SIMPLE_HEAD, expand=True)
        for col in ("Grade", "Score", "Service", "Fails", "Warns"):
            summary.add_column(col, no_wrap=True)
        summary.add_column("First thing to fix", ratio=1, overflow="fold")
        for svc in report.services:
            summary.add_row(
                Text(svc.grade, style=_GRADE_STYLE.get(svc.grade, "")),
                str(svc.score),
                f"{clean_text(svc.target.namespace)}/{clean_text(svc.target.name)}",
                str(svc.summary.get("fail", 0)),
                str(svc.summary.get("warn", 0)),
                clean_text(_headline_title(svc.headline), keep_newlines=False),
            )
        n = len(report.services)
        console.print(Text(f"{n} service{'' if n == 1 else 's'}", style="bold"))
        console.print(summary)
        for svc in report.services:
            if svc.summary.get("fail", 0) or svc.summary.get("error", 0):
                _print_all(console, _service_renderables(svc, console.width))
        return
    _print_all(console, _service_renderables(report, console.width))
