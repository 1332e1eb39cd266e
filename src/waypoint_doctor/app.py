"""The core of each command, between the CLI's parsed options and the renderers."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from waypoint_doctor.checks.spec import CheckOptions, Target
from waypoint_doctor.collect.scope import CollectScope
from waypoint_doctor.collect.view import ClusterView
from waypoint_doctor.options import CheckCommand, ClusterOptions

Spinner = Callable[[str], AbstractContextManager[Any]]


def open_view(
    cluster: ClusterOptions,
    namespace: str | None,
    scope_for: Callable[[str], CollectScope],
    spinner: Spinner,
    meanwhile: Callable[[], object] | None = None,
) -> tuple[ClusterView, str]:
    """Read the snapshot or the live cluster once. Returns the view and the effective namespace.
    `meanwhile` runs in a thread while a live cluster answers (most of that time is waiting)."""
    if cluster.snapshot:
        from waypoint_doctor.collect.snapshot_dir import load_snapshot

        view = load_snapshot(cluster.snapshot)
        return view, namespace or "default"
    from waypoint_doctor.collect.live import LiveCollector

    collector = LiveCollector(cluster)
    ns = namespace or collector.default_namespace
    helper = threading.Thread(target=_quietly(meanwhile), daemon=True) if meanwhile else None
    if helper is not None:
        helper.start()
    with spinner(f"Reading cluster {collector.context_name or ''}…"):
        view = collector.collect(scope_for(ns))
    if helper is not None:
        helper.join()
    return view, ns


def _quietly(fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        with contextlib.suppress(Exception):  # the main thread redoes it and reports any error
            fn()

    return run


def _load_checks() -> None:
    """The checks' modules: imported while the cluster answers instead of after."""
    import waypoint_doctor.checks.registry  # noqa: F401


def check_scope(cmd: Any) -> Callable[[str], CollectScope]:
    """What `check` reads, given the effective namespace. `snapshot` uses the same scope, so a
    snapshot answers exactly the questions `check` asks. `cmd` is a CheckCommand or a
    SnapshotCommand (same fields)."""

    def scope_for(ns: str) -> CollectScope:
        return CollectScope(
            namespaces=None if cmd.all_namespaces else (ns,),
            services=(cmd.service,) if cmd.service else None,
            since_seconds=cmd.since_seconds,
            logs=cmd.logs,
            log_bytes=cmd.log_bytes,
            istioctl=cmd.istioctl,
        )

    return scope_for


def run_check(cmd: CheckCommand, spinner: Spinner) -> Any:
    from waypoint_doctor.engine import check_fleet, check_service

    view, ns = open_view(cmd.cluster, cmd.namespace, check_scope(cmd), spinner, meanwhile=_load_checks)
    options = CheckOptions(
        since_seconds=cmd.since_seconds,
        now=view.source.taken_at if view.source.kind == "snapshot" else None,
        log_window_applied=view.source.kind == "live",
        logs_enabled=cmd.logs,
    )
    if cmd.service:
        return check_service(view, Target(namespace=ns, name=cmd.service), options, gate=cmd.gate)

    from waypoint_doctor.mesh.fleet import services_in_scope

    namespaces = None if cmd.all_namespaces else (ns,)
    targets = [Target(namespace=n, name=s) for n, s in services_in_scope(view, namespaces)]
    scope: dict[str, Any] = {"namespaces": "all"} if namespaces is None else {"namespaces": list(namespaces)}
    return check_fleet(view, targets, scope, options, gate=cmd.gate)


def run_what_if(
    cluster: ClusterOptions, namespace: str | None, service: str, request: Any, spinner: Spinner
) -> Any:
    from waypoint_doctor.whatif import what_if

    def scope_for(ns: str) -> CollectScope:
        # policies and identities only: no logs, no istioctl
        return CollectScope(namespaces=(ns,), services=(service,), logs=False, use_istioctl=False)

    view, ns = open_view(cluster, namespace, scope_for, spinner)
    return what_if(view, Target(namespace=ns, name=service), request)
