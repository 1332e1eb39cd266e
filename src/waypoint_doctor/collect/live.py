"""The live collector: reads a cluster once, with the official `kubernetes` client, into a view.

Lists are read as raw JSON (`_preload_content`-style: the client's typed models cost ~1 ms per
pod) and trimmed to the fields the checks use. Independent requests run concurrently. A scan of
many services costs one list per kind, never a request per service or pod. Everything here is a
read: the only POSTs are SelfSubjectAccessReviews, which ask the server a question and change
nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from waypoint_doctor.collect import trim
from waypoint_doctor.collect.errors import ClusterUnreachable
from waypoint_doctor.collect.kinds import (
    AUTHORIZATION_POLICIES,
    CONFIGMAPS,
    DAEMONSETS,
    DEPLOYMENTS,
    GATEWAY_CLASSES,
    GATEWAYS,
    NAMESPACES,
    NODES,
    PEER_AUTHENTICATIONS,
    PODS,
    SERVICE_ACCOUNTS,
    SERVICE_ENTRIES,
    SERVICES,
    ResourceKind,
)
from waypoint_doctor.collect.scope import CollectScope
from waypoint_doctor.collect.view import ClusterView, LogKey, SourceInfo, Unreadable, ViewData, obj_name
from waypoint_doctor.mesh.fleet import namespaces_named_by_policies
from waypoint_doctor.options import ClusterOptions

IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
PAGE_SIZE = 500
MAX_WORKERS = 8
MAX_ZTUNNEL_LOG_PODS = 24
# Pods outside the target namespaces that the checks need, found with server-side selectors.
SYSTEM_POD_SELECTORS = (
    "app in (ztunnel,istiod,istio-ingressgateway)",
    "k8s-app=istio-cni-node",
    "gateway.networking.k8s.io/gateway-name",
    "istio=ingressgateway",
)


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def _status_reason(status: int) -> str:
    return {
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        410: "Expired",
        429: "TooManyRequests",
    }.get(status, "Error" if status >= 500 else f"HTTP{status}")


@dataclass
class _Collected:
    objects: dict[str, list[dict]]
    collected: set[str]
    unreadable: list[Unreadable]


class LiveCollector:
    """Connects with kubeconfig (or in-cluster config) and collects what a scope needs."""

    def __init__(self, cluster: ClusterOptions) -> None:
        self.options = cluster
        self.timeout = cluster.request_timeout
        self.context_name: str | None = None
        self.default_namespace = "default"
        self._clock_offset = timedelta(0)
        self._reached = False  # the API server answered once: later timeouts are per-request gaps
        self._api = self._connect(cluster)
        self.server: str = self._api.configuration.host

    # -- connection --------------------------------------------------------------------------
    def _connect(self, cluster: ClusterOptions) -> Any:
        try:
            import urllib3
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise ClusterUnreachable(f"the kubernetes client is not installed: {exc}") from None

        cfg = client.Configuration()
        kubeconfig = cluster.kubeconfig
        paths = [p for p in (kubeconfig or os.environ.get("KUBECONFIG", "")).split(os.pathsep) if p]
        if not paths and Path("~/.kube/config").expanduser().exists():
            paths = [str(Path("~/.kube/config").expanduser())]
        try:
            if paths:
                missing = [p for p in paths if not Path(p).expanduser().exists()]
                if kubeconfig and missing:
                    raise ClusterUnreachable(f"kubeconfig {kubeconfig} does not exist")
                if len(missing) == len(paths):
                    raise ClusterUnreachable(f"no kubeconfig found at {', '.join(paths)}")
                config.load_kube_config(
                    config_file=os.pathsep.join(p for p in paths if p not in missing),
                    context=cluster.context,
                    client_configuration=cfg,
                    persist_config=False,
                )
                self._read_context(paths, cluster.context)
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=cfg)
                self.context_name = "in-cluster"
                if IN_CLUSTER_NAMESPACE.exists():
                    self.default_namespace = IN_CLUSTER_NAMESPACE.read_text().strip() or "default"
            else:
                raise ClusterUnreachable(
                    "no kubeconfig: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run inside a pod"
                )
        except ConfigException as exc:
            raise ClusterUnreachable(f"cannot load kubeconfig: {exc}") from None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ClusterUnreachable(f"cannot load kubeconfig: {type(exc).__name__}: {exc}") from None
        # Idempotent GETs are retried on throttling and transient server errors; a dead server
        # fails fast instead of hanging a mid-incident user.
        cfg.retries = urllib3.Retry(
            total=3,
            connect=1,
            read=1,
            status=2,
            backoff_factor=0.2,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        cfg.connection_pool_maxsize = MAX_WORKERS + 2
        return client.ApiClient(cfg)

    def _read_context(self, paths: list[str], wanted: str | None) -> None:
        from kubernetes import config

        try:
            contexts, active = config.list_kube_config_contexts(config_file=os.pathsep.join(paths))
        except Exception:
            return
        chosen = active
        if wanted:
            chosen = next((c for c in contexts or [] if c.get("name") == wanted), None)
            if chosen is None:
                names = ", ".join(sorted(c.get("name", "") for c in contexts or []))
                raise ClusterUnreachable(f"context {wanted!r} not found in kubeconfig (have: {names})")
        if chosen:
            self.context_name = chosen.get("name")
            ns = (chosen.get("context") or {}).get("namespace")
            if ns:
                self.default_namespace = ns

    # -- raw requests ------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        stream: bool = False,
        timeout: float | None = None,
    ) -> Any:
        import urllib3

        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            m, url, hdrs, ser_body, _ = self._api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            t = timeout or self.timeout
            resp = self._api.call_api(
                m, url, header_params=hdrs, body=ser_body, _request_timeout=(min(5.0, t), t)
            )
        except urllib3.exceptions.HTTPError as exc:
            if self._reached and _is_slow_answer(exc):
                # the server is there but this one read was too slow: a gap, not the end
                raise ApiError(
                    0, "Timeout", f"no answer within {self.timeout:g}s (--request-timeout)"
                ) from None
            raise ClusterUnreachable(
                f"cannot reach the Kubernetes API at {self.server}: {_root_cause(exc)}"
            ) from None
        except Exception as exc:
            if type(exc).__name__ == "ApiException" and getattr(exc, "status", None) == 0:
                raise ClusterUnreachable(
                    f"TLS failure talking to {self.server}: {_first_line(str(exc))}"
                ) from None
            raise
        if not 200 <= resp.status < 300:
            data = resp.read()
            message = ""
            try:
                status_obj = json.loads(data)
                message = status_obj.get("message", "") if isinstance(status_obj, dict) else ""
            except (ValueError, TypeError):
                message = (data or b"")[:200].decode("utf-8", "replace")
            raise ApiError(resp.status, _status_reason(resp.status), message)
        if stream:
            return resp.response
        if path == "/version":
            self._reached = True
            self._note_server_clock(resp.getheader("Date"))
        return json.loads(resp.read())

    def _note_server_clock(self, date_header: str | None) -> None:
        """The API server's clock: it windows the logs (sinceSeconds), so it dates the snapshot."""
        from email.utils import parsedate_to_datetime

        try:
            server_now = parsedate_to_datetime(date_header) if date_header else None
        except (TypeError, ValueError):
            server_now = None
        if server_now is not None and server_now.tzinfo is not None:
            self._clock_offset = server_now - datetime.now(UTC)

    def _list(
        self,
        kind: ResourceKind,
        version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict]:
        path = kind.api_path(version, namespace)
        items: list[dict] = []
        cont: str | None = None
        restarted = False
        while True:
            query: list[tuple[str, Any]] = [("limit", PAGE_SIZE)]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if field_selector:
                query.append(("fieldSelector", field_selector))
            if cont:
                query.append(("continue", cont))
            try:
                page = self._request("GET", path, query)
            except ApiError as exc:
                if exc.status == 410 and cont and not restarted:  # continue token expired: start over once
                    items, cont, restarted = [], None, True
                    continue
                raise
            group_version = page.get("apiVersion") or (f"{kind.group}/{version}" if kind.group else version)
            for item in page.get("items") or []:
                if isinstance(item, dict):
                    item.setdefault("apiVersion", group_version)
                    item.setdefault("kind", kind.kind)
                    items.append(trim.trim_object(kind, item))
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                return items

    # -- discovery ---------------------------------------------------------------------------
    def _discover(self) -> tuple[str | None, dict[str, tuple[str, ...]]]:
        version_info = self._request("GET", "/version")
        groups: dict[str, tuple[str, ...]] = {"": ("v1",)}
        try:
            apis = self._request("GET", "/apis")
            for g in apis.get("groups") or []:
                versions = [v.get("version") for v in g.get("versions") or [] if v.get("version")]
                preferred = (g.get("preferredVersion") or {}).get("version")
                if preferred in versions:
                    versions.remove(preferred)
                    versions.insert(0, preferred)
                groups[g.get("name", "")] = tuple(versions)
        except ApiError as exc:
            if exc.status == 401:
                raise ClusterUnreachable(
                    f"the API server at {self.server} rejected the credentials (401 Unauthorized)"
                ) from None
        return version_info.get("gitVersion"), groups

    # -- collection --------------------------------------------------------------------------
    def collect(self, scope: CollectScope) -> ClusterView:
        try:
            server_version, groups = self._discover()
        except ApiError as exc:
            if exc.status == 401:
                raise ClusterUnreachable(
                    f"the API server at {self.server} rejected the credentials (401 Unauthorized)"
                ) from None
            raise ClusterUnreachable(
                f"the API server at {self.server} answered {exc.status} {exc.reason}"
            ) from None

        acc = _Collected(objects={}, collected=set(), unreadable=[])
        with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
            jobs = self._object_jobs(scope, groups)
            for kind, futures in [(k, [pool.submit(fn) for fn in fns]) for k, fns in jobs]:
                self._gather(kind, futures, acc)
            self._check_auth(acc)
            self._second_phase(scope, groups, acc, pool)

        view_without_logs = self._view(acc, groups, server_version, {}, {})
        logs, istioctl_out = self._evidence(scope, view_without_logs, acc)
        return self._view(acc, groups, server_version, logs, istioctl_out)

    def _view(
        self,
        acc: _Collected,
        groups: dict[str, tuple[str, ...]],
        server_version: str | None,
        logs: dict[LogKey, str],
        istioctl_out: dict[str, str],
    ) -> ClusterView:
        return ClusterView(
            ViewData(
                objects=_dedupe(acc.objects),
                collected=frozenset(acc.collected),
                unreadable=tuple(acc.unreadable),
                logs=logs,
                istioctl=istioctl_out,
                source=SourceInfo(
                    kind="live",
                    context=self.context_name,
                    server=self.server,
                    taken_at=datetime.now(UTC) + self._clock_offset,
                ),
                api_groups=groups,
                server_version=server_version,
            )
        )

    def _version_for(self, kind: ResourceKind, groups: dict[str, tuple[str, ...]]) -> str | None:
        served = groups.get(kind.group)
        if served is None:
            return None
        for v in kind.versions:
            if v in served:
                return v
        return None

    def _object_jobs(
        self, scope: CollectScope, groups: dict[str, tuple[str, ...]]
    ) -> list[tuple[ResourceKind, list[Callable[[], tuple[str | None, list[dict]]]]]]:
        """One list per kind (per namespace in scope for namespace-heavy kinds)."""
        per_ns = [None] if scope.namespaces is None else list(scope.namespaces)

        def lister(
            kind: ResourceKind, ns: str | None = None, **sel: str | None
        ) -> Callable[[], tuple[str | None, list[dict]]]:
            def run() -> tuple[str | None, list[dict]]:
                version = self._version_for(kind, groups)
                if version is None:
                    raise ApiError(404, "NotFound", f"{kind.group} is not served")
                return ns, self._list(kind, version, ns, **sel)

            return run

        jobs: list[tuple[ResourceKind, list[Callable[[], tuple[str | None, list[dict]]]]]] = [
            (NAMESPACES, [lister(NAMESPACES)]),
            (
                SERVICES,
                [lister(SERVICES, ns) for ns in per_ns]
                # the same name elsewhere: a policy in another namespace may target its own
                # Service of that name (WD403), and a misplaced Service is worth naming (WD301)
                + [
                    lister(SERVICES, None, field_selector=f"metadata.name={s}")
                    for s in (scope.services or ())
                    if scope.namespaces is not None
                ],
            ),
            (
                PODS,
                [lister(PODS, ns) for ns in per_ns]
                + (
                    []
                    if scope.namespaces is None
                    else [lister(PODS, None, label_selector=s) for s in SYSTEM_POD_SELECTORS]
                ),
            ),
            (SERVICE_ACCOUNTS, [lister(SERVICE_ACCOUNTS)]),
            (
                DEPLOYMENTS,
                [
                    lister(DEPLOYMENTS, None, label_selector="app=istiod"),
                    lister(DEPLOYMENTS, None, label_selector="gateway.istio.io/managed"),
                ],
            ),
            (NODES, [lister(NODES)]),
            (DAEMONSETS, [lister(DAEMONSETS)]),
            (GATEWAYS, [lister(GATEWAYS)]),
            (GATEWAY_CLASSES, [lister(GATEWAY_CLASSES)]),
            (AUTHORIZATION_POLICIES, [lister(AUTHORIZATION_POLICIES)]),
            (PEER_AUTHENTICATIONS, [lister(PEER_AUTHENTICATIONS)]),
            (SERVICE_ENTRIES, [lister(SERVICE_ENTRIES, ns) for ns in per_ns]),
        ]
        return jobs

    def _gather(self, kind: ResourceKind, futures: list[Any], acc: _Collected) -> None:
        ok = True
        for fut in futures:
            try:
                _ns, items = fut.result()
                acc.objects.setdefault(kind.key, []).extend(items)
            except ApiError as exc:
                ok = self._record_failure(kind, exc, acc, fut) and ok
        if ok or kind.key in acc.objects:
            acc.collected.add(kind.key)

    def _record_failure(self, kind: ResourceKind, exc: ApiError, acc: _Collected, fut: Any) -> bool:
        # which namespace failed is not carried by the exception; find it from the message
        ns = _namespace_from_message(exc.message)
        acc.unreadable.append(
            Unreadable(
                resource=kind.key, reason=exc.reason, verb="list", namespace=ns, message=exc.message[:300]
            )
        )
        return False

    def _check_auth(self, acc: _Collected) -> None:
        if (
            acc.unreadable
            and all(u.reason == "Unauthorized" for u in acc.unreadable)
            and not any(acc.objects.values())
        ):
            raise ClusterUnreachable(
                f"the API server at {self.server} rejected the credentials (401 Unauthorized)"
            )

    def _second_phase(
        self,
        scope: CollectScope,
        groups: dict[str, tuple[str, ...]],
        acc: _Collected,
        pool: ThreadPoolExecutor,
    ) -> None:
        """What can only be asked once the first lists are in: the mesh ConfigMap, pods of
        namespaces that policies name, and a namespace object we could not list."""
        futures: list[tuple[ResourceKind, Any]] = []
        istiods = acc.objects.get(DEPLOYMENTS.key, [])
        targets: set[tuple[str, str]] = set()
        for d in istiods:
            ns = (d.get("metadata") or {}).get("namespace") or "istio-system"
            rev = ((d.get("metadata") or {}).get("labels") or {}).get("istio.io/rev")
            targets.add((ns, "istio"))
            if rev and rev != "default":
                targets.add((ns, f"istio-{rev}"))
        if not targets:
            targets.add(("istio-system", "istio"))
        for ds in acc.objects.get(DAEMONSETS.key, []):
            md = ds.get("metadata") or {}
            if (md.get("labels") or {}).get("k8s-app") == "istio-cni-node" or md.get(
                "name"
            ) == "istio-cni-node":
                targets.add((md.get("namespace") or "istio-system", "istio-cni-config"))
        for ns, name in sorted(targets):
            futures.append(
                (
                    CONFIGMAPS,
                    pool.submit(
                        lambda ns=ns, name=name: (
                            ns,
                            self._list(CONFIGMAPS, "v1", ns, field_selector=f"metadata.name={name}"),
                        )
                    ),
                )
            )
        if scope.namespaces is not None:
            # only policies that can concern the targets: theirs, and the istio namespaces' (root)
            relevant_ns = (
                set(scope.namespaces)
                | {(d.get("metadata") or {}).get("namespace") or "istio-system" for d in istiods}
                | {"istio-system"}
            )
            extra = namespaces_named_by_policies(
                p
                for p in acc.objects.get(AUTHORIZATION_POLICIES.key, [])
                if (p.get("metadata") or {}).get("namespace") in relevant_ns
            )
            extra |= {
                b
                for b in _waypoint_namespaces(
                    acc.objects.get(SERVICES.key, []), acc.objects.get(NAMESPACES.key, [])
                )
            }
            for ns in sorted(extra - set(scope.namespaces)):
                futures.append((PODS, pool.submit(lambda ns=ns: (ns, self._list(PODS, "v1", ns)))))
        if NAMESPACES.key not in acc.collected:
            for ns in scope.namespaces or ():
                futures.append(
                    (NAMESPACES, pool.submit(lambda ns=ns: (None, self._get_or_empty(NAMESPACES, ns))))
                )
        cm_ok = True
        for kind, fut in futures:
            try:
                _ns, items = fut.result()
                acc.objects.setdefault(kind.key, []).extend(items)
            except ApiError as exc:
                if kind is CONFIGMAPS:
                    cm_ok = False
                if exc.status != 403 or kind is CONFIGMAPS:
                    self._record_failure(kind, exc, acc, fut)
        if cm_ok:
            acc.collected.add(CONFIGMAPS.key)
        if NAMESPACES.key not in acc.collected and acc.objects.get(NAMESPACES.key):
            # we could read the namespaces we asked for by name: enough for the checks
            acc.unreadable = [u for u in acc.unreadable if u.resource != NAMESPACES.key]
            acc.collected.add(NAMESPACES.key)

    def _get_or_empty(self, kind: ResourceKind, name: str) -> list[dict]:
        try:
            obj = self._request("GET", kind.api_path("v1", None, name))
        except ApiError as exc:
            if exc.status == 404:
                return []
            raise
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("kind", kind.kind)
        return [trim.trim_object(kind, obj)]

    # -- permissions --------------------------------------------------------------------------
    def can_i(
        self, verb: str, resource: str, namespace: str | None, subresource: str | None = None, group: str = ""
    ) -> bool | None:
        attrs: dict[str, Any] = {"verb": verb, "resource": resource, "group": group}
        if namespace:
            attrs["namespace"] = namespace
        if subresource:
            attrs["subresource"] = subresource
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs},
        }
        try:
            answer = self._request(
                "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=body
            )
        except ApiError:
            return None
        return bool((answer.get("status") or {}).get("allowed"))

    # -- logs and istioctl ---------------------------------------------------------------------
    def _evidence(
        self, scope: CollectScope, view: ClusterView, acc: _Collected
    ) -> tuple[dict[LogKey, str], dict[str, str]]:
        from waypoint_doctor.collect.evidence_plan import plan_evidence

        plan = plan_evidence(view, scope, max_ztunnels=MAX_ZTUNNEL_LOG_PODS)
        logs: dict[LogKey, str] = {}
        if scope.logs and plan.log_targets:
            namespaces = sorted({k.namespace for k in plan.log_targets})
            with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
                allowed = dict(
                    zip(
                        namespaces,
                        pool.map(lambda ns: self.can_i("get", "pods", ns, "log"), namespaces),
                        strict=True,
                    )
                )
                wanted = []
                for key in plan.log_targets:
                    if allowed.get(key.namespace) is False:
                        continue
                    wanted.append(key)
                for ns in namespaces:
                    if allowed.get(ns) is False:
                        acc.unreadable.append(
                            Unreadable(
                                resource="pods",
                                subresource="log",
                                verb="get",
                                namespace=ns,
                                reason="Forbidden",
                            )
                        )
                results = pool.map(lambda k: (k, self._read_log(k, scope)), wanted)
                for key, outcome in results:
                    if isinstance(outcome, str):
                        logs[key] = outcome
                    elif outcome is not None:
                        acc.unreadable.append(outcome)
        istioctl_out: dict[str, str] = {}
        if scope.use_istioctl:
            istioctl_out = self._run_istioctl(scope, plan, acc)
        return logs, istioctl_out

    def _read_log(self, key: LogKey, scope: CollectScope) -> str | Unreadable | None:
        path = f"/api/v1/namespaces/{quote(key.namespace)}/pods/{quote(key.pod)}/log"
        query: list[tuple[str, Any]] = [
            ("container", key.container),
            ("sinceSeconds", max(1, scope.since_seconds)),
            ("limitBytes", scope.log_bytes),
        ]
        try:
            resp = self._request("GET", path, query, stream=True, timeout=max(self.timeout, 30.0))
        except ApiError as exc:
            return Unreadable(
                resource="pods",
                subresource="log",
                verb="get",
                namespace=key.namespace,
                name=key.pod,
                reason=exc.reason,
                message=exc.message[:200],
            )
        except ClusterUnreachable:
            return None
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in resp.stream(64 * 1024):
                chunks.append(chunk)
                size += len(chunk)
                if size >= scope.log_bytes:
                    break
        except Exception as exc:  # a stream cut mid-way keeps what arrived
            chunks.append(f"\n# waypoint-doctor: log stream interrupted: {type(exc).__name__}\n".encode())
        finally:
            resp.release_conn()
        return b"".join(chunks)[: scope.log_bytes].decode("utf-8", "replace")

    def _run_istioctl(self, scope: CollectScope, plan: Any, acc: _Collected) -> dict[str, str]:
        try:
            from waypoint_doctor.collect import istioctl
        except ImportError:
            return {}
        capture = istioctl.capture_istioctl(
            scope.istioctl,
            kubeconfig=self.options.kubeconfig,
            context=self.options.context,
            ztunnel_pods=plan.ztunnel_pods,
            waypoint_pods=plan.waypoint_pods,
        )
        return dict(capture.outputs)


def _dedupe(objects: dict[str, list[dict]]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for key, items in objects.items():
        seen: dict[tuple[str, str], dict] = {}
        for obj in items:
            md = obj.get("metadata") or {}
            seen.setdefault((md.get("namespace") or "", md.get("name") or ""), obj)
        out[key] = list(seen.values())
    return out


def _namespace_from_message(message: str) -> str | None:
    marker = 'in the namespace "'
    if marker in message:
        return message.split(marker, 1)[1].split('"', 1)[0] or None
    return None


def _waypoint_namespaces(services: Iterable[dict], namespaces: Iterable[dict]) -> set[str]:
    out = set()
    for obj in [*services, *namespaces]:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        ns = labels.get("istio.io/use-waypoint-namespace")
        if isinstance(ns, str) and ns:
            out.add(ns)
    return out


def _is_slow_answer(exc: BaseException) -> bool:
    """A read timeout (possibly after retries), as opposed to a refused or failed connection."""
    import urllib3

    reason = getattr(exc, "reason", None)
    return isinstance(exc, urllib3.exceptions.ReadTimeoutError) or isinstance(
        reason, urllib3.exceptions.ReadTimeoutError
    )


def _root_cause(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason or exc)
    for marker in (
        "Connection refused",
        "Name or service not known",
        "timed out",
        "No route to host",
        "CERTIFICATE_VERIFY_FAILED",
        "Temporary failure in name resolution",
    ):
        if marker in text:
            return marker.lower() if marker != "CERTIFICATE_VERIFY_FAILED" else "certificate verify failed"
    return _first_line(text)[:200]


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


__all__ = ["LiveCollector", "obj_name"]
