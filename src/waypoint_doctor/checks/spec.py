"""How a check is declared: a small frozen record plus a pure function of the collected view.

A check module defines functions decorated with `@check(...)` and lists them in a module-level
`CHECKS` tuple; `checks/registry.py` names every module explicitly. A check never talks to the
cluster: it reads `ctx.view` and the derived `ctx.facts`, and returns an `Outcome`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from waypoint_doctor.collect.view import ClusterView
    from waypoint_doctor.mesh.facts import Facts


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"
    INFO = "info"


Evidence = Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    status: Status
    message: str
    evidence: tuple[Evidence, ...] = ()
    remediation: str = ""


def passed(message: str, evidence: Iterable[Evidence] = ()) -> Outcome:
    return Outcome(Status.PASS, message, tuple(evidence))


def failed(message: str, evidence: Iterable[Evidence] = (), remediation: str = "") -> Outcome:
    return Outcome(Status.FAIL, message, tuple(evidence), remediation)


def warned(message: str, evidence: Iterable[Evidence] = (), remediation: str = "") -> Outcome:
    return Outcome(Status.WARN, message, tuple(evidence), remediation)


def skipped(reason: str, evidence: Iterable[Evidence] = ()) -> Outcome:
    return Outcome(Status.SKIP, reason, tuple(evidence))


def informed(message: str, evidence: Iterable[Evidence] = ()) -> Outcome:
    return Outcome(Status.INFO, message, tuple(evidence))


class SkipCheck(Exception):
    """Raised inside a check when an input it needs is unavailable; the engine reports `skip`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    namespace: str
    name: str
    kind: str = "Service"

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}


@dataclass(frozen=True)
class CheckOptions:
    since_seconds: int = 15 * 60
    # The end of the log window. Snapshot: its takenAt (None: the newest log line).
    now: datetime | None = None
    # Live runs ask the API server for `sinceSeconds`, so the logs are already windowed and
    # checks must not filter them again against the local clock.
    log_window_applied: bool = False
    logs_enabled: bool = True


@dataclass(frozen=True)
class CheckContext:
    view: ClusterView
    target: Target
    facts: Facts
    options: CheckOptions = field(default_factory=CheckOptions)

    def need(self, resource: str, namespace: str | None = None) -> None:
        """Skip the running check when `resource` (in `namespace`) could not be read."""
        missing = self.view.missing(resource, namespace)
        if missing is not None:
            raise SkipCheck(missing.describe())


Category = Literal["control-plane", "enrollment", "waypoint", "policy", "evidence"]
CheckFn = Callable[[CheckContext], Outcome]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    category: Category
    reads: tuple[str, ...]  # resource keys, plus "logs", "istioctl", "discovery"
    scope: Literal["cluster", "service"]
    run: CheckFn
    summary: str  # first line of the docstring: what the check looks at

    @property
    def doc(self) -> str:
        return f"docs/checks/{self.id}.md"


def check(
    id: str,
    title: str,
    *,
    category: Category,
    reads: Iterable[str] = (),
    scope: Literal["cluster", "service"] = "service",
) -> Callable[[CheckFn], CheckSpec]:
    def register(fn: CheckFn) -> CheckSpec:
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else title
        return CheckSpec(id, title, category, tuple(reads), scope, fn, summary)

    return register
