"""What a CI gate is made of: check patterns (`--select`/`--ignore`) and suppressions.

A check pattern is a check ID or a prefix of one: `WD409`, `WD40`, `WD4` (a family). A
suppression names a check pattern and, optionally, the objects whose findings it silences:

    WD409                                   every finding of WD409
    WD409=*                                 the same
    WD409=AuthorizationPolicy kagenti-system/*   findings naming such a policy
    WD4=Service shop/cart                   the WD4xx findings of Service shop/cart
    WD302=mlflow                            objects named mlflow, of any kind, in any namespace

`KIND` is optional and compared case-insensitively; `NAMESPACE/NAME` are shell-style globs
(`*`, `?`, `[...]`); a bare `NAME` matches whatever the namespace (cluster-scoped objects too).
Parsing is pure and cheap: nothing here imports the checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from waypoint_doctor.options import UsageError

SuppressedBy = Literal["flag", "config", "annotation"]
_PATTERN = re.compile(r"^WD\d{1,3}$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def parse_check_pattern(text: str, where: str = "") -> str:
    """`wd4` -> `WD4`; a UsageError naming `where` (a flag or a file) for anything else."""
    pattern = text.strip().upper()
    if not _PATTERN.match(pattern):
        raise UsageError(
            f"{where}{': ' if where else ''}invalid check {text.strip()!r}: "
            "use a check ID (WD409) or a prefix of one (WD4, WD40)"
        )
    return pattern


def split_list(values: Iterable[str]) -> list[str]:
    """Repeated flags and comma- or space-separated values alike: `--select WD3,WD4 --select WD5`."""
    return [item for value in values for item in re.split(r"[\s,]+", value) if item]


def parse_check_patterns(values: Iterable[str], where: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(parse_check_pattern(v, where) for v in split_list(values)))


def pattern_matches(pattern: str, check_id: str) -> bool:
    return check_id.startswith(pattern)


@dataclass(frozen=True)
class ObjectRef:
    """An object a finding names: the Service under check, or one from its evidence."""

    kind: str
    namespace: str | None
    name: str

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Selection:
    """`--select` and `--ignore`: which checks run. Ignore wins over select."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    def wants(self, check_id: str) -> bool:
        if self.select and not any(pattern_matches(p, check_id) for p in self.select):
            return False
        return not any(pattern_matches(p, check_id) for p in self.ignore)

    @property
    def active(self) -> bool:
        return bool(self.select or self.ignore)

    def as_dict(self) -> dict[str, list[str]]:
        return {"select": list(self.select), "ignore": list(self.ignore)}


@dataclass(frozen=True)
class Suppression:
    check: str  # a check pattern
    kind: str | None = None  # None: any kind
    namespace: str | None = None  # a glob; None: any namespace (or none)
    name: str = "*"  # a glob
    reason: str | None = None
    by: SuppressedBy = "flag"
    rule: str = ""  # as the user wrote it, for the report

    def matches(self, check_id: str, objects: Iterable[ObjectRef]) -> bool:
        if not pattern_matches(self.check, check_id):
            return False
        if self.kind is None and self.namespace is None and self.name == "*":
            return True
        return any(self._matches_object(o) for o in objects)

    def _matches_object(self, obj: ObjectRef) -> bool:
        if self.kind is not None and obj.kind.lower() != self.kind.lower():
            return False
        if self.namespace is not None and not fnmatchcase(obj.namespace or "", self.namespace):
            return False
        return fnmatchcase(obj.name, self.name)


def parse_suppression(
    text: str, *, by: SuppressedBy = "flag", reason: str | None = None, where: str = "--suppress"
) -> Suppression:
    """`CHECK[=[KIND ]NAMESPACE/NAME]` (see the module's docstring)."""
    rule = text.strip()
    check_text, sep, target = rule.partition("=")
    check = parse_check_pattern(check_text, where)
    target = target.strip()
    if not sep or target in ("", "*"):
        if sep and not target:
            raise UsageError(f"{where}: {rule!r} names no object after '=': use CHECK=[KIND ]NAMESPACE/NAME")
        return Suppression(check, reason=reason, by=by, rule=rule)
    words = target.split()
    if len(words) > 2:
        raise UsageError(
            f"{where}: {rule!r}: the object is [KIND ]NAMESPACE/NAME, "
            "e.g. WD409=AuthorizationPolicy kagenti-system/*"
        )
    kind = words[0] if len(words) == 2 else None
    if kind is not None and not _KIND.match(kind):
        raise UsageError(f"{where}: {rule!r}: {kind!r} is not a Kubernetes kind (e.g. AuthorizationPolicy)")
    ref = words[-1]
    namespace, slash, name = ref.partition("/")
    if not slash:
        namespace, name = None, ref  # type: ignore[assignment]
    if not name or (slash and not namespace) or "/" in name:
        raise UsageError(f"{where}: {rule!r}: the object is NAMESPACE/NAME or NAME, with globs (*, ?)")
    return Suppression(check, kind, namespace, name, reason, by, rule)
