"""The core of `waypoint-doctor lint`: read the manifests, judge them, build the report."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from waypoint_doctor import __version__
from waypoint_doctor.lint.report import LintReport, build_report
from waypoint_doctor.lint.rules import Manifests, all_findings, relevant_checks
from waypoint_doctor.lint.source import read_manifests
from waypoint_doctor.options import OutputOptions
from waypoint_doctor.report.model import count_statuses


@dataclass(frozen=True)
class LintCommand:
    paths: tuple[str, ...]  # files, directories, or "-" for stdin
    output: OutputOptions
    namespace: str | None = None  # where objects without metadata.namespace land (kubectl apply -n)
    gate: Any = None  # gate.config.Gate


def _manifest_annotations(manifests: Manifests) -> Any:
    """The annotation lookup for suppressions: the objects as the files declare them."""

    def lookup(kind: str, namespace: str | None, name: str) -> Mapping[str, Any] | None:
        for doc in reversed(manifests.docs):  # the later of two documents is what apply keeps
            same_ns = namespace is None or (manifests.ns(doc) or None) == namespace
            if doc.kind.lower() == kind.lower() and doc.name == name and same_ns:
                meta = doc.obj.get("metadata")
                annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
                return annotations if isinstance(annotations, Mapping) else None
        return None

    return lookup


def lint_manifests(
    paths: tuple[str, ...],
    namespace: str | None = None,
    stdin_text: str | None = None,
    gate: Any = None,
) -> LintReport:
    from waypoint_doctor.engine import now_rfc3339

    docs, files = read_manifests(paths, stdin_text)
    manifests = Manifests(docs, default_namespace=namespace)
    judged = Counter(d.kind for d in docs if Manifests.kind_key(d) is not None)
    report = build_report(
        tool_version=__version__,
        generated_at=now_rfc3339(),
        files=files,
        objects=dict(sorted(judged.items())),
        ignored=manifests.ignored,
        findings=all_findings(manifests),
        not_applicable=relevant_checks(manifests),
        selection=gate.selection if gate is not None else None,
    )
    if gate is None:
        return report
    from waypoint_doctor.gate.apply import apply_suppressions

    checks = apply_suppressions(
        report.checks,
        target=None,
        suppressions=gate.suppressions,
        annotations_of=_manifest_annotations(manifests),
    )
    return dataclasses.replace(report, checks=checks, summary=count_statuses(checks))


def run_lint(cmd: LintCommand) -> LintReport:
    return lint_manifests(cmd.paths, cmd.namespace, gate=cmd.gate)
