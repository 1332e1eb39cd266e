"""Read manifests into documents that know the line of each of their fields.

PyYAML composes every document into a node tree (each node has its start mark) and then builds
plain Python objects from it; keeping both lets a finding about ``spec.rules[0].to[0]`` point at
the line a person has to edit.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from waypoint_doctor.options import UsageError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


class ManifestError(UsageError):
    """A manifest cannot be read or parsed (exit code 2), with file and line."""


@dataclass(frozen=True)
class Document:
    """One Kubernetes object from a file: the object, where it is, and its node tree."""

    file: str  # as the user named it (or <stdin>)
    obj: dict[str, Any]
    node: Node
    prefix: str = ""  # "items[3]" for an item of a `kind: List`

    @property
    def line(self) -> int:
        return self.node.start_mark.line + 1

    def line_of(self, location: str) -> int:
        """The 1-based line of `location` (``spec.rules[0].from[0]``); the nearest ancestor's line
        when the field is absent (e.g. ``spec.rules`` on a policy without rules)."""
        return _resolve(self.node, location)

    @property
    def kind(self) -> str:
        kind = self.obj.get("kind")
        return kind if isinstance(kind, str) else ""

    @property
    def api_group(self) -> str:
        api_version = self.obj.get("apiVersion")
        if not isinstance(api_version, str):
            return ""
        return api_version.rpartition("/")[0] if "/" in api_version else ""

    @property
    def name(self) -> str:
        meta = self.obj.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else ""

    @property
    def namespace(self) -> str | None:
        meta = self.obj.get("metadata")
        ns = meta.get("namespace") if isinstance(meta, dict) else None
        return ns if isinstance(ns, str) and ns else None


def _resolve(node: Node, location: str) -> int:
    cur: Node = node
    line = cur.start_mark.line
    rest = location
    while rest:
        if rest.startswith("["):
            end = rest.find("]")
            if end < 0 or not rest[1:end].isdigit() or not isinstance(cur, SequenceNode):
                break
            index = int(rest[1:end])
            if index >= len(cur.value):
                break
            cur = cur.value[index]
            line = cur.start_mark.line
            rest = rest[end + 1 :]
        elif isinstance(cur, MappingNode):
            best: tuple[ScalarNode, Node] | None = None
            for key_node, value_node in cur.value:
                if not isinstance(key_node, ScalarNode):
                    continue
                key = str(key_node.value)
                matches = rest == key or rest.startswith((key + ".", key + "["))
                if matches and (best is None or len(key) > len(str(best[0].value))):
                    best = (key_node, value_node)
            if best is None:
                break
            key_node, cur = best
            line = key_node.start_mark.line
            rest = rest[len(str(key_node.value)) :]
        else:
            break
        if rest.startswith("."):
            rest = rest[1:]
    return line + 1


def _flatten(doc: Any, node: Node, file: str) -> Iterator[Document]:
    if not isinstance(doc, dict):
        return
    items = doc.get("items")
    kind = doc.get("kind")
    if (
        isinstance(kind, str)
        and kind.endswith("List")
        and isinstance(items, list)
        and isinstance(node, MappingNode)
    ):
        items_node = next(
            (v for k, v in node.value if isinstance(k, ScalarNode) and k.value == "items"), None
        )
        if isinstance(items_node, SequenceNode):
            for index, (item, item_node) in enumerate(zip(items, items_node.value, strict=False)):
                for inner in _flatten(item, item_node, file):
                    prefix = f"items[{index}]" + (f".{inner.prefix}" if inner.prefix else "")
                    yield Document(file, inner.obj, inner.node, prefix)
        return
    yield Document(file, doc, node)


def _looks_like_json(text: str, file: str) -> bool:
    if file.endswith(".json"):
        return True
    if not text.lstrip().startswith(("{", "[")):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def parse_text(text: str, file: str) -> list[Document]:
    """Every object in `text` (multi-document YAML, JSON, `kind: List`); ManifestError on bad YAML."""
    if "\t" in text and _looks_like_json(text, file):
        # JSON is YAML, except that YAML refuses tabs as indentation; in valid JSON a tab can only
        # be whitespace between tokens (inside strings it is escaped), so spaces do as well.
        text = text.replace("\t", " ")
    loader = yaml.SafeLoader(text)
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            docs.extend(_flatten(data, node, file))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else file
        problem = exc.problem or exc.context or "syntax error"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise ManifestError(f"{where}: invalid YAML: {problem}{context}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"{file}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return docs


def _files_of(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
    return [path]


def read_manifests(paths: Sequence[str], stdin_text: str | None = None) -> tuple[list[Document], list[str]]:
    """Documents from files, directories (recursively: *.yaml, *.yml, *.json) and `-` (stdin).

    Returns the documents and the files read. ManifestError when a path does not exist, a file
    cannot be decoded or parsed, or nothing at all was found to read.
    """
    docs: list[Document] = []
    files: list[str] = []
    for raw in paths:
        if raw == STDIN:
            text = stdin_text if stdin_text is not None else sys.stdin.read()
            docs.extend(parse_text(text, "<stdin>"))
            files.append("<stdin>")
            continue
        path = Path(raw)
        if not path.exists():
            raise ManifestError(f"{raw}: no such file or directory")
        found = _files_of(path)
        if path.is_dir() and not found:
            raise ManifestError(f"{raw}: no *.yaml, *.yml or *.json files in this directory")
        for file in found:
            display = str(file) if path.is_dir() else raw
            try:
                text = file.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise ManifestError(f"{display}: not UTF-8 text (byte {exc.start})") from None
            except OSError as exc:
                raise ManifestError(f"{display}: cannot read: {exc.strerror or exc}") from None
            docs.extend(parse_text(text, display))
            files.append(display)
    if not files:
        raise ManifestError("no manifests given: use -f FILE, -f DIR or -f - (stdin)")
    return docs, files
