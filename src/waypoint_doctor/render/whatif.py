"""The terminal answer of `what-if`: the verdict, then each hop with who decided and why."""

from __future__ import annotations

from typing import IO, Any

from waypoint_doctor.render.safe import clean_text

_MARK = {"ALLOW": "ALLOW", "DENY": "DENY", "UNKNOWN": "UNKNOWN"}


def render_whatif_text(result: Any, out: IO[str], color: bool = False, width: int | None = None) -> None:
    import io

    from rich.console import Console
    from rich.padding import Padding
    from rich.text import Text

    doc = result.to_dict()
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        no_color=not color,
        color_system="auto" if color else None,
        width=width or 120,
        highlight=False,
    )
    style = {"ALLOW": "bold green", "DENY": "bold red", "UNKNOWN": "bold yellow"}
    req = doc["request"]
    t = doc["target"]
    console.print(
        Text.assemble(
            (_MARK[doc["verdict"]], style[doc["verdict"]]),
            f"  {clean_text(req.get('method', ''))} {clean_text(req.get('path', ''))} "
            f"to {clean_text(t['namespace'])}/{clean_text(t['name'])}"
            f"{':' + str(req['port']) if req.get('port') is not None else ''} "
            f"from {clean_text(req.get('from') or 'a plaintext caller (no mesh identity)')}"
            f"{' at ' + clean_text(req['source_ip']) if req.get('source_ip') else ''}",
        )
    )
    for hop in doc["hops"]:
        reached = hop.get("reached", True)
        verdict = hop["verdict"] if reached else "not reached"
        console.print(
            Padding(
                Text.assemble(
                    (f"{hop['hop']}: ", "bold"),
                    (verdict, style.get(hop["verdict"], "") if reached else "dim"),
                ),
                (0, 0, 0, 2),
            )
        )
        # Indented with Padding so that wrapped lines keep the indent at 80 columns.
        facts = f"enforced by {hop['enforced_by']}, sees {clean_text(hop.get('identity_seen') or '-')}"
        if hop.get("source_ip"):
            facts += f" from {clean_text(hop['source_ip'])}"
        console.print(Padding(Text(facts), (0, 0, 0, 4)))
        if hop.get("path_seen") is not None:
            console.print(
                Padding(Text(f"path after normalisation: {clean_text(hop['path_seen'])}"), (0, 0, 0, 4))
            )
        decided = hop.get("decided_by")
        if decided and not hop.get("reason"):
            line = (
                f"decided by {decided.get('action')} policy {clean_text(decided.get('policy', ''))}"
                f" rule {decided.get('rule')}"
            )
            console.print(Padding(Text(line), (0, 0, 0, 4)))
        if hop.get("reason"):
            console.print(
                Padding(Text(clean_text(hop["reason"], keep_newlines=False), style="dim"), (0, 0, 0, 4))
            )
    console.print()
    console.print(Text(clean_text(doc.get("explanation", ""))))
    out.write("".join(line.rstrip(" ") + "\n" for line in buffer.getvalue().splitlines()))
