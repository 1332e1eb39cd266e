"""The live collector: reads a cluster once, with the official `kubernetes` client, into a view.

Lists are read as raw JSON (`_preload_content`-style: the client's typed models cost ~1 ms per
pod) and trimmed to the fields the checks use as each page arrives. A scan of many services
costs one list per kind, never a request per service or pod. Everything here is a read: the
only POSTs are SelfSubjectAccessReviews, which ask the server a question and change nothing.

How a run is scheduled (one service is ~25 requests in about three round trips):
- Discovery (`/version`, `/apis`), every list, the mesh ConfigMaps where istiod usually lives
  and one cluster-wide "may I read pod logs?" review start together. A list is asked at the
  kind's preferred version; only a 404 waits for discovery to pick another.
- What needs the lists (ConfigMaps of another istiod namespace or revision, pods of namespaces
  that policies name, a waypoint's Deployment when it has no pods) follows them, and the logs
  the first lists already call for start at the same time; istioctl runs beside the logs.
- At most MAX_IN_FLIGHT requests are in flight.

How a run survives a flaky API server (`_Transport`): every read is idempotent (GETs, and the
access reviews that store nothing), so a connection reset, a body cut short or not JSON, a
429/500/502/503/504 or a per-request timeout is retried with exponential backoff and jitter
(urllib3's `Retry` counts the attempts, computes the backoff and parses `Retry-After`), until
MAX_ATTEMPTS or the run's retry deadline: RETRY_BUDGET x --request-timeout (at least
RETRY_BUDGET_MIN seconds) after the collection started; an attempt under way finishes. A
429 or a `Retry-After` also slows every request down (a pause, and half the concurrency, won
back one success at a time). When retries run out, the read becomes an `Unreadable` that names
the fault, so the checks that needed it skip and the rest of the report prints. Only a server
that never answered at all (refused, unresolvable, TLS failure, credentials refused) ends the
run with ClusterUnreachable.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
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
MAX_IN_FLIGHT = 12
MAX_ZTUNNEL_LOG_PODS = 24
MAX_ATTEMPTS = 6  # per read: the first try and five retries
RETRY_BUDGET = 2.0  # retries stop this many --request-timeout after the collection started,
RETRY_BUDGET_MIN = 10.0  # and never sooner than this many seconds
BACKOFF_FACTOR = 0.1  # urllib3 Retry: 0, 0.2, 0.4, 0.8 ... s between attempts, plus jitter
BACKOFF_JITTER = 0.1
BACKOFF_MAX = 2.0
THROTTLE_MIN_PAUSE = 0.25  # a 429 without Retry-After still waits this long
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
LOG_READ_TIMEOUT = 30.0  # kubelet may take a while to start streaming a big log
DEFAULT_ISTIO_NAMESPACE = "istio-system"
# Pods outside the target namespaces that the checks need, found with server-side selectors.
SYSTEM_POD_SELECTORS = (
    "app in (ztunnel,istiod,istio-ingressgateway)",
    "k8s-app=istio-cni-node",
    "gateway.networking.k8s.io/gateway-name",
    "istio=ingressgateway",
)
ISTIOD_SELECTOR = "app=istiod"
# what evidence_plan reads to name the logs: gathered first, so the logs start early
PLAN_KINDS = (NAMESPACES.key, SERVICES.key, PODS.key, GATEWAYS.key, AUTHORIZATION_POLICIES.key)
WAYPOINT_DEPLOYMENT_SELECTOR = "gateway.istio.io/managed"

T = TypeVar("T")


class ApiError(Exception):
    """A read that did not succeed: an HTTP status, or (status 0) a fault retries did not get past."""

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
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }.get(status, "Error" if status >= 500 else f"HTTP{status}")


class _Undecodable(Exception):
    """The body arrived complete by its framing but is not the JSON it should be."""


# -- pacing and retries --------------------------------------------------------------------------


class _Gate:
    """Bounds the requests in flight, and slows them all down when the server pushes back.

    A 429 or a Retry-After pauses new attempts for the time asked and halves the concurrency
    limit; each success while below the bound wins one slot back (additive increase).
    """

    def __init__(self, limit: int) -> None:
        self.bound = limit
        self._limit = limit
        self._in_flight = 0
        self._paused_until = 0.0
        self._streak = 0
        self._cond = threading.Condition()

    @property
    def limit(self) -> int:
        return self._limit

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            while True:
                wait = self._paused_until - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                elif self._in_flight >= self._limit:
                    self._cond.wait()
                else:
                    break
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def push_back(self, pause: float) -> None:
        with self._cond:
            self._limit = max(1, self._limit // 2)
            self._streak = 0
            self._paused_until = max(self._paused_until, time.monotonic() + pause)

    def succeeded(self) -> None:
        if self._limit >= self.bound:
            return
        with self._cond:
            self._streak += 1
            if self._streak >= self._limit:
                self._limit, self._streak = min(self.bound, self._limit + 1), 0
                self._cond.notify_all()


@dataclass
class RetryStats:
    """What the transport went through: retries by fault, and reads given up on."""

    retries: dict[str, int] = field(default_factory=dict)
    gave_up: dict[str, int] = field(default_factory=dict)
    pushed_back: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, table: dict[str, int], reason: str) -> None:
        with self._lock:
            table[reason] = table.get(reason, 0) + 1


class _Transport:
    """One read = one call of `call`, retried as the module docstring says."""

    def __init__(self, api: Any, server: str, timeout: float) -> None:
        import urllib3

        self.api = api
        self.server = server
        self.timeout = timeout
        self.gate = _Gate(MAX_IN_FLIGHT)
        self.stats = RetryStats()
        self.deadline = time.monotonic() + self.budget
        self.answered = False  # the API server answered once: later failures are gaps, not the end
        self.stopping = threading.Event()  # the run is over: no more attempts
        self._policy = urllib3.Retry(
            total=MAX_ATTEMPTS - 1,
            connect=MAX_ATTEMPTS - 1,
            read=MAX_ATTEMPTS - 1,
            status=MAX_ATTEMPTS - 1,
            other=0,
            redirect=0,
            backoff_factor=BACKOFF_FACTOR,
            backoff_jitter=BACKOFF_JITTER,
            backoff_max=BACKOFF_MAX,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "POST"}),  # POST: access reviews only, which store nothing
            respect_retry_after_header=True,
            raise_on_status=False,
        )

    @property
    def budget(self) -> float:
        return max(RETRY_BUDGET * self.timeout, RETRY_BUDGET_MIN)

    def start_clock(self) -> None:
        self.deadline = time.monotonic() + self.budget

    def call(
        self,
        method: str,
        path: str,
        read: Callable[[Any], T],
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> T:
        """`read(response)` turns a 2xx answer into the result; its failures are retried too."""
        import urllib3

        retry = self._policy
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            if attempts > 1 and self.stopping.is_set():
                raise ApiError(0, "Aborted", "the collection stopped")
            response = None
            error: BaseException | None = None
            broken = True  # a connection is only reused after its answer was read to the end
            with self.gate.slot():
                try:
                    response = self._send(method, path, query, body, timeout)
                    if 200 <= response.status < 300:
                        result = read(response)
                        broken = False
                        self.gate.succeeded()
                        return result
                    status_error, broken = self._status_error(response)
                    if not retry.is_retry(method, response.status, "Retry-After" in response.headers):
                        raise status_error
                    error = status_error
                except (_Attempt, urllib3.exceptions.HTTPError, OSError, _Undecodable) as exc:
                    error = exc
                finally:
                    _release(response, broken)
            reason = _fault_reason(error)
            try:
                if isinstance(error, ApiError) and response is not None:
                    retry = retry.increment(method, path, response=response.response)
                else:
                    retry = retry.increment(method, path, error=_as_urllib3_error(error))
            except Exception:  # MaxRetryError, or the error re-raised: not to be retried
                raise self._give_up(error, reason, attempts, started) from None
            pause = retry.get_backoff_time() or random.uniform(0, BACKOFF_JITTER)
            if isinstance(error, ApiError) and response is not None:
                asked = retry.get_retry_after(response.response)
                if error.status == 429 or asked is not None:
                    pause = max(pause, asked if asked is not None else THROTTLE_MIN_PAUSE)
                    self.gate.push_back(min(pause, max(0.0, self.deadline - time.monotonic())))
                    self.stats.pushed_back += 1
            if time.monotonic() + pause >= self.deadline:
                raise self._give_up(error, reason, attempts, started)
            self.stats.count(self.stats.retries, reason)
            time.sleep(pause)

    def _send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, Any]] | None,
        body: Any,
        timeout: float | None,
    ) -> Any:
        """One attempt up to the response headers. Connection failures before the server ever
        answered end the run; after that, they are retried like any other fault."""
        import urllib3

        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        m, url, hdrs, ser_body, _ = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        t = timeout or self.timeout
        try:
            response = self.api.call_api(
                m, url, header_params=hdrs, body=ser_body, _request_timeout=(min(5.0, t), t)
            )
        except urllib3.exceptions.HTTPError as exc:
            if not self.answered and not _is_aborted_answer(exc):
                raise ClusterUnreachable(
                    f"cannot reach the Kubernetes API at {self.server}: {_root_cause(exc)}"
                ) from None
            raise _Attempt(exc) from None
        except Exception as exc:
            if type(exc).__name__ == "ApiException" and getattr(exc, "status", None) == 0:
                if not self.answered:
                    raise ClusterUnreachable(
                        f"TLS failure talking to {self.server}: {_first_line(str(exc))}"
                    ) from None
                raise _Attempt(urllib3.exceptions.SSLError(_first_line(str(exc)))) from None
            raise
        self.answered = True
        return response

    def _status_error(self, response: Any) -> tuple[ApiError, bool]:
        """The error an answer that is not 2xx stands for, and whether its body was cut."""
        data, broken = b"", True
        with contextlib.suppress(Exception):  # the error body itself was cut: the status says enough
            data = response.read() or b""
            broken = False
        message, reason = "", ""
        try:
            status_obj = json.loads(data)
            if isinstance(status_obj, dict):
                message = str(status_obj.get("message") or "")
                reason = str(status_obj.get("reason") or "")
        except (ValueError, TypeError):
            message = data[:200].decode("utf-8", "replace")
        if response.status in (401, 403, 404, 410) or not reason:
            reason = _status_reason(response.status)  # the reasons checks compare against
        return ApiError(response.status, reason, message), broken

    def _give_up(self, error: BaseException | None, reason: str, attempts: int, started: float) -> ApiError:
        self.stats.count(self.stats.gave_up, reason)
        if isinstance(error, ApiError):
            what = error.message or f"{error.status} {error.reason}"
            status = error.status
        else:
            what, status = _fault_text(error, self.timeout), 0
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''} in {time.monotonic() - started:.1f}s"
        return ApiError(status, reason, f"{what}; gave up after {tries}")


class _Attempt(Exception):
    """An attempt that failed below HTTP (reset, timeout...) after the server had answered."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _release(response: Any, broken: bool) -> None:
    """Give the connection back to the pool; closed first when its answer was not read to the end
    (the pool then opens a new one instead of reading the rest of an old answer)."""
    raw = getattr(response, "response", None)
    if raw is None:
        return
    with contextlib.suppress(Exception):
        if broken:
            raw.close()
        raw.release_conn()


def _as_urllib3_error(error: BaseException | None) -> Exception:
    """urllib3's Retry counts read errors (retryable for idempotent methods) by type."""
    import urllib3

    if isinstance(error, _Attempt):
        error = error.cause
    if isinstance(error, urllib3.exceptions.HTTPError) and not isinstance(error, urllib3.exceptions.SSLError):
        return error
    return urllib3.exceptions.ProtocolError(str(error), error)


def _fault_reason(error: BaseException | None) -> str:
    import urllib3

    if isinstance(error, ApiError):
        return error.reason
    if isinstance(error, _Attempt):
        error = error.cause
    if isinstance(error, _Undecodable):
        return "TruncatedBody"
    if _is_timeout(error):
        return "Timeout"
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        return "ConnectionFailed"
    return "ConnectionReset"


def _fault_text(error: BaseException | None, timeout: float) -> str:
    reason = _fault_reason(error)
    if reason == "Timeout":
        return f"no answer within {timeout:g}s (--request-timeout)"
    if reason == "TruncatedBody":
        return "the answer was cut short or was not JSON"
    if reason == "ConnectionFailed":
        return f"could not connect: {_root_cause(error) if error else 'unknown error'}"
    return "the connection was reset before the answer was complete"


def _is_timeout(error: BaseException | None) -> bool:
    import urllib3

    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, urllib3.exceptions.TimeoutError | TimeoutError):
            return not isinstance(error, urllib3.exceptions.NewConnectionError)
        if "timed out" in str(error):
            return True
        error = getattr(error, "reason", None) or (error.args[1] if len(error.args) > 1 else None)
        error = error if isinstance(error, BaseException) else None
        seen += 1
    return False


def _is_aborted_answer(exc: BaseException) -> bool:
    """The server accepted the connection, then cut it or was too slow: it is there."""
    import urllib3

    if isinstance(exc, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError):
        return False
    return isinstance(exc, urllib3.exceptions.ProtocolError | urllib3.exceptions.ReadTimeoutError)


def _read_json(response: Any) -> Any:
    data = response.read()
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Undecodable(f"{len(data)} bytes that are not JSON: {exc}") from None


# -- the collector ---------------------------------------------------------------------------


@dataclass
class _Collected:
    objects: dict[str, list[dict]]
    collected: set[str]
    unreadable: list[Unreadable]


@dataclass(frozen=True)
class _ListJob:
    kind: ResourceKind
    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None


class LiveCollector:
    """Connects with kubeconfig (or in-cluster config) and collects what a scope needs."""

    def __init__(self, cluster: ClusterOptions) -> None:
        self.options = cluster
        self.timeout = cluster.request_timeout
        self.context_name: str | None = None
        self.default_namespace = "default"
        self._clock_offset = timedelta(0)
        self._api = self._connect(cluster)
        self.server: str = self._api.configuration.host
        self._transport = _Transport(self._api, self.server, self.timeout)
        self._discovery: Future[dict[str, tuple[str, ...]] | None] | None = None

    @property
    def retry_stats(self) -> RetryStats:
        return self._transport.stats

    # -- connection --------------------------------------------------------------------------
    def _connect(self, cluster: ClusterOptions) -> Any:
        try:
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
        # _Transport retries every read itself, under the run's deadline; retries below it would
        # multiply the attempts and hide the time they take.
        cfg.retries = False
        cfg.connection_pool_maxsize = MAX_IN_FLIGHT + 2
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
    def _get_json(self, path: str, query: list[tuple[str, Any]] | None = None) -> Any:
        return self._transport.call("GET", path, _read_json, query)

    def _note_server_clock(self, response: Any) -> None:
        """The API server's clock: it windows the logs (sinceSeconds), so it dates the snapshot."""
        from email.utils import parsedate_to_datetime

        date_header = response.getheader("Date")
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
                page = self._get_json(path, query)
            except ApiError as exc:
                if exc.status == 410 and cont and not restarted:  # continue token expired: start over once
                    items, cont, restarted = [], None, True
                    continue
                raise
            if not isinstance(page, dict):
                raise ApiError(
                    0, "TruncatedBody", f"a list answer that is not an object: {type(page).__name__}"
                )
            group_version = page.get("apiVersion") or (f"{kind.group}/{version}" if kind.group else version)
            for item in page.get("items") or []:
                if isinstance(item, dict):
                    item.setdefault("apiVersion", group_version)
                    item.setdefault("kind", kind.kind)
                    items.append(trim.trim_object(kind, item))
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                return items

    def _list_job(self, job: _ListJob) -> list[dict]:
        """List at the kind's preferred version; on a 404, try the other versions discovery says
        the group serves (a group may serve a version for some of its kinds only)."""
        kind = job.kind
        tried = kind.versions[0]
        try:
            return self._list(kind, tried, job.namespace, job.label_selector, job.field_selector)
        except ApiError as exc:
            if exc.status != 404 or self._discovery is None:
                raise
            groups = self._discovery.result()
            if groups is None:
                raise
            served = groups.get(kind.group) or ()
            others = [v for v in kind.versions if v in served and v != tried]
            if not served or not any(v in served for v in kind.versions):
                raise ApiError(
                    404, "NotFound", f"{kind.group or 'core'} {kind.plural} is not served"
                ) from None
            last = exc
        for version in others:
            try:
                return self._list(kind, version, job.namespace, job.label_selector, job.field_selector)
            except ApiError as exc:
                if exc.status != 404:
                    raise
                last = exc
        raise last

    # -- discovery ---------------------------------------------------------------------------
    def _version(self) -> str | None:
        info = self._transport.call("GET", "/version", self._read_version)
        return info.get("gitVersion") if isinstance(info, dict) else None

    def _read_version(self, response: Any) -> Any:
        self._note_server_clock(response)
        return _read_json(response)

    def _groups(self) -> dict[str, tuple[str, ...]] | None:
        """group -> versions served, preferred first; None when discovery could not be read."""
        try:
            apis = self._get_json("/apis")
        except ApiError as exc:
            if exc.status == 401:
                raise ClusterUnreachable(
                    f"the API server at {self.server} rejected the credentials (401 Unauthorized)"
                ) from None
            return None
        groups: dict[str, tuple[str, ...]] = {"": ("v1",)}
        for g in (apis.get("groups") if isinstance(apis, dict) else None) or []:
            versions = [v.get("version") for v in g.get("versions") or [] if v.get("version")]
            preferred = (g.get("preferredVersion") or {}).get("version")
            if preferred in versions:
                versions.remove(preferred)
                versions.insert(0, preferred)
            groups[g.get("name", "")] = tuple(versions)
        return groups

    # -- collection --------------------------------------------------------------------------
    def collect(self, scope: CollectScope) -> ClusterView:
        self._transport.start_clock()
        pool = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix="wd-read")
        try:
            return self._collect(scope, pool)
        finally:
            self._transport.stopping.set()  # reads still retrying after a fatal error stop now
            pool.shutdown(wait=True, cancel_futures=True)

    def _collect(self, scope: CollectScope, pool: ThreadPoolExecutor) -> ClusterView:
        # Everything that needs nothing but the scope starts at once, in the order the run
        # needs the answers: discovery, the permission the logs wait on, the lists the log plan
        # reads, the other lists, then the mesh ConfigMaps where istiod usually lives.
        version_f = pool.submit(self._version)
        self._discovery = pool.submit(self._groups)
        logs_allowed_f = pool.submit(self.can_i, "get", "pods", None, "log") if scope.logs else None
        jobs = self._first_lists(scope)
        list_futures = [(job, pool.submit(self._list_job, job)) for job in jobs]
        cm_guess = [(DEFAULT_ISTIO_NAMESPACE, "istio"), (DEFAULT_ISTIO_NAMESPACE, "istio-cni-config")]
        cm_futures = {key: pool.submit(self._configmap, *key) for key in cm_guess}

        server_version = self._server_version(version_f)
        self._check_answered(version_f)
        groups = self._discovery.result()
        acc = _Collected(objects={}, collected=set(), unreadable=[])
        by_kind: dict[str, list[tuple[_ListJob, Future[list[dict]]]]] = {}
        for job, fut in list_futures:
            by_kind.setdefault(job.kind.key, []).append((job, fut))
        # the logs the first lists name start while the other lists are still arriving
        for key in PLAN_KINDS:
            self._gather(by_kind.pop(key), acc)
        plan = self._plan(self._view(acc, groups or {}, server_version, {}, {}), scope)
        logs = _LogReads(self, scope, pool, logs_allowed_f, acc)
        logs.read(plan.log_targets)
        for pairs in by_kind.values():
            self._gather(pairs, acc)
        self._check_answered(version_f)
        self._check_auth(acc)
        if groups is None:  # discovery failed: what the lists answered is what we know is served
            groups = {"": ("v1",)}
            for job, fut in list_futures:
                if job.kind.group and not fut.exception():
                    groups.setdefault(job.kind.group, (job.kind.versions[0],))

        later = self._second_phase(scope, acc, pool, cm_futures, plan)
        self._gather_second_phase(later, acc)
        if later.pods:  # pods of more namespaces: their nodes may need more ztunnel logs
            plan = self._plan(self._view(acc, groups, server_version, {}, {}), scope)
            logs.read(plan.log_targets)
        istioctl_f = None
        if scope.use_istioctl:
            istioctl_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wd-istioctl")
            istioctl_f = istioctl_pool.submit(self._run_istioctl, scope, plan)
            istioctl_pool.shutdown(wait=False)
        log_texts = logs.results()
        istioctl_out = istioctl_f.result() if istioctl_f is not None else {}
        return self._view(acc, groups, server_version, log_texts, istioctl_out)

    def _check_answered(self, version_f: Future[str | None]) -> None:
        """Connections were accepted but no request was ever answered: there is no report."""
        if self._transport.answered:
            return
        exc = version_f.exception()
        why = exc.message if isinstance(exc, ApiError) else "no request was answered"
        raise ClusterUnreachable(f"the Kubernetes API at {self.server} never answered: {why}")

    def _server_version(self, version_f: Future[str | None]) -> str | None:
        try:
            return version_f.result()
        except ApiError as exc:
            if exc.status == 401:
                raise ClusterUnreachable(
                    f"the API server at {self.server} rejected the credentials (401 Unauthorized)"
                ) from None
            return None  # the server answered, just not this: the lists say the rest

    def _plan(self, view: ClusterView, scope: CollectScope) -> Any:
        from waypoint_doctor.collect.evidence_plan import plan_evidence

        return plan_evidence(view, scope, max_ztunnels=MAX_ZTUNNEL_LOG_PODS)

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

    def _first_lists(self, scope: CollectScope) -> list[_ListJob]:
        """One list per kind (per namespace in scope for namespace-heavy kinds); the kinds the log
        plan reads first."""
        per_ns = [None] if scope.namespaces is None else list(scope.namespaces)
        jobs = [_ListJob(NAMESPACES)]
        jobs += [_ListJob(SERVICES, ns) for ns in per_ns]
        if scope.namespaces is not None:
            # the same name elsewhere: a policy in another namespace may target its own Service
            # of that name (WD403), and a misplaced Service is worth naming (WD301)
            jobs += [_ListJob(SERVICES, field_selector=f"metadata.name={s}") for s in scope.services or ()]
        jobs += [_ListJob(PODS, ns) for ns in per_ns]
        if scope.namespaces is not None:
            jobs += [_ListJob(PODS, label_selector=s) for s in SYSTEM_POD_SELECTORS]
        jobs += [
            _ListJob(GATEWAYS),
            _ListJob(AUTHORIZATION_POLICIES),
            # istiod only: a waypoint's Deployment is read later, and only if it has no pods
            _ListJob(DEPLOYMENTS, label_selector=ISTIOD_SELECTOR),
            _ListJob(DAEMONSETS),
            _ListJob(NODES),
            _ListJob(SERVICE_ACCOUNTS),
            _ListJob(GATEWAY_CLASSES),
            _ListJob(PEER_AUTHENTICATIONS),
        ]
        jobs += [_ListJob(SERVICE_ENTRIES, ns) for ns in per_ns]
        return jobs

    def _configmap(self, namespace: str, name: str) -> list[dict]:
        return self._list(CONFIGMAPS, "v1", namespace, field_selector=f"metadata.name={name}")

    def _gather(self, pairs: list[tuple[_ListJob, Future[list[dict]]]], acc: _Collected) -> None:
        kind = pairs[0][0].kind
        ok = True
        for job, fut in pairs:
            try:
                acc.objects.setdefault(kind.key, []).extend(fut.result())
            except ApiError as exc:
                self._record_failure(kind, exc, acc, job.namespace)
                ok = False
        if ok or kind.key in acc.objects:
            acc.collected.add(kind.key)

    def _record_failure(
        self, kind: ResourceKind, exc: ApiError, acc: _Collected, namespace: str | None = None
    ) -> None:
        # a 403 names the namespace it refused; a cluster-wide list that failed covers them all
        ns = namespace or _namespace_from_message(exc.message)
        acc.unreadable.append(
            Unreadable(
                resource=kind.key, reason=exc.reason, verb="list", namespace=ns, message=exc.message[:300]
            )
        )

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
        acc: _Collected,
        pool: ThreadPoolExecutor,
        cm_futures: dict[tuple[str, str], Future[list[dict]]],
        plan: Any,
    ) -> _Later:
        """What can only be asked once the first lists are in: the mesh ConfigMaps of the istiod
        namespaces and revisions found, pods of namespaces that policies name, a waypoint's
        Deployment when it has no pods, and a namespace object we could not list."""
        later = _Later(configmaps=dict(cm_futures))
        istiods = acc.objects.get(DEPLOYMENTS.key, [])
        wanted: set[tuple[str, str]] = set()
        for d in istiods:
            ns = (d.get("metadata") or {}).get("namespace") or DEFAULT_ISTIO_NAMESPACE
            rev = ((d.get("metadata") or {}).get("labels") or {}).get("istio.io/rev")
            wanted.add((ns, "istio"))
            if rev and rev != "default":
                wanted.add((ns, f"istio-{rev}"))
        for ds in acc.objects.get(DAEMONSETS.key, []):
            md = ds.get("metadata") or {}
            if (md.get("labels") or {}).get("k8s-app") == "istio-cni-node" or md.get(
                "name"
            ) == "istio-cni-node":
                wanted.add((md.get("namespace") or DEFAULT_ISTIO_NAMESPACE, "istio-cni-config"))
        if not istiods:
            wanted.add((DEFAULT_ISTIO_NAMESPACE, "istio"))
        later.wanted_configmaps = wanted
        for key in sorted(wanted - set(cm_futures)):
            later.configmaps[key] = pool.submit(self._configmap, *key)
        if scope.namespaces is not None:
            # only policies that can concern the targets: theirs, and the istio namespaces' (root)
            relevant_ns = (
                set(scope.namespaces)
                | {(d.get("metadata") or {}).get("namespace") or DEFAULT_ISTIO_NAMESPACE for d in istiods}
                | {DEFAULT_ISTIO_NAMESPACE}
            )
            extra = namespaces_named_by_policies(
                p
                for p in acc.objects.get(AUTHORIZATION_POLICIES.key, [])
                if (p.get("metadata") or {}).get("namespace") in relevant_ns
            )
            extra |= _waypoint_namespaces(
                acc.objects.get(SERVICES.key, []), acc.objects.get(NAMESPACES.key, [])
            )
            for ns in sorted(extra - set(scope.namespaces)):
                later.pods.append(pool.submit(self._list, PODS, "v1", ns))
        if plan.waypoints_without_pods:
            later.deployments = pool.submit(
                self._list_job, _ListJob(DEPLOYMENTS, label_selector=WAYPOINT_DEPLOYMENT_SELECTOR)
            )
        if NAMESPACES.key not in acc.collected:
            for ns in scope.namespaces or ():
                later.namespaces.append(pool.submit(self._get_or_empty, NAMESPACES, ns))
        return later

    def _gather_second_phase(self, later: _Later, acc: _Collected) -> None:
        cm_ok = True
        for key, fut in later.configmaps.items():
            try:
                acc.objects.setdefault(CONFIGMAPS.key, []).extend(fut.result())
            except ApiError as exc:
                if key in later.wanted_configmaps:  # a guess that proved unneeded is no gap
                    cm_ok = False
                    self._record_failure(CONFIGMAPS, exc, acc, key[0])
        if cm_ok:
            acc.collected.add(CONFIGMAPS.key)
        for fut in later.pods:
            try:
                acc.objects.setdefault(PODS.key, []).extend(fut.result())
            except ApiError as exc:
                if exc.status != 403:  # a namespace we may not read is a gap the checks name
                    self._record_failure(PODS, exc, acc)
        if later.deployments is not None:
            try:
                acc.objects.setdefault(DEPLOYMENTS.key, []).extend(later.deployments.result())
            except ApiError as exc:
                self._record_failure(DEPLOYMENTS, exc, acc)
        for fut in later.namespaces:
            try:
                acc.objects.setdefault(NAMESPACES.key, []).extend(fut.result())
            except ApiError as exc:
                if exc.status != 403:
                    self._record_failure(NAMESPACES, exc, acc)
        if NAMESPACES.key not in acc.collected and acc.objects.get(NAMESPACES.key):
            # we could read the namespaces we asked for by name: enough for the checks
            acc.unreadable = [u for u in acc.unreadable if u.resource != NAMESPACES.key]
            acc.collected.add(NAMESPACES.key)

    def _get_or_empty(self, kind: ResourceKind, name: str) -> list[dict]:
        try:
            obj = self._get_json(kind.api_path("v1", None, name))
        except ApiError as exc:
            if exc.status == 404:
                return []
            raise
        if not isinstance(obj, dict):
            return []
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("kind", kind.kind)
        return [trim.trim_object(kind, obj)]

    # -- permissions --------------------------------------------------------------------------
    def can_i(
        self, verb: str, resource: str, namespace: str | None, subresource: str | None = None, group: str = ""
    ) -> bool | None:
        """A SelfSubjectAccessReview; `namespace=None` asks about every namespace at once."""
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
            answer = self._transport.call(
                "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", _read_json, body=body
            )
        except ApiError:
            return None
        if not isinstance(answer, dict):
            return None
        return bool((answer.get("status") or {}).get("allowed"))

    # -- logs and istioctl ---------------------------------------------------------------------
    def _read_log(self, key: LogKey, scope: CollectScope) -> str | Unreadable | tuple[str, Unreadable]:
        """The log text; an Unreadable when it could not be read; both when retries ran out with
        part of it read (the part is kept, marked, and the gap named)."""
        path = f"/api/v1/namespaces/{quote(key.namespace)}/pods/{quote(key.pod)}/log"
        query: list[tuple[str, Any]] = [
            ("container", key.container),
            ("sinceSeconds", max(1, scope.since_seconds)),
            ("limitBytes", scope.log_bytes),
        ]
        best: list[bytes] = []

        def read(response: Any) -> bytes:
            chunks: list[bytes] = []
            size = 0
            try:
                for chunk in response.response.stream(64 * 1024):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= scope.log_bytes:
                        response.response.close()  # the rest is not wanted: not to be reused
                        break
            except Exception:
                if size > sum(len(c) for c in best):
                    best[:] = chunks
                raise
            return b"".join(chunks)

        try:
            data = self._transport.call("GET", path, read, query, timeout=max(self.timeout, LOG_READ_TIMEOUT))
        except ApiError as exc:
            gap = Unreadable(
                resource="pods",
                subresource="log",
                verb="get",
                namespace=key.namespace,
                name=key.pod,
                reason=exc.reason,
                message=exc.message[:200],
            )
            if best:
                part = b"".join(best)[: scope.log_bytes].decode("utf-8", "replace")
                return part + f"\n# waypoint-doctor: log stream interrupted: {exc.reason}\n", gap
            return gap
        return data[: scope.log_bytes].decode("utf-8", "replace")

    def _run_istioctl(self, scope: CollectScope, plan: Any) -> dict[str, str]:
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


@dataclass
class _Later:
    """Futures of the second phase."""

    configmaps: dict[tuple[str, str], Future[list[dict]]] = field(default_factory=dict)
    wanted_configmaps: set[tuple[str, str]] = field(default_factory=set)
    pods: list[Future[list[dict]]] = field(default_factory=list)
    deployments: Future[list[dict]] | None = None
    namespaces: list[Future[list[dict]]] = field(default_factory=list)


class _LogReads:
    """Log reads, started as soon as a plan names them; permission asked once for all namespaces,
    and per namespace only when that answer is no."""

    def __init__(
        self,
        collector: LiveCollector,
        scope: CollectScope,
        pool: ThreadPoolExecutor,
        allowed_everywhere: Future[bool | None] | None,
        acc: _Collected,
    ) -> None:
        self.collector = collector
        self.scope = scope
        self.pool = pool
        self.allowed_everywhere = allowed_everywhere
        self.acc = acc
        self.per_namespace: dict[str, bool | None] = {}
        self.started: dict[LogKey, Future[Any]] = {}

    def read(self, keys: Iterable[LogKey]) -> None:
        if not self.scope.logs or self.allowed_everywhere is None:
            return
        keys = [k for k in keys if k not in self.started]
        if not keys:
            return
        if self.allowed_everywhere.result() is not True:
            asking = sorted({k.namespace for k in keys} - set(self.per_namespace))
            answers = self.pool.map(lambda ns: self.collector.can_i("get", "pods", ns, "log"), asking)
            for ns, allowed in zip(asking, answers, strict=True):
                self.per_namespace[ns] = allowed
                if allowed is False:
                    self.acc.unreadable.append(
                        Unreadable(
                            resource="pods", subresource="log", verb="get", namespace=ns, reason="Forbidden"
                        )
                    )
            keys = [k for k in keys if self.per_namespace.get(k.namespace) is not False]
        for key in keys:
            self.started[key] = self.pool.submit(self.collector._read_log, key, self.scope)

    def results(self) -> dict[LogKey, str]:
        logs: dict[LogKey, str] = {}
        for key, fut in self.started.items():
            try:
                outcome = fut.result()
            except ClusterUnreachable:
                continue
            if isinstance(outcome, tuple):
                logs[key], gap = outcome
                self.acc.unreadable.append(gap)
            elif isinstance(outcome, str):
                logs[key] = outcome
            else:
                self.acc.unreadable.append(outcome)
        return logs


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


__all__ = ["LiveCollector", "RetryStats", "obj_name"]
