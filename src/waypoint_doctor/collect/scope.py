"""What a run needs to read: the namespaces and services in scope, and the evidence options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CollectScope:
    namespaces: tuple[str, ...] | None  # None: every namespace
    services: tuple[str, ...] | None = None  # None: every service of the namespaces in scope
    since_seconds: int = 900
    logs: bool = True
    log_bytes: int = 4 * 1024 * 1024
    istioctl: str | None = None  # path; None = look on PATH
    use_istioctl: bool = True
