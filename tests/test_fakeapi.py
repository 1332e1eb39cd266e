"""The fake API server, exercised with the official `kubernetes` Python client and raw HTTP.

These tests are about the test infrastructure itself: if the fake drifts from what a real
apiserver says, every end-to-end test built on it proves less.
"""

from __future__ import annotations

import concurrent.futures
import json
import tarfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from fakeapi.fixtures import BASIC_SCENARIO, TESTDATA
from fakeapi.server import (
    FakeApiServer,
    decode_review_protobuf,
    human_duration,
    jsonpath_results,
    parse_field_selector,
    parse_label_selector,
)

CONFIGURED_SCENARIO = TESTDATA / "configured"
BOOKINFO_PODS = [
    "details-v1-7d4d9d5fcb-m5xvz",
    "productpage-v1-6b7f6dc9c8-q7vjm",
    "ratings-v1-85c74b6cb4-2hrbq",
    "reviews-v1-5b5d6494f4-fxl7h",
    "reviews-v2-5b8d9c7f6-x8k2m",
    "waypoint-6d9f8b7c5-q2lwx",
]
ISTIO_PODS = ["istiod-5c8f7b9d4-abcde", "ztunnel-7xk2p", "ztunnel-9mzq4"]
USER = "system:serviceaccount:waypoint-doctor:waypoint-doctor"
AGGREGATED_ACCEPT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


# ---------------------------------------------------------------------------------------------
# helpers


def api_client_for(server: FakeApiServer, kubeconfig: Path | None = None) -> client.ApiClient:
    """The client waypoint-doctor's live collector would build: load_kube_config, no globals."""
    configuration = client.Configuration()
    config.load_kube_config(
        config_file=str(kubeconfig or server.kubeconfig_path), client_configuration=configuration
    )
    return client.ApiClient(configuration)


def raw_get(
    api: client.ApiClient, path: str, accept: str = "application/json", preload: bool = True
) -> tuple[int, dict[str, str], Any]:
    """GET through the client's own transport (TLS, token), bypassing its models."""
    path, _, query = path.partition("?")
    request = api.param_serialize(
        "GET",
        path,
        query_params=parse_qsl(query),
        header_params={"Accept": accept},
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*request)
    if not 200 <= response.status <= 299:
        response.read()
        raise ApiException.from_response(http_resp=response, body=None, data=None)
    if not preload:
        return response.status, dict(response.headers), response.response
    data = response.read()
    content_type = response.headers.get("Content-Type", "")
    body = json.loads(data) if content_type.startswith("application/json") else data.decode()
    return response.status, dict(response.headers), body


def api_error(call: Any, *args: Any, **kwargs: Any) -> tuple[ApiException, dict[str, Any]]:
    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)
    return caught.value, json.loads(caught.value.body)


def names(items: Any) -> list[str]:
    return [item.metadata.name if hasattr(item, "metadata") else item["metadata"]["name"] for item in items]


@pytest.fixture
def basic(fake_cluster):
    server = fake_cluster(BASIC_SCENARIO)
    return server, api_client_for(server)


# ---------------------------------------------------------------------------------------------
# lifecycle


def test_start_and_stop_are_fast_even_with_an_open_connection() -> None:
    server = FakeApiServer(BASIC_SCENARIO)
    started = time.perf_counter()
    server.start()
    start_seconds = time.perf_counter() - started
    try:
        server.write_kubeconfig(Path(server.tls_bundle.directory) / f"kc-{server.port}")
        api = api_client_for(server)
        client.VersionApi(api).get_code()  # leaves a keep-alive connection open
    finally:
        stopping = time.perf_counter()
        server.stop()
        stop_seconds = time.perf_counter() - stopping
    # a hang guard, not a performance target (those live in scripts/)
    assert start_seconds < 5
    assert stop_seconds < 5


def test_many_servers_in_parallel_each_get_their_own_port(tmp_path: Path) -> None:
    def run(index: int) -> tuple[int, str]:
        with FakeApiServer(BASIC_SCENARIO, server_version=f"v1.3{index}.0") as server:
            api = api_client_for(server, server.write_kubeconfig(tmp_path / f"kc{index}"))
            return server.port, client.VersionApi(api).get_code().git_version

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(run, range(6)))
    assert len({port for port, _ in results}) == 6
    assert [version for _, version in results] == [f"v1.3{i}.0" for i in range(6)]


def test_kubeconfig_names_the_server_its_ca_token_and_namespace(fake_cluster, tmp_path) -> None:
    server = fake_cluster(BASIC_SCENARIO, namespace="bookinfo", context="kind-fake")
    kubeconfig = yaml.safe_load(server.kubeconfig_path.read_text())
    assert kubeconfig["current-context"] == "kind-fake"
    assert kubeconfig["clusters"][0]["cluster"]["server"] == server.url == f"https://127.0.0.1:{server.port}"
    assert kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]
    assert kubeconfig["users"][0]["user"] == {"token": server.token}
    assert kubeconfig["contexts"][0]["context"]["namespace"] == "bookinfo"
    _contexts, active = config.list_kube_config_contexts(config_file=str(server.kubeconfig_path))
    assert active["name"] == "kind-fake"


def test_plain_http_is_available_when_asked(fake_cluster) -> None:
    server = fake_cluster(BASIC_SCENARIO, tls=False)
    assert server.url.startswith("http://127.0.0.1:")
    pods = client.CoreV1Api(api_client_for(server)).list_namespaced_pod("istio-system")
    assert names(pods.items) == ISTIO_PODS


def test_a_tar_gz_snapshot_is_a_scenario_too(fake_cluster, tmp_path) -> None:
    archive = tmp_path / "snapshot.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(BASIC_SCENARIO, arcname="snapshot-2026-11-20")
    server = fake_cluster(archive)
    api = api_client_for(server)
    assert names(client.CoreV1Api(api).list_namespaced_pod("istio-system").items) == ISTIO_PODS
    assert read_log(api, "ztunnel-7xk2p", "istio-system", tail_lines=1).startswith("2026-11-20T10:14:59")
    assert server.now.isoformat() == "2026-11-20T10:15:00+00:00"  # fakeapi.yaml inside the archive


def test_unknown_option_is_refused() -> None:
    with pytest.raises(TypeError):
        FakeApiServer(BASIC_SCENARIO, no_such_option=True)  # type: ignore[call-arg]


# ---------------------------------------------------------------------------------------------
# discovery


def test_version_and_legacy_discovery(basic) -> None:
    _server, api = basic
    assert client.VersionApi(api).get_code().git_version == "v1.36.2"
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    resources = {r.name: r for r in client.CoreV1Api(api).get_api_resources().resources}
    assert resources["pods"].short_names == ["po"]
    assert resources["pods"].namespaced is True
    assert resources["pods"].singular_name == "pod"
    assert resources["pods"].kind == "Pod"
    assert resources["namespaces"].namespaced is False
    assert resources["services"].short_names == ["svc"]
    assert resources["pods/log"].verbs == ["get"]
    assert "pods/status" in resources


def test_group_list_has_preferred_versions_and_only_served_groups(basic) -> None:
    _, api = basic
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert groups["gateway.networking.k8s.io"].preferred_version.version == "v1"
    assert [v.version for v in groups["security.istio.io"].versions] == ["v1", "v1beta1"]
    assert [v.version for v in groups["networking.istio.io"].versions] == ["v1", "v1beta1", "v1alpha3"]
    # from the scenario: a CRD (v1 preferred over v1alpha1) and a kind with no CRD at all
    assert [v.version for v in groups["example.com"].versions] == ["v1", "v1alpha1"]
    assert groups["extensions.istio.io"].preferred_version.version == "v1alpha1"
    status, _, body = raw_get(api, "/apis/security.istio.io/v1beta1")
    assert status == 200
    assert body["groupVersion"] == "security.istio.io/v1beta1"
    assert {r["name"] for r in body["resources"]} >= {"authorizationpolicies", "authorizationpolicies/status"}
    ap = next(r for r in body["resources"] if r["name"] == "authorizationpolicies")
    assert ap["shortNames"] == ["ap"] and ap["kind"] == "AuthorizationPolicy" and ap["namespaced"] is True


def test_aggregated_discovery_when_asked(basic) -> None:
    _, api = basic
    status, headers, body = raw_get(api, "/apis", accept=AGGREGATED_ACCEPT)
    assert status == 200
    assert headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    assert body["kind"] == "APIGroupDiscoveryList" and body["apiVersion"] == "apidiscovery.k8s.io/v2"
    groups = {item["metadata"]["name"]: item for item in body["items"]}
    gateway = groups["gateway.networking.k8s.io"]["versions"][0]
    assert gateway["version"] == "v1" and gateway["freshness"] == "Current"
    gateways = next(r for r in gateway["resources"] if r["resource"] == "gateways")
    assert gateways["scope"] == "Namespaced"
    assert gateways["responseKind"] == {
        "group": "gateway.networking.k8s.io",
        "version": "v1",
        "kind": "Gateway",
    }
    status, _, core = raw_get(api, "/api", accept=AGGREGATED_ACCEPT)
    pods = next(r for r in core["items"][0]["versions"][0]["resources"] if r["resource"] == "pods")
    assert {
        "subresource": "log",
        "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
        "verbs": ["get"],
    } in pods["subresources"]


def test_aggregated_discovery_can_be_turned_off(fake_cluster) -> None:
    server = fake_cluster(BASIC_SCENARIO, aggregated_discovery=False)
    _, headers, body = raw_get(api_client_for(server), "/apis", accept=AGGREGATED_ACCEPT)
    assert headers["Content-Type"] == "application/json"
    assert body["kind"] == "APIGroupList"


def test_removed_group_disappears_and_its_paths_are_404(fake_cluster) -> None:
    server = fake_cluster(BASIC_SCENARIO, remove_groups=["gateway.networking.k8s.io", "example.com"])
    api = api_client_for(server)
    assert "gateway.networking.k8s.io" not in {g.name for g in client.ApisApi(api).get_api_versions().groups}
    error, status = api_error(
        client.CustomObjectsApi(api).list_namespaced_custom_object,
        "gateway.networking.k8s.io",
        "v1",
        "bookinfo",
        "gateways",
    )
    assert error.status == 404
    assert status["reason"] == "NotFound"
    assert status["message"] == "the server could not find the requested resource"
    for path in ("/apis/gateway.networking.k8s.io", "/apis/gateway.networking.k8s.io/v1"):
        with pytest.raises(ApiException) as caught:
            raw_get(api, path)
        assert caught.value.status == 404
    # "CRD not installed" also means its CRD object is gone
    crds = client.ApiextensionsV1Api(api).list_custom_resource_definition()
    assert names(crds.items) == []


# ---------------------------------------------------------------------------------------------
# list and get


def test_list_and_get_core_objects(basic) -> None:
    _, api = basic
    core = client.CoreV1Api(api)
    pods = core.list_namespaced_pod("bookinfo")
    assert names(pods.items) == BOOKINFO_PODS
    assert pods.kind == "PodList" and pods.api_version == "v1"
    assert pods.metadata.resource_version
    everywhere = core.list_pod_for_all_namespaces()
    assert names(everywhere.items) == BOOKINFO_PODS + ISTIO_PODS
    pod = core.read_namespaced_pod("ztunnel-7xk2p", "istio-system")  # from a JSON List file
    assert pod.spec.node_name == "node-a"
    assert core.read_namespace("bookinfo").metadata.labels["istio.io/dataplane-mode"] == "ambient"
    assert names(core.list_node().items) == ["node-a", "node-b"]
    assert names(client.AppsV1Api(api).list_namespaced_deployment("bookinfo").items) == ["reviews-v2"]
    assert names(client.AppsV1Api(api).list_daemon_set_for_all_namespaces().items) == ["ztunnel"]
    assert names(client.DiscoveryV1Api(api).list_namespaced_endpoint_slice("bookinfo").items) == [
        "reviews-abcde"
    ]


def test_missing_metadata_is_filled_like_a_real_apiserver(basic) -> None:
    _, api = basic
    sa = client.CoreV1Api(api).read_namespaced_service_account("bookinfo-reviews", "bookinfo")
    assert sa.metadata.uid and sa.metadata.resource_version and sa.metadata.creation_timestamp
    again = client.CoreV1Api(api).read_namespaced_service_account("bookinfo-reviews", "bookinfo")
    assert again.metadata.uid == sa.metadata.uid


def test_custom_objects_at_every_version_of_their_group(basic) -> None:
    _, api = basic
    custom = client.CustomObjectsApi(api)
    for version in ("v1", "v1beta1"):
        listing = custom.list_namespaced_custom_object(
            "security.istio.io", version, "bookinfo", "authorizationpolicies"
        )
        assert listing["kind"] == "AuthorizationPolicyList"
        assert listing["apiVersion"] == f"security.istio.io/{version}"
        assert names(listing["items"]) == ["deny-admin", "reviews-viewer"]
        assert {item["apiVersion"] for item in listing["items"]} == {f"security.istio.io/{version}"}
    # stored as v1beta1 / v1alpha3, served as v1
    pa = custom.get_namespaced_custom_object(
        "security.istio.io", "v1", "istio-system", "peerauthentications", "default"
    )
    assert pa["apiVersion"] == "security.istio.io/v1" and pa["spec"]["mtls"]["mode"] == "STRICT"
    se = custom.list_cluster_custom_object("networking.istio.io", "v1", "serviceentries")
    assert names(se["items"]) == ["httpbin-ext"]
    assert names(
        custom.list_cluster_custom_object("gateway.networking.k8s.io", "v1", "gatewayclasses")["items"]
    ) == ["istio-waypoint"]
    route = custom.get_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", "bookinfo", "httproutes", "reviews"
    )
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert names(custom.list_cluster_custom_object("telemetry.istio.io", "v1", "telemetries")["items"]) == [
        "mesh-default"
    ]


def test_skipped_files_are_not_served(basic) -> None:
    _, api = basic
    configmaps = client.CoreV1Api(api).list_config_map_for_all_namespaces()
    assert names(configmaps.items) == ["istio"]  # not istioctl/'s must-not-be-served, not snapshot.yaml


LABEL_CASES = [
    ("app=reviews", ["reviews-v1-5b5d6494f4-fxl7h", "reviews-v2-5b8d9c7f6-x8k2m"]),
    ("app==reviews", ["reviews-v1-5b5d6494f4-fxl7h", "reviews-v2-5b8d9c7f6-x8k2m"]),
    (
        "app!=reviews",
        [
            "details-v1-7d4d9d5fcb-m5xvz",
            "productpage-v1-6b7f6dc9c8-q7vjm",
            "ratings-v1-85c74b6cb4-2hrbq",
            "waypoint-6d9f8b7c5-q2lwx",
        ],
    ),
    ("app in (details, ratings)", ["details-v1-7d4d9d5fcb-m5xvz", "ratings-v1-85c74b6cb4-2hrbq"]),
    ("app notin (reviews,details,productpage,ratings)", ["waypoint-6d9f8b7c5-q2lwx"]),
    ("tier", ["ratings-v1-85c74b6cb4-2hrbq", "reviews-v1-5b5d6494f4-fxl7h", "reviews-v2-5b8d9c7f6-x8k2m"]),
    ("!tier", ["details-v1-7d4d9d5fcb-m5xvz", "productpage-v1-6b7f6dc9c8-q7vjm", "waypoint-6d9f8b7c5-q2lwx"]),
    ("app=reviews,version!=v1", ["reviews-v2-5b8d9c7f6-x8k2m"]),
    ("tier=backend, version in (v1)", ["ratings-v1-85c74b6cb4-2hrbq", "reviews-v1-5b5d6494f4-fxl7h"]),
    ("gateway.networking.k8s.io/gateway-name=waypoint", ["waypoint-6d9f8b7c5-q2lwx"]),
    ("app=nothing", []),
    ("", BOOKINFO_PODS),
]


@pytest.mark.parametrize(("selector", "expected"), LABEL_CASES, ids=[c[0] or "empty" for c in LABEL_CASES])
def test_label_selectors(basic, selector: str, expected: list[str]) -> None:
    _, api = basic
    assert (
        names(client.CoreV1Api(api).list_namespaced_pod("bookinfo", label_selector=selector).items)
        == expected
    )


FIELD_CASES = [
    ("metadata.name=ztunnel-9mzq4", ["ztunnel-9mzq4"]),
    ("metadata.namespace==istio-system", ISTIO_PODS),
    (
        "spec.nodeName=node-b",
        [
            "ratings-v1-85c74b6cb4-2hrbq",
            "reviews-v1-5b5d6494f4-fxl7h",
            "waypoint-6d9f8b7c5-q2lwx",
            "ztunnel-9mzq4",
        ],
    ),
    ("status.phase=Pending", ["ratings-v1-85c74b6cb4-2hrbq"]),
    ("status.phase!=Running", ["ratings-v1-85c74b6cb4-2hrbq"]),
    ("spec.nodeName=node-a,metadata.namespace!=bookinfo", ["istiod-5c8f7b9d4-abcde", "ztunnel-7xk2p"]),
]


@pytest.mark.parametrize(("selector", "expected"), FIELD_CASES, ids=[c[0] for c in FIELD_CASES])
def test_field_selectors(basic, selector: str, expected: list[str]) -> None:
    _, api = basic
    assert names(client.CoreV1Api(api).list_pod_for_all_namespaces(field_selector=selector).items) == expected


def test_bad_selectors_are_400_bad_request(basic) -> None:
    _, api = basic
    core = client.CoreV1Api(api)
    error, status = api_error(core.list_namespaced_pod, "bookinfo", label_selector="app in (a b)")
    assert (error.status, status["reason"]) == (400, "BadRequest")
    error, status = api_error(core.list_namespaced_pod, "bookinfo", field_selector="spec.color=blue")
    assert (error.status, status["reason"], status["message"]) == (
        400,
        "BadRequest",
        "field label not supported: spec.color",
    )
    error, _ = api_error(
        client.CustomObjectsApi(api).list_namespaced_custom_object,
        "security.istio.io",
        "v1",
        "bookinfo",
        "authorizationpolicies",
        field_selector="spec.action=DENY",
    )
    assert error.status == 400


def test_pagination_across_three_pages(basic) -> None:
    server, api = basic
    core = client.CoreV1Api(api)
    seen: list[str] = []
    remaining: list[int | None] = []
    token = None
    for _ in range(5):
        page = core.list_pod_for_all_namespaces(limit=4, _continue=token)
        seen += names(page.items)
        remaining.append(page.metadata.remaining_item_count)
        token = page.metadata._continue
        if not token:
            break
    assert seen == BOOKINFO_PODS + ISTIO_PODS
    assert remaining == [5, 1, None]
    lists = [r for r in server.requests if r.path == "/api/v1/pods"]
    assert [r.params.get("limit") for r in lists] == ["4", "4", "4"]
    assert "continue" not in lists[0].params and all(r.params["continue"] for r in lists[1:])


def test_pagination_with_a_selector_and_a_server_page_cap(fake_cluster) -> None:
    server = fake_cluster(BASIC_SCENARIO, page_size_max=2)
    core = client.CoreV1Api(api_client_for(server))
    first = core.list_namespaced_pod("bookinfo", label_selector="app!=reviews", limit=500)
    assert names(first.items) == ["details-v1-7d4d9d5fcb-m5xvz", "productpage-v1-6b7f6dc9c8-q7vjm"]
    assert first.metadata.remaining_item_count is None  # unknown with a selector, as on a real server
    second = core.list_namespaced_pod(
        "bookinfo", label_selector="app!=reviews", limit=500, _continue=first.metadata._continue
    )
    assert names(second.items) == ["ratings-v1-85c74b6cb4-2hrbq", "waypoint-6d9f8b7c5-q2lwx"]
    assert not second.metadata._continue
    # without a limit a real apiserver returns everything, whatever the cap
    assert len(core.list_namespaced_pod("bookinfo").items) == 6
    error, _ = api_error(core.list_namespaced_pod, "bookinfo", limit=2, _continue="not-a-token")
    assert error.status == 400


def test_table_output_for_kubectl_get(basic) -> None:
    _, api = basic
    status, _, table = raw_get(api, "/api/v1/namespaces/bookinfo/pods?limit=2", accept=TABLE_ACCEPT)
    assert status == 200
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    assert table["rows"][0]["cells"][:5] == ["details-v1-7d4d9d5fcb-m5xvz", "1/1", "Running", "0", "2d"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table["rows"][0]["object"]["metadata"]["namespace"] == "bookinfo"
    assert table["metadata"]["continue"]
    _, _, full = raw_get(
        api, "/apis/example.com/v1/namespaces/bookinfo/widgets?includeObject=Object", accept=TABLE_ACCEPT
    )
    assert [c["name"] for c in full["columnDefinitions"]] == ["Name", "Size", "Color", "Age"]  # from the CRD
    assert full["rows"][0]["cells"] == ["sprocket", 3, "blue", "60m"]
    assert full["rows"][0]["object"]["apiVersion"] == "example.com/v1"
    _, _, bare = raw_get(
        api,
        "/apis/security.istio.io/v1/namespaces/bookinfo/authorizationpolicies/deny-admin?includeObject=None",
        accept=TABLE_ACCEPT,
    )
    assert bare["rows"] == [{"cells": ["deny-admin", "DENY", "10m"]}]


def test_only_json_is_spoken(basic) -> None:
    _, api = basic
    with pytest.raises(ApiException) as caught:
        raw_get(api, "/api/v1/pods", accept="application/vnd.kubernetes.protobuf")
    assert caught.value.status == 406


def test_watch_sends_the_current_objects_as_added_events(basic) -> None:
    server, api = basic
    _, _, response = raw_get(
        api, "/api/v1/namespaces/istio-system/pods?watch=true&labelSelector=app%3Dztunnel", preload=False
    )
    events = [json.loads(line) for line in response.data.decode().splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "ztunnel-7xk2p"),
        ("ADDED", "ztunnel-9mzq4"),
    ]
    assert server.requests[-1].verb == "watch"


# ---------------------------------------------------------------------------------------------
# errors


def test_not_found_is_a_status(basic) -> None:
    _, api = basic
    error, status = api_error(client.CoreV1Api(api).read_namespaced_pod, "nope", "bookinfo")
    assert (error.status, error.reason) == (404, "Not Found")
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "pods"},
        "code": 404,
    }
    _, status = api_error(
        client.CustomObjectsApi(api).get_namespaced_custom_object,
        "gateway.networking.k8s.io",
        "v1",
        "bookinfo",
        "gateways",
        "nope",
    )
    assert status["message"] == 'gateways.gateway.networking.k8s.io "nope" not found'
    assert status["details"] == {"name": "nope", "group": "gateway.networking.k8s.io", "kind": "gateways"}


def test_forbidden_is_a_status_with_the_real_message(fake_cluster) -> None:
    server = fake_cluster(
        BASIC_SCENARIO, forbid=[{"verb": "list", "resource": "pods", "namespace": "istio-system"}]
    )
    core = client.CoreV1Api(api_client_for(server))
    error, status = api_error(core.list_namespaced_pod, "istio-system")
    assert (error.status, error.reason, status["reason"], status["code"]) == (
        403,
        "Forbidden",
        "Forbidden",
        403,
    )
    assert status["message"] == (
        f'pods is forbidden: User "{USER}" cannot list resource "pods" in API group "" in the namespace "istio-system"'
    )
    assert status["details"] == {"kind": "pods"}
    # no cluster-wide permission either, as with RBAC that lacks a ClusterRoleBinding
    _, status = api_error(core.list_pod_for_all_namespaces)
    assert status["message"].endswith('cannot list resource "pods" in API group "" at the cluster scope')
    # other verbs, namespaces and resources are untouched
    assert core.read_namespaced_pod("ztunnel-7xk2p", "istio-system").metadata.name == "ztunnel-7xk2p"
    assert len(core.list_namespaced_pod("bookinfo").items) == 6


def test_forbidden_subresource_and_group_messages(fake_cluster) -> None:
    server = fake_cluster(
        BASIC_SCENARIO,
        forbid=[{"resource": "pods", "subresource": "log"}, {"group": "security.istio.io", "verb": "*"}],
    )
    api = api_client_for(server)
    _, status = api_error(client.CoreV1Api(api).read_namespaced_pod_log, "ztunnel-7xk2p", "istio-system")
    assert status["message"] == (
        f'pods "ztunnel-7xk2p" is forbidden: User "{USER}" cannot get resource "pods/log" in API group "" '
        'in the namespace "istio-system"'
    )
    _, status = api_error(
        client.CustomObjectsApi(api).list_namespaced_custom_object,
        "security.istio.io",
        "v1",
        "bookinfo",
        "authorizationpolicies",
    )
    assert status["message"].startswith("authorizationpolicies.security.istio.io is forbidden:")
    assert status["details"] == {"group": "security.istio.io", "kind": "authorizationpolicies"}


@pytest.mark.parametrize("token", ["wrong-token", None], ids=["wrong", "missing"])
def test_unauthorized_without_the_right_token(fake_cluster, tmp_path, token) -> None:
    server = fake_cluster(BASIC_SCENARIO)
    api = api_client_for(server, server.write_kubeconfig(tmp_path / "kc", token=token))
    error, status = api_error(client.CoreV1Api(api).list_namespaced_pod, "bookinfo")
    assert (error.status, status["reason"], status["message"]) == (401, "Unauthorized", "Unauthorized")
    assert server.requests[-1].has_bearer_token is (token is not None)
    if token is None:  # anonymous may read /version on a real cluster; a bad token may not
        assert client.VersionApi(api).get_code().git_version == "v1.36.2"
    else:
        assert api_error(client.VersionApi(api).get_code)[0].status == 401


def test_no_token_configured_means_no_authentication(fake_cluster, tmp_path) -> None:
    server = fake_cluster(BASIC_SCENARIO, token=None)
    api = api_client_for(server, server.write_kubeconfig(tmp_path / "kc", token="anything"))
    assert len(client.CoreV1Api(api).list_namespaced_pod("bookinfo").items) == 6


def test_mutations_are_refused_and_logged(basic) -> None:
    server, api = basic
    core = client.CoreV1Api(api)
    error, status = api_error(core.delete_namespaced_pod, "ztunnel-7xk2p", "istio-system")
    assert (error.status, status["reason"]) == (405, "MethodNotAllowed")
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x"), data={"a": "b"})
    assert api_error(core.create_namespaced_config_map, "bookinfo", body)[0].status == 405
    assert api_error(core.patch_namespace, "bookinfo", {"metadata": {"labels": {"a": "b"}}})[0].status == 405
    assert [(r.method, r.verb) for r in server.mutations()] == [
        ("DELETE", "delete"),
        ("POST", "create"),
        ("PATCH", "patch"),
    ]
    assert core.read_namespaced_pod("ztunnel-7xk2p", "istio-system")  # still there


# ---------------------------------------------------------------------------------------------
# access reviews


def ssar(
    api: client.ApiClient, verb: str, resource: str, namespace: str = "", **extra: str
) -> client.V1SubjectAccessReviewStatus:
    attributes = client.V1ResourceAttributes(verb=verb, resource=resource, namespace=namespace, **extra)
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)
    )
    return client.AuthorizationV1Api(api).create_self_subject_access_review(review).status


def test_self_subject_access_review_follows_the_forbid_rules(fake_cluster) -> None:
    server = fake_cluster(
        BASIC_SCENARIO,
        forbid=[
            {"verb": "list", "resource": "pods", "namespace": "istio-system"},
            {"resource": "pods", "subresource": "log"},
        ],
    )
    api = api_client_for(server)
    denied = ssar(api, "list", "pods", "istio-system")
    assert denied.allowed is False and "forbid rule" in denied.reason
    assert ssar(api, "list", "pods", "bookinfo").allowed is True
    assert ssar(api, "list", "pods").allowed is False  # all namespaces includes istio-system
    assert ssar(api, "get", "pods", "bookinfo", subresource="log").allowed is False
    assert ssar(api, "get", "pods", "bookinfo").allowed is True
    assert ssar(api, "list", "gateways", "bookinfo", group="gateway.networking.k8s.io").allowed is True
    assert ssar(api, "delete", "pods", "bookinfo").allowed is False  # the fake is read-only
    assert not server.mutations()
    assert [r.status for r in server.requests] == [201] * 7


def test_self_subject_rules_review_lists_what_is_allowed(fake_cluster) -> None:
    server = fake_cluster(BASIC_SCENARIO, forbid=[{"verb": "list", "resource": "secrets"}])
    review = client.V1SelfSubjectRulesReview(spec=client.V1SelfSubjectRulesReviewSpec(namespace="bookinfo"))
    status = client.AuthorizationV1Api(api_client_for(server)).create_self_subject_rules_review(review).status
    rules = {(tuple(r.api_groups), tuple(r.resources)): r.verbs for r in status.resource_rules}
    assert rules[(("",), ("secrets",))] == ["get", "watch"]
    core = next(resources for (groups, resources) in rules if groups == ("",) and "pods" in resources)
    assert "secrets" not in core and rules[(("",), core)] == ["get", "list", "watch"]
    assert status.incomplete is False


def test_whoami(basic) -> None:
    _, api = basic
    review = client.AuthenticationV1Api(api).create_self_subject_review(client.V1SelfSubjectReview())
    assert review.status.user_info.username == USER


# What kubectl 1.37 sent for `kubectl auth can-i get pods --subresource=log -n istio-system`:
# its typed client POSTs protobuf, not JSON.
KUBECTL_SSAR_PROTOBUF = (
    b'k8s\x00\n2\n\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview\x12D\n\x10\n\x00\x12\x00\x1a\x00"'
    b'\x00*\x002\x008\x00B\x00\x12&\n$\n\x0cistio-system\x12\x03get\x1a\x00"\x00*\x04pods2\x03log:\x00\x1a\x08'
    b'\x08\x00\x12\x00\x1a\x00 \x00\x1a\x00"\x00'
)
KUBECTL_SSRR_PROTOBUF = (
    b'k8s\x00\n1\n\x17authorization.k8s.io/v1\x12\x16SelfSubjectRulesReview\x12$\n\x10\n\x00\x12\x00\x1a\x00"'
    b'\x00*\x002\x008\x00B\x00\x12\n\n\x08bookinfo\x1a\x04\x18\x00"\x00\x1a\x00"\x00'
)


def test_protobuf_reviews_as_kubectl_sends_them() -> None:
    assert decode_review_protobuf(KUBECTL_SSAR_PROTOBUF) == {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {
                "namespace": "istio-system",
                "verb": "get",
                "group": "",
                "version": "",
                "resource": "pods",
                "subresource": "log",
                "name": "",
            }
        },
    }
    assert decode_review_protobuf(KUBECTL_SSRR_PROTOBUF)["spec"] == {"namespace": "bookinfo"}


# ---------------------------------------------------------------------------------------------
# logs


def read_log(api: client.ApiClient, pod: str, namespace: str, **params: Any) -> str:
    return client.CoreV1Api(api).read_namespaced_pod_log(pod, namespace, **params)


def test_logs_since_tail_and_limit(basic) -> None:
    _, api = basic
    full = read_log(api, "ztunnel-7xk2p", "istio-system")
    assert full.count("\n") == 6
    since = read_log(api, "ztunnel-7xk2p", "istio-system", since_seconds=300)  # now is 10:15:00
    assert [line[:19] for line in since.splitlines()] == [
        "2026-11-20T10:11:00",
        "\tcontinuation line ",  # no timestamp: kept
        "2026-11-20T10:14:30",
        "2026-11-20T10:14:59",
    ]
    assert read_log(api, "ztunnel-7xk2p", "istio-system", since_seconds=1).startswith("\tcontinuation")
    tail = read_log(api, "ztunnel-7xk2p", "istio-system", tail_lines=2)
    assert tail.splitlines()[0].startswith("2026-11-20T10:14:30") and tail.count("\n") == 2
    assert read_log(api, "ztunnel-7xk2p", "istio-system", limit_bytes=20) == "2026-11-20T09:00:00."
    envoy = read_log(api, "waypoint-6d9f8b7c5-q2lwx", "bookinfo", since_seconds=600)
    assert envoy.startswith("[2026-11-20T10:12:00.000Z]") and envoy.count("\n") == 1
    assert read_log(api, "ztunnel-7xk2p", "istio-system", previous=True).startswith(
        "2026-11-20T08:00:00Z ztunnel crashed"
    )


def test_logs_since_time_and_timestamps(basic) -> None:
    _, api = basic
    status, _, body = raw_get(
        api,
        "/api/v1/namespaces/istio-system/pods/ztunnel-7xk2p/log?sinceTime=2026-11-20T10:14:00Z&timestamps=true",
    )
    assert status == 200
    # a line without a timestamp is kept, stamped with the one before it, as kubelet would have
    assert body.splitlines()[:2] == [
        "2026-11-20T10:11:00.000000000Z \tcontinuation line without a timestamp",
        "2026-11-20T10:14:30.500000000Z 2026-11-20T10:14:30.500000Z\tinfo\taccess\tconnection complete "
        'src.identity="spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage"',
    ]


def test_now_comes_from_the_options_over_fakeapi_yaml(fake_cluster) -> None:
    server = fake_cluster(BASIC_SCENARIO, now="2026-11-20T10:12:00Z")
    since = read_log(api_client_for(server), "ztunnel-7xk2p", "istio-system", since_seconds=120)
    assert since.splitlines()[0].startswith("2026-11-20T10:11:00")


def test_log_errors(basic) -> None:
    _, api = basic
    error, status = api_error(read_log, api, "reviews-v2-5b8d9c7f6-x8k2m", "bookinfo")
    assert (error.status, status["reason"]) == (400, "BadRequest")
    assert status["message"] == (
        "a container name must be specified for pod reviews-v2-5b8d9c7f6-x8k2m, choose one of: "
        "[reviews log-shipper] or one of the init containers: [wait-for-db]"
    )
    assert read_log(api, "reviews-v2-5b8d9c7f6-x8k2m", "bookinfo", container="log-shipper") == (
        "2026-11-20T10:14:00Z shipped 12 lines\n"
    )
    assert read_log(api, "reviews-v2-5b8d9c7f6-x8k2m", "bookinfo", container="wait-for-db") == ""
    error, status = api_error(read_log, api, "nope", "bookinfo")
    assert (error.status, status["message"]) == (404, 'pods "nope" not found')
    error, _ = api_error(read_log, api, "ztunnel-7xk2p", "istio-system", container="nope")
    assert error.status == 400


def test_logs_are_streamed(fake_cluster, tmp_path) -> None:
    big = tmp_path / "scenario"
    (big / "logs" / "ns" / "chatty").mkdir(parents=True)
    line = "2026-11-20T10:00:00Z " + "x" * 200 + "\n"
    (big / "logs" / "ns" / "chatty" / "app.log").write_text(line * 500)
    server = fake_cluster(big)
    response = client.CoreV1Api(api_client_for(server)).read_namespaced_pod_log(
        "chatty", "ns", _preload_content=False
    )
    assert response.headers["Transfer-Encoding"] == "chunked"
    chunks = list(response.stream(4096))
    assert len(chunks) > 10
    assert b"".join(chunks).decode() == line * 500


# ---------------------------------------------------------------------------------------------
# faults, latency, configuration


def test_injected_fault_answers_n_times_then_succeeds(fake_cluster) -> None:
    server = fake_cluster(
        BASIC_SCENARIO, faults=[{"path_regex": r"/namespaces/bookinfo/pods$", "status": 503, "times": 2}]
    )
    core = client.CoreV1Api(api_client_for(server))
    for _ in range(2):
        error, status = api_error(core.list_namespaced_pod, "bookinfo")
        assert (error.status, status["reason"]) == (503, "ServiceUnavailable")
    assert len(core.list_namespaced_pod("bookinfo").items) == 6
    assert len(core.list_namespaced_pod("istio-system").items) == 3  # not matched by the fault
    assert [r.status for r in server.requests] == [503, 503, 200, 200]


def test_fault_with_a_custom_body_and_retry_after(fake_cluster) -> None:
    server = fake_cluster(
        BASIC_SCENARIO,
        faults=[
            {"path_regex": "/services$", "status": 500, "body": "upstream connect error"},
            {"path_regex": "/configmaps$", "status": 429, "times": 1, "retry_after": 0},
        ],
    )
    api = api_client_for(server)
    with pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).list_namespaced_service("bookinfo")
    assert (caught.value.status, caught.value.body) == (500, "upstream connect error")
    # the client's opt-in client-go-style retry honours Retry-After
    api.configuration.client_go_retries = True
    assert names(client.CoreV1Api(api).list_namespaced_config_map("istio-system").items) == ["istio"]
    assert [r.status for r in server.requests[-2:]] == [429, 200]


def test_dropped_connection_fault(fake_cluster) -> None:
    server = fake_cluster(
        BASIC_SCENARIO, faults=[{"path_regex": "/nodes$", "drop_connection": True, "times": 1}]
    )
    # urllib3 retries a GET whose connection was cut, so the client recovers on its own
    assert names(client.CoreV1Api(api_client_for(server)).list_node().items) == ["node-a", "node-b"]
    assert [r.status for r in server.requests if r.path == "/api/v1/nodes"] == [0, 200]


def _raw_stream(server: FakeApiServer, path: str, timeout: float = 10) -> Any:
    """GET `path` with urllib3 alone (no retries): the faults must reach the client as they are."""
    import urllib3

    assert server.tls_bundle is not None
    pool = urllib3.HTTPSConnectionPool(
        "127.0.0.1",
        server.port,
        ca_cert_data=server.tls_bundle.ca_cert_pem.decode(),
        assert_hostname=False,
        retries=False,
        timeout=urllib3.Timeout(connect=5, read=timeout),
    )
    return pool.urlopen(
        "GET", path, headers={"Authorization": f"Bearer {server.token}"}, preload_content=False
    )


def test_mid_body_reset_cuts_a_list_after_part_of_its_body(fake_cluster) -> None:
    import urllib3

    server = fake_cluster(BASIC_SCENARIO, faults=[{"path_regex": "/pods$", "mid_body": "reset", "times": 1}])
    response = _raw_stream(server, "/api/v1/pods")
    assert response.status == 200
    with pytest.raises(urllib3.exceptions.ProtocolError):
        response.read()
    complete = json.loads(_raw_stream(server, "/api/v1/pods").read())  # `times: 1`: the next is whole
    assert len(complete["items"]) == 9
    assert [(r.status, r.fault) for r in server.requests] == [(200, "reset at 50%"), (200, "")]


def test_mid_body_truncate_is_well_framed_json_that_does_not_parse(fake_cluster) -> None:
    server = fake_cluster(
        BASIC_SCENARIO, faults=[{"path_regex": "/nodes$", "mid_body": "truncate", "at": 0.3}]
    )
    response = _raw_stream(server, "/api/v1/nodes")
    body = response.read()  # no framing error: Content-Length says what was sent
    assert int(response.headers["Content-Length"]) == len(body) > 0
    with pytest.raises(ValueError):
        json.loads(body)
    # a log (chunked) is truncated too: a shorter text, properly terminated
    log_path = "/api/v1/namespaces/istio-system/pods/ztunnel-7xk2p/log"
    whole = _raw_stream(server, log_path).read()  # not matched by the rule
    truncating = fake_cluster(BASIC_SCENARIO, faults=[{"path_regex": "/log$", "mid_body": "truncate"}])
    assert _raw_stream(truncating, log_path).read() == whole[: len(whole) // 2]


def test_mid_body_stall_holds_the_answer_until_the_client_gives_up(fake_cluster) -> None:
    import urllib3

    server = fake_cluster(
        BASIC_SCENARIO, faults=[{"path_regex": "/services$", "mid_body": "stall", "stall_s": 30}]
    )
    response = _raw_stream(server, "/api/v1/services", timeout=0.3)
    started = time.perf_counter()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        response.read()
    assert 0.3 <= time.perf_counter() - started < 5
    started = time.perf_counter()
    server.stop()  # a stalled answer does not hold the server's shutdown
    assert time.perf_counter() - started < 5


def test_probability_faults_are_seeded_and_independent_of_order(fake_cluster) -> None:
    rule = {"path_regex": "/nodes$", "status": 503, "probability": 0.5, "seed": 7}
    hits = []
    for _ in range(2):
        server = fake_cluster(BASIC_SCENARIO, faults=[rule])
        for i in range(40):
            _raw_stream(server, f"/api/v1/nodes?limit={i % 5 + 1}").read()
        hits.append([(r.query, r.status) for r in server.requests])
    assert hits[0] == hits[1]  # the same requests get the same answers, run after run
    statuses = [status for _, status in hits[0]]
    assert 8 < statuses.count(503) < 32 and statuses.count(200) + statuses.count(503) == 40
    # a retry of the same request gets a draw of its own: some requests fail, then succeed
    by_query: dict[str, list[int]] = {}
    for query, status in hits[0]:
        by_query.setdefault(query, []).append(status)
    assert any(503 in s and 200 in s for s in by_query.values())
    with pytest.raises(ValueError, match="probability"):
        FakeApiServer(BASIC_SCENARIO, faults=[{"probability": 2}])
    with pytest.raises(ValueError, match="mid_body"):
        FakeApiServer(BASIC_SCENARIO, faults=[{"mid_body": "explode"}])


def test_request_log_records_arrival_and_the_fault(fake_cluster) -> None:
    server = fake_cluster(
        BASIC_SCENARIO, faults=[{"path_regex": "/nodes$", "status": 429, "retry_after": 1, "times": 1}]
    )
    first = _raw_stream(server, "/api/v1/nodes")
    assert (first.status, first.headers["Retry-After"]) == (429, "1")
    first.read()
    _raw_stream(server, "/api/v1/nodes").read()
    records = server.requests
    assert [(r.status, r.fault) for r in records] == [(429, "status 429 retry-after 1"), (200, "")]
    assert records[0].started_s is not None and 0 <= records[0].started_s <= records[1].started_s


def test_latency_overall_and_per_path(fake_cluster) -> None:
    slow = fake_cluster(BASIC_SCENARIO, latency_ms=150)
    started = time.perf_counter()
    client.CoreV1Api(api_client_for(slow)).list_node()
    assert time.perf_counter() - started >= 0.15
    per_path = fake_cluster(BASIC_SCENARIO, latency_ms=[{"path_regex": "/log$", "ms": 200}])
    api = api_client_for(per_path)
    started = time.perf_counter()
    read_log(api, "ztunnel-7xk2p", "istio-system")
    slow_seconds = time.perf_counter() - started
    client.CoreV1Api(api).list_node()
    assert slow_seconds >= 0.2
    # the rule matched only the log path: the server did not delay the node list
    node_list = [r for r in per_path.requests if r.path == "/api/v1/nodes"]
    assert node_list and node_list[-1].duration_ms < 200


def test_fakeapi_yaml_is_read_and_overridden(fake_cluster, tmp_path) -> None:
    server = fake_cluster(CONFIGURED_SCENARIO)
    assert server.token == "configured-secret-token"
    api = api_client_for(server)
    core = client.CoreV1Api(api)
    assert client.VersionApi(api).get_code().git_version == "v1.33.4"
    assert "gateway.networking.k8s.io" not in {g.name for g in client.ApisApi(api).get_api_versions().groups}
    _, status = api_error(read_log, api, "ztunnel-aaaaa", "istio-system")
    assert status["message"].startswith(
        'pods "ztunnel-aaaaa" is forbidden: User "system:serviceaccount:ops:doctor"'
    )
    assert api_error(core.list_secret_for_all_namespaces)[0].status == 403
    assert api_error(core.list_namespaced_config_map, "flaky")[0].status == 503  # the fault, once
    started = time.perf_counter()
    page = core.list_namespaced_config_map("flaky", limit=10)  # latency, and page_size_max: 1
    assert time.perf_counter() - started >= 0.12
    assert names(page.items) == ["a"] and page.metadata._continue
    _, headers, _ = raw_get(api, "/apis", accept=AGGREGATED_ACCEPT)
    assert headers["Content-Type"] == "application/json"  # aggregated_discovery: false
    overridden = fake_cluster(CONFIGURED_SCENARIO, forbid=[], remove_groups=[], token="other")
    api = api_client_for(overridden)
    assert (
        read_log(api, "ztunnel-aaaaa", "istio-system", since_seconds=120)
        == "2026-11-20T11:59:00Z info hello\n"
    )
    assert "gateway.networking.k8s.io" in {g.name for g in client.ApisApi(api).get_api_versions().groups}


# ---------------------------------------------------------------------------------------------
# the request log


def test_request_log_records_everything_but_the_token(fake_cluster, tmp_path) -> None:
    log_file = tmp_path / "requests.jsonl"
    server = fake_cluster(BASIC_SCENARIO, request_log=log_file, forbid=[{"resource": "secrets"}])
    api = api_client_for(server)
    core = client.CoreV1Api(api)
    core.list_namespaced_pod("bookinfo", label_selector="app=reviews", limit=1)
    api_error(core.read_namespaced_pod, "nope", "bookinfo")
    api_error(core.list_secret_for_all_namespaces)
    records = server.requests
    assert [(r.method, r.path, r.status, r.verb, r.has_bearer_token) for r in records] == [
        ("GET", "/api/v1/namespaces/bookinfo/pods", 200, "list", True),
        ("GET", "/api/v1/namespaces/bookinfo/pods/nope", 404, "get", True),
        ("GET", "/api/v1/secrets", 403, "list", True),
    ]
    assert records[0].params == {"labelSelector": "app=reviews", "limit": "1"}
    with pytest.raises(AttributeError):
        records[0].status = 500  # type: ignore[misc]
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [(line["path"], line["status"]) for line in lines] == [(r.path, r.status) for r in records]
    assert server.token not in log_file.read_text()
    assert server.token not in repr(records)


def test_request_log_is_thread_safe(basic) -> None:
    server, api = basic
    core = client.CoreV1Api(api)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: core.list_node(), range(40)))
    assert len(server.requests) == 40
    assert {r.status for r in server.requests} == {200}
    server.clear_requests()
    assert server.requests == []


# ---------------------------------------------------------------------------------------------
# pure pieces


def test_human_duration_matches_the_apiserver() -> None:
    import datetime as dt

    cases = {
        5: "5s",
        119: "119s",
        120: "2m",
        150: "2m30s",
        600: "10m",
        3 * 3600: "3h",
        3 * 3600 + 60: "3h1m",
        9 * 3600: "9h",
    }
    cases |= {50 * 3600: "2d2h", 9 * 86400: "9d", 800 * 86400: "2y70d", 3000 * 86400: "8y"}
    for seconds, expected in cases.items():
        assert human_duration(dt.timedelta(seconds=seconds)) == expected


def test_jsonpath_subset() -> None:
    gateway = {"status": {"addresses": [{"value": "1.2.3.4"}, {"value": "5.6.7.8"}], "conditions": [
        {"type": "Accepted", "status": "True"}, {"type": "Programmed", "status": "False"}]}}  # fmt: skip
    assert jsonpath_results(gateway, ".status.addresses[*].value") == ["1.2.3.4", "5.6.7.8"]
    assert jsonpath_results(gateway, '.status.conditions[?(@.type=="Programmed")].status') == ["False"]
    assert jsonpath_results(gateway, ".status.addresses[1].value") == ["5.6.7.8"]
    assert jsonpath_results(gateway, ".spec.missing") == []


def test_field_selector_escapes() -> None:
    (requirement,) = parse_field_selector(r"metadata.name=a\,b")
    assert (requirement.field, requirement.value, requirement.negated) == ("metadata.name", "a,b", False)


@pytest.mark.parametrize(
    "bad", ["app=", "=x", "a b", "app in", "app in (x", "app in (a b)", "!", "a,,b", "-bad-=x", "a>x"]
)
def test_label_selector_parser_rejects(bad: str) -> None:
    if bad == "app=":  # an empty value is valid: it matches an empty label
        assert parse_label_selector(bad).matches({"app": ""})
        return
    with pytest.raises(ValueError):
        parse_label_selector(bad)


label_keys = st.sampled_from(["app", "version", "tier", "example.com/role", "k"])
label_values = st.from_regex(r"[a-z0-9]([a-z0-9._-]{0,6}[a-z0-9])?", fullmatch=True) | st.just("")
label_maps = st.dictionaries(label_keys, label_values, max_size=5)


@settings(max_examples=200, deadline=None)
@given(labels=label_maps, key=label_keys, value=label_values)
def test_equality_matches_exactly_and_negation_is_the_complement(labels, key, value) -> None:
    equal = parse_label_selector(f"{key}={value}")
    assert equal.matches(labels) == (labels.get(key) == value)
    assert parse_label_selector(f"{key}=={value}").matches(labels) == equal.matches(labels)
    assert parse_label_selector(f"{key}!={value}").matches(labels) == (not equal.matches(labels))


@settings(max_examples=200, deadline=None)
@given(labels=label_maps, key=label_keys, values=st.lists(label_values.filter(bool), min_size=1, max_size=3))
def test_set_based_requirements(labels, key, values) -> None:
    inside = parse_label_selector(f"{key} in ({','.join(values)})")
    assert inside.matches(labels) == (key in labels and labels[key] in values)
    assert parse_label_selector(f"{key} notin ({', '.join(values)})").matches(labels) == (
        not inside.matches(labels)
    )
    assert parse_label_selector(key).matches(labels) == (key in labels)
    assert parse_label_selector(f"!{key}").matches(labels) == (key not in labels)


@settings(max_examples=100, deadline=None)
@given(labels=label_maps, terms=st.lists(st.tuples(label_keys, label_values), min_size=1, max_size=4))
def test_commas_are_and(labels, terms) -> None:
    combined = parse_label_selector(",".join(f"{k}={v}" for k, v in terms))
    assert combined.matches(labels) == all(labels.get(k) == v for k, v in terms)
