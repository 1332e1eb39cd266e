"""The terminal answer of `what-if`: the verdict, then each hop with who decided and why."""

from __future__ import annotations

from typing import IO, Any

from waypoint_doctor.render.safe import clean_text

_MARK = {"ALLOW": "ALLOW", "DENY": "DENY", "UNKNOWN": "UNKNOWN"}


def render_whatif_text(result: Any, out: IO[str], color: bool = False) -> None:
    from rich.console import Console
    from rich.text import Text

    doc = result.to_dict()
    console = Console(
        file=out,
        force_terminal=color,
        no_color=not color,
        color_system="auto" if color else None,
        width=None if color else 120,
        highlight=False,
    )
    style = {"ALLOW": "bold green", "DENY": "bold red", "UNKNOWN": "bold yellow"}
    req = doc["request"]
    t = doc["target"]
    console.print(
        Text.assemble(
            (_MARK[doc["verdict"]], style[doc["verdict"]]),
            f"  {clean_text(req.get('method', ''))} {clean_text(req.get('path', ''))} "
            f"to {clean_text(t['namespace'])}/{clean_text(t['name'])}:{req.get('port', '')} "
            f"from {clean_text(req.get('from', ''))}",
        )
    )
    for hop in doc["hops"]:
        reached = hop.get("reached", True)
        head = Text.assemble(
            "  ",
            (f"{hop['hop']:<20}", "bold"),
            " ",
            (
                hop["verdict"] if reached else "not reached",
                style.get(hop["verdict"], "") if reached else "dim",
            ),
            f"  enforced by {hop['enforced_by']}, sees {clean_text(hop.get('identity_seen') or '-')}",
        )
        console.print(head)
        decided = hop.get("decided_by")
        if decided and not hop.get("reason"):
            console.print(
                Text(
                    f"      decided by {decided.get('action')} policy {clean_text(decided.get('policy', ''))}"
                    f" rule {decided.get('rule')}"
                )
            )
        if hop.get("reason"):
            console.print(Text("      " + clean_text(hop["reason"], keep_newlines=False), style="dim"))
    console.print(Text(clean_text(doc.get("explanation", ""))))
