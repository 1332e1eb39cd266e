"""Split a remediation into prose and copy-pasteable blocks, shared by the text renderers.

A check's remediation mixes a sentence ("Move HTTP rules to …:") with a command or a YAML
fragment. Prose may be wrapped to the terminal; a command or YAML line must reach the reader's
clipboard exactly as written, so the renderers treat the two differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A YAML key (`spec:`, `apiVersion: v1`), a list item, a comment, or a shell line.
_COMMANDS = r"(?:kubectl|istioctl|helm|waypoint-doctor)\b"
_CODE_START = re.compile(rf"^\s*(?:[\w.\-/]+:(?:\s|$)|- |-$|#|\$ |{_COMMANDS}|EOF$|\{{\s*\"?\w+\"?:|\[)")
_SHELL = re.compile(rf"^\s*(?:\$ )?{_COMMANDS}")


@dataclass(frozen=True)
class Block:
    kind: str  # "prose" | "yaml" | "shell"
    text: str


def _is_prose(line: str) -> bool:
    stripped = line.strip()
    if not stripped or line[:1].isspace() or _CODE_START.match(line):
        return False
    # A sentence: several words, or a short lead-in ending with a colon ("Install ztunnel:").
    return len(stripped.split()) >= 4 or (stripped.endswith(":") and " " in stripped)


def split_remediation(text: str) -> list[Block]:
    """Consecutive prose lines form a prose block; the rest, a shell or YAML block."""
    blocks: list[Block] = []
    current: list[str] = []
    current_prose: bool | None = None
    in_heredoc = False

    def flush() -> None:
        if current and any(line.strip() for line in current):
            body = "\n".join(current).strip("\n")
            if current_prose:
                kind = "prose"
            elif any(_SHELL.match(line) for line in current):
                kind = "shell"
            else:
                kind = "yaml"
            blocks.append(Block(kind, body))
        current.clear()

    for line in text.splitlines():
        prose = False if in_heredoc else _is_prose(line)
        if _SHELL.match(line) and "<<" in line:
            in_heredoc = True
        elif in_heredoc and line.strip() in ("EOF", "'EOF'"):
            in_heredoc = False
        if current_prose is not None and prose != current_prose:
            flush()
        current_prose = prose
        current.append(line)
    flush()
    return blocks
