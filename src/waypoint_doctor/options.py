"""Parsed command-line options: frozen, validated once, passed to the core."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DURATION = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


class UsageError(Exception):
    """Bad input from the user: exit code 2, before any request is made."""


def validate_namespace(name: str) -> str:
    if len(name) > 63 or not _DNS1123_LABEL.match(name):
        raise UsageError(
            f"invalid namespace {name!r}: a namespace must be a DNS-1123 label "
            "(lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)"
        )
    return name


def validate_service_name(name: str) -> str:
    if len(name) > 63 or not _DNS1035_LABEL.match(name):
        raise UsageError(
            f"invalid service name {name!r}: a Service name must be a DNS-1035 label "
            "(lower-case letters, digits and '-', starting with a letter, at most 63 characters)"
        )
    return name


def validate_target_scope(service: str | None, all_services: bool, all_namespaces: bool) -> None:
    """One service, or --all / -A: exactly one of them."""
    if service is None and not (all_services or all_namespaces):
        raise UsageError("name a SERVICE, or use --all (one namespace) or -A (every namespace)")
    if service is not None and (all_services or all_namespaces):
        raise UsageError("name a SERVICE or use --all/-A, not both")


def parse_duration(text: str) -> int:
    """`15m`, `1h30m`, `90s` or a bare number of seconds."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    m = _DURATION.match(text)
    if not text or not m or not any(m.groups()):
        raise UsageError(f"invalid duration {text!r}: use e.g. 90s, 15m or 1h")
    h, mnt, s = (int(g) if g else 0 for g in m.groups())
    return h * 3600 + mnt * 60 + s


@dataclass(frozen=True)
class ClusterOptions:
    kubeconfig: str | None = None
    context: str | None = None
    snapshot: str | None = None
    request_timeout: float = 15.0


@dataclass(frozen=True)
class OutputOptions:
    fmt: str = "table"
    color: bool = False
    fail_on: str = "fail"  # "fail", "warn" or "never"


@dataclass(frozen=True)
class CheckCommand:
    service: str | None
    namespace: str | None
    all_in_namespace: bool
    all_namespaces: bool
    cluster: ClusterOptions
    output: OutputOptions
    since_seconds: int = 900
    logs: bool = True
    log_bytes: int = 4 * 1024 * 1024
    istioctl: str | None = None
    gate: Any = None  # gate.config.Gate: --select/--ignore/--suppress and the config file
