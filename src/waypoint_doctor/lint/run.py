"""The core of `waypoint-doctor lint`: read the manifests, judge them, build the report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from waypoint_doctor import __version__
from waypoint_doctor.lint.report import LintReport, build_report
from waypoint_doctor.lint.rules import Manifests, all_findings, relevant_checks
from waypoint_doctor.lint.source import read_manifests
from waypoint_doctor.options import OutputOptions


@dataclass(frozen=True)
class LintCommand:
    paths: tuple[str, ...]  # files, directories, or "-" for stdin
    output: OutputOptions
    namespace: str | None = None  # where objects without metadata.namespace land (kubectl apply -n)


def lint_manifests(
    paths: tuple[str, ...], namespace: str | None = None, stdin_text: str | None = None
) -> LintReport:
    from waypoint_doctor.engine import now_rfc3339

    docs, files = read_manifests(paths, stdin_text)
    manifests = Manifests(docs, default_namespace=namespace)
    judged = Counter(d.kind for d in docs if Manifests.kind_key(d) is not None)
    return build_report(
        tool_version=__version__,
        generated_at=now_rfc3339(),
        files=files,
        objects=dict(sorted(judged.items())),
        ignored=manifests.ignored,
        findings=all_findings(manifests),
        not_applicable=relevant_checks(manifests),
    )


def run_lint(cmd: LintCommand) -> LintReport:
    return lint_manifests(cmd.paths, cmd.namespace)
