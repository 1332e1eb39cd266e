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


def test_one_slow_list_is_a_gap_not_the_end(fake_cluster: Any, tmp_path: Path) -> None:
    from clihelpers import run_cli

    server = fake_cluster(HEALTHY, latency_ms=[{"path_regex": "authorizationpolicies$", "ms": 1500}])
    res = run_cli(
        "check",
        "mlflow",
        "-n",
        "kagenti-system",
        "--kubeconfig",
        str(server.kubeconfig_path),
        "--request-timeout",
        "0.5",
        "-o",
        "json",
        home=tmp_path,
    )
    assert res.returncode in (0, 1), res.stderr
    import json

    checks = {c["id"]: c for c in json.loads(res.stdout)["checks"]}
    assert checks["WD401"]["status"] == "skip" and "authorizationpolicies" in checks["WD401"]["message"]
    assert checks["WD101"]["status"] in ("warn", "fail")
    assert checks["WD302"]["status"] == "pass"  # the rest was read
