"""The live collector, in-process, with the real kubernetes client against the fake API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from waypoint_doctor.collect.errors import ClusterUnreachable
from waypoint_doctor.collect.live import LiveCollector
from waypoint_doctor.collect.scope import CollectScope
from waypoint_doctor.collect.snapshot_dir import load_snapshot
from waypoint_doctor.options import ClusterOptions

from scenariolib import HEALTHY

SCOPE = CollectScope(namespaces=("kagenti-system",), services=("mlflow",), use_istioctl=False)
GATEWAYS = "gateways.gateway.networking.k8s.io"


def collect(server: Any, scope: CollectScope = SCOPE, **opts: Any):
    return LiveCollector(ClusterOptions(kubeconfig=str(server.kubeconfig_path), **opts)).collect(scope)


def names(view, resource: str) -> list[tuple[str, str]]:
    return sorted((o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in view.list(resource))


def test_live_view_holds_what_the_snapshot_holds(fake_cluster: Any) -> None:
    server = fake_cluster(HEALTHY)
    live = collect(server)
    offline = load_snapshot(HEALTHY)
    for resource in (
        "namespaces",
        "pods",
        "services",
        "serviceaccounts",
        "configmaps",
        "daemonsets.apps",
        GATEWAYS,
        "gatewayclasses.gateway.networking.k8s.io",
        "authorizationpolicies.security.istio.io",
    ):
        assert names(live, resource) == names(offline, resource), resource
        assert live.collected(resource), resource
    assert not live.unreadable
    assert live.serves("gateway.networking.k8s.io", "v1") is True
    assert len(live.logs) == 3  # two ztunnels (service + waypoint + client nodes) and the waypoint
    assert all(r.method == "GET" or r.path.endswith("selfsubjectaccessreviews") for r in server.requests)


def test_one_list_per_kind_not_per_object(fake_cluster: Any) -> None:
    server = fake_cluster(HEALTHY)
    collect(server)
    gets_by_name = [r for r in server.requests if r.verb == "get" and "/log" not in r.path]
    assert not gets_by_name, "objects are listed, never fetched one by one"
    pod_lists = [r for r in server.requests if r.path.endswith("/pods") and r.method == "GET"]
    assert len(pod_lists) <= 5


def test_objects_are_trimmed(fake_cluster: Any) -> None:
    view = collect(fake_cluster(HEALTHY))
    pod = view.get("pods", "kagenti-system", "mlflow-5f7d9c8b7d-x2k9q")
    assert pod is not None
    assert set(pod) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert "managedFields" not in pod["metadata"]
    cm = view.get("configmaps", "istio-system", "istio")
    assert cm is not None and set(cm["data"]) <= {"mesh", "meshNetworks"}


def test_pagination_is_followed(fake_cluster: Any) -> None:
    server = fake_cluster(HEALTHY, page_size_max=2)
    view = collect(server)
    assert names(view, "pods") == names(load_snapshot(HEALTHY), "pods")
    assert any("continue=" in r.query for r in server.requests)


def test_forbidden_logs_are_recorded_not_fetched(fake_cluster: Any) -> None:
    server = fake_cluster(
        HEALTHY,
        forbid=[{"verb": "get", "resource": "pods", "subresource": "log", "namespace": "istio-system"}],
    )
    view = collect(server)
    entry = view.unreadable_for("pods", "istio-system", "log")
    assert entry is not None and entry.reason == "Forbidden"
    assert "pods/log" in entry.describe()
    assert not [r for r in server.requests if "/istio-system/pods/" in r.path and r.path.endswith("/log")]
    assert any(k.namespace == "kagenti-system" for k in view.logs)  # the waypoint's logs still come


def test_forbidden_list_is_recorded(fake_cluster: Any) -> None:
    server = fake_cluster(
        HEALTHY, forbid=[{"verb": "list", "resource": "authorizationpolicies", "group": "security.istio.io"}]
    )
    view = collect(server)
    entry = view.missing("authorizationpolicies.security.istio.io")
    assert entry is not None and entry.reason == "Forbidden"


def test_absent_crds_are_recorded_as_not_served(fake_cluster: Any) -> None:
    server = fake_cluster(HEALTHY, remove_groups=["gateway.networking.k8s.io"])
    view = collect(server)
    assert view.serves("gateway.networking.k8s.io") is False
    entry = view.missing(GATEWAYS)
    assert entry is not None and entry.reason == "NotFound"
    assert names(view, "pods")  # the rest was read


def test_transient_errors_are_retried(fake_cluster: Any) -> None:
    server = fake_cluster(
        HEALTHY, faults=[{"path_regex": r"/apis/apps/v1/daemonsets$", "status": 503, "times": 1}]
    )
    view = collect(server)
    assert names(view, "daemonsets.apps")
    assert [r.status for r in server.requests if r.path.endswith("/daemonsets")] == [503, 200]


def test_wrong_token_is_one_clear_error(fake_cluster: Any, tmp_path: Path) -> None:
    server = fake_cluster(HEALTHY, token="right")
    text = Path(server.kubeconfig_path).read_text().replace("right", "wrong")
    kc = tmp_path / "kc"
    kc.write_text(text)
    with pytest.raises(ClusterUnreachable, match="401"):
        LiveCollector(ClusterOptions(kubeconfig=str(kc))).collect(SCOPE)


def test_context_namespace_is_the_default(fake_cluster: Any) -> None:
    server = fake_cluster(HEALTHY, namespace="kagenti-system")
    assert (
        LiveCollector(ClusterOptions(kubeconfig=str(server.kubeconfig_path))).default_namespace
        == "kagenti-system"
    )


def test_taken_at_follows_the_api_servers_clock(fake_cluster: Any) -> None:
    # the fake server's clock is the scenario's takenAt, a week before this machine's
    view = collect(fake_cluster(HEALTHY))
    assert view.source.taken_at is not None
    assert abs((view.source.taken_at - load_snapshot(HEALTHY).source.taken_at).total_seconds()) < 60


def test_ztunnel_logs_follow_clients_named_by_policies(fake_cluster: Any, tmp_path: Path) -> None:
    """A caller in another namespace, on a node of its own: its ztunnel's log is read too."""
    from scenariolib import Cluster

    c = Cluster(HEALTHY)
    ztunnel = c.get("Pod", "istio-system", "ztunnel-9wd2s")
    extra = {
        **ztunnel,
        "metadata": {**ztunnel["metadata"], "name": "ztunnel-extra"},
        "spec": {**ztunnel["spec"], "nodeName": "node-extra"},
    }
    c.add(
        extra,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "batch"}},
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "exporter", "namespace": "batch"},
            "spec": {
                "nodeName": "node-extra",
                "serviceAccountName": "exporter",
                "containers": [{"name": "c"}],
            },
            "status": {"phase": "Running"},
        },
    )
    pol = c.get("AuthorizationPolicy", "kagenti-system", "mlflow-api-access")
    pol["spec"]["rules"][0]["from"][0]["source"]["principals"].append("cluster.local/ns/batch/sa/exporter")
    c.append_log("istio-system", "ztunnel-extra", "istio-proxy", "2026-11-20T10:10:00Z info access ok")
    view = collect(fake_cluster(c.write(tmp_path / "snap")))
    assert any(k.pod == "ztunnel-extra" for k in view.logs)
    assert view.get("pods", "batch", "exporter") is not None  # the client's pod was read too


# -- speed: few requests, overlapped -----------------------------------------------------------


def _with_services(tmp_path: Path, count: int) -> Path:
    """The healthy example plus `count` waypoint-bound services, each with a pod."""
    from scenariolib import Cluster

    c = Cluster(HEALTHY)
    for i in range(count):
        name = f"extra-{i:03d}"
        c.add(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": name,
                    "namespace": "kagenti-system",
                    "labels": {"istio.io/use-waypoint": "mlflow-waypoint"},
                },
                "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 8080}]},
            },
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"{name}-0", "namespace": "kagenti-system", "labels": {"app": name}},
                "spec": {"nodeName": "kagenti-worker", "containers": [{"name": "app"}]},
                "status": {"phase": "Running"},
            },
        )
    return c.write(tmp_path / f"with-{count}")


def test_one_service_costs_at_most_25_requests_none_repeated(fake_cluster: Any) -> None:
    server = fake_cluster(HEALTHY)
    collect(server)
    keys = [(r.method, r.path, r.query) for r in server.requests if r.method == "GET"]
    assert len(server.requests) <= 25
    assert len(keys) == len(set(keys))
    reviews = [r for r in server.requests if r.method == "POST"]
    assert len(reviews) == 1  # one cluster-wide "may I read logs?" when the answer is yes
    # a waypoint with pods needs no Deployment list; istiod's comes by its label alone
    deployments = [r.params.get("labelSelector") for r in server.requests if r.path.endswith("/deployments")]
    assert deployments == ["app=istiod"]


def test_request_count_is_flat_with_the_number_of_services(fake_cluster: Any, tmp_path: Path) -> None:
    fleet = CollectScope(namespaces=("kagenti-system",), use_istioctl=False)
    counts = {}
    for n in (2, 200):
        server = fake_cluster(_with_services(tmp_path, n))
        collect(server)
        one = len(server.requests)
        server.clear_requests()
        collect(server, fleet)
        counts[n] = (one, len(server.requests))
    assert counts[2] == counts[200]


def test_lists_do_not_wait_for_discovery(fake_cluster: Any) -> None:
    server = fake_cluster(HEALTHY, latency_ms=[{"path_regex": "^/(version|apis)$", "ms": 400}])
    collect(server)
    records = server.requests
    discovery_done = min(
        r.started_s + r.duration_ms / 1000 for r in records if r.path in ("/version", "/apis")
    )
    lists = [r for r in records if r.verb == "list"]
    assert lists and sum(r.started_s < discovery_done for r in lists) >= 10


def test_a_waypoint_without_pods_gets_its_deployment_read(fake_cluster: Any, tmp_path: Path) -> None:
    from scenariolib import Cluster

    c = Cluster(HEALTHY)
    c.remove("Pod", "kagenti-system", "mlflow-waypoint-7c9d8b6f4-lhlwp")
    server = fake_cluster(c.write(tmp_path / "snap"))
    view = collect(server)
    deployments = [r.params.get("labelSelector") for r in server.requests if r.path.endswith("/deployments")]
    assert sorted(deployments) == ["app=istiod", "gateway.istio.io/managed"]
    assert view.get("deployments.apps", "kagenti-system", "mlflow-waypoint") is not None


def test_an_older_api_version_is_found_through_discovery(fake_cluster: Any, tmp_path: Path) -> None:
    """A cluster serving security.istio.io at v1beta1 only: the v1 list 404s, discovery says v1beta1."""
    from scenariolib import Cluster

    c = Cluster(HEALTHY)
    c.add(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "authorizationpolicies.security.istio.io"},
            "spec": {
                "group": "security.istio.io",
                "scope": "Namespaced",
                "names": {"plural": "authorizationpolicies", "kind": "AuthorizationPolicy"},
                "versions": [{"name": "v1beta1", "served": True, "storage": True}],
            },
        }
    )
    server = fake_cluster(c.write(tmp_path / "snap"))
    view = collect(server)
    assert names(view, "authorizationpolicies.security.istio.io") == names(
        load_snapshot(HEALTHY), "authorizationpolicies.security.istio.io"
    )
    paths = [r.path for r in server.requests if r.path.endswith("/authorizationpolicies")]
    assert paths == [
        "/apis/security.istio.io/v1/authorizationpolicies",
        "/apis/security.istio.io/v1beta1/authorizationpolicies",
    ]


# -- resilience: retries under a deadline --------------------------------------------------------


def test_retries_stop_at_the_deadline(fake_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every attempt of one list stalls: retried until 2 x --request-timeout, not MAX_ATTEMPTS times."""
    from waypoint_doctor.collect import live

    monkeypatch.setattr(live, "RETRY_BUDGET_MIN", 0.0)
    server = fake_cluster(
        HEALTHY, faults=[{"path_regex": "authorizationpolicies$", "mid_body": "stall", "stall_s": 60}]
    )
    view = collect(server, request_timeout=0.5)
    attempts = [r for r in server.requests if r.path.endswith("/authorizationpolicies")]
    assert 1 <= len(attempts) < live.MAX_ATTEMPTS
    entry = view.missing("authorizationpolicies.security.istio.io")
    assert entry is not None and entry.reason == "Timeout" and "gave up after" in entry.message
    assert names(view, "pods")  # the rest was read


def test_retry_stats_count_what_was_retried(fake_cluster: Any) -> None:
    server = fake_cluster(
        HEALTHY,
        faults=[
            {"path_regex": "/nodes$", "mid_body": "reset", "times": 2},
            {"path_regex": "/daemonsets$", "mid_body": "truncate", "times": 1},
        ],
    )
    collector = LiveCollector(ClusterOptions(kubeconfig=str(server.kubeconfig_path)))
    view = collector.collect(SCOPE)
    assert not view.unreadable
    assert collector.retry_stats.retries == {"ConnectionReset": 2, "TruncatedBody": 1}
    assert [r.fault for r in server.requests if r.path.endswith("/nodes")] == ["reset at 50%"] * 2 + [""]


def test_gate_halves_on_push_back_and_wins_slots_back() -> None:
    from waypoint_doctor.collect.live import _Gate

    gate = _Gate(8)
    gate.push_back(0.0)
    gate.push_back(0.0)
    assert gate.limit == 2
    for _ in range(2 + 3 + 4 + 5 + 6 + 7):
        gate.succeeded()
    assert gate.limit == 8
    gate.succeeded()
    assert gate.limit == 8  # never above its bound
    for _ in range(10):
        gate.push_back(0.0)
    assert gate.limit == 1  # never below one


def test_gate_pause_holds_new_requests() -> None:
    import time

    from waypoint_doctor.collect.live import _Gate

    gate = _Gate(4)
    gate.push_back(0.3)
    started = time.monotonic()
    with gate.slot():
        waited = time.monotonic() - started
    assert waited >= 0.29
