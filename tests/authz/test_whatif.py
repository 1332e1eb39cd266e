"""what-if core on the healthy MLflow snapshot and scenario variants (spec/interface.md what-if)."""

from __future__ import annotations

from pathlib import Path

import pytest

from waypoint_doctor.checks.spec import Target
from waypoint_doctor.collect.snapshot_dir import load_snapshot
from waypoint_doctor.options import UsageError
from waypoint_doctor.whatif import WhatIfRequest, what_if

from scenariolib import HEALTHY, Cluster

TARGET = Target("kagenti-system", "mlflow")
OTEL = "cluster.local/ns/kagenti-system/sa/otel-collector"


@pytest.fixture(scope="module")
def healthy():
    return load_snapshot(str(HEALTHY))


@pytest.mark.parametrize(
    ("source", "method", "path", "verdict", "exit_code"),
    [
        ("sa/otel-collector", "POST", "/v1/traces", "ALLOW", 0),
        ("pod/otel-collector-6b8f9d7c5-m4n2p", "GET", "/v1/traces", "DENY", 1),
        ("spiffe://cluster.local/ns/kagenti-system/sa/kagenti-ui", "GET", "/api/2.0/experiments", "ALLOW", 0),
        ("sa/default/curl", "GET", "/", "DENY", 1),
    ],
)
def test_what_if_verdicts(healthy, source, method, path, verdict, exit_code):
    result = what_if(healthy, TARGET, WhatIfRequest(source, method, path))
    data = result.to_dict()
    assert data["schema_version"] == "1" and data["verdict"] == verdict and result.exit_code == exit_code
    assert data["target"] == {"kind": "Service", "namespace": "kagenti-system", "name": "mlflow"}
    assert data["request"]["port"] == 5000 and data["request"]["method"] == method
    assert [h["hop"] for h in data["hops"]] == ["client->waypoint", "waypoint->workload"]
    assert data["hops"][1]["identity_seen"] == "cluster.local/ns/kagenti-system/sa/mlflow-waypoint"


def test_nearest_miss_in_json(healthy):
    data = what_if(healthy, TARGET, WhatIfRequest(OTEL, "GET", "/v1/traces")).to_dict()
    assert data["hops"][0]["nearest_miss"] == {
        "policy": "kagenti-system/mlflow-api-access",
        "rule": 0,
        "attribute": "methods",
        "wanted": ["POST"],
        "got": "GET",
    }


def test_header_condition_not_given_is_unknown(tmp_path: Path):
    cluster = Cluster(HEALTHY)
    policy = cluster.get("AuthorizationPolicy", "kagenti-system", "mlflow-api-access")
    policy["spec"]["rules"][0]["when"] = [{"key": "request.headers[x-tenant]", "values": ["a"]}]
    view = load_snapshot(str(cluster.write(tmp_path / "snap")))
    result = what_if(view, TARGET, WhatIfRequest(OTEL, "POST", "/v1/traces"))
    assert result.verdict.value == "UNKNOWN" and result.exit_code == 4
    given = what_if(view, TARGET, WhatIfRequest(OTEL, "POST", "/v1/traces", headers=(("x-tenant", "a"),)))
    assert given.exit_code == 0


def test_allow_nothing_denies_on_the_second_hop(tmp_path: Path):
    cluster = Cluster(HEALTHY)
    cluster.add(
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "allow-nothing", "namespace": "kagenti-system"},
            "spec": {},
        }
    )
    view = load_snapshot(str(cluster.write(tmp_path / "snap")))
    data = what_if(view, TARGET, WhatIfRequest("sa/otel-collector", "POST", "/v1/traces")).to_dict()
    assert data["verdict"] == "DENY"
    assert data["hops"][0]["verdict"] == "ALLOW" and data["hops"][1]["verdict"] == "DENY"
    assert "waypoint->workload" in data["explanation"]


@pytest.mark.parametrize("source", ["pod/nope", "not-a-principal", "cluster.local/ns/x"])
def test_bad_from_is_a_usage_error(healthy, source):
    with pytest.raises(UsageError):
        what_if(healthy, TARGET, WhatIfRequest(source))


def test_unknown_service_is_a_usage_error(healthy):
    with pytest.raises(UsageError, match="mlfow"):
        what_if(healthy, Target("kagenti-system", "mlfow"), WhatIfRequest(OTEL))


def _with(tmp_path: Path, edit) -> object:
    cluster = Cluster(HEALTHY)
    edit(cluster)
    return load_snapshot(str(cluster.write(tmp_path / "snap")))


def _mesh(cluster: Cluster, extra: str) -> None:
    cm = cluster.get("ConfigMap", "istio-system", "istio")
    cm["data"]["mesh"] = cm["data"]["mesh"] + "\n" + extra


def test_path_is_normalised_before_the_waypoint_compares_it(healthy):
    """listener_builder.go buildHTTPConnectionManager: BASE by default, so `/v1/./traces` is
    `/v1/traces` for the RBAC filter; the JSON hop says which path was compared."""
    data = what_if(healthy, TARGET, WhatIfRequest("sa/otel-collector", "POST", "/v1/./traces")).to_dict()
    assert data["verdict"] == "ALLOW" and data["hops"][0]["path_seen"] == "/v1/traces"
    assert data["request"]["path"] == "/v1/./traces"


def test_mesh_path_normalization_none_is_read(tmp_path: Path):
    """mesh `pathNormalization: {normalization: NONE}` turns normalize_path off (listener_builder.go)."""
    view = _with(tmp_path, lambda c: _mesh(c, "pathNormalization:\n  normalization: NONE"))
    data = what_if(view, TARGET, WhatIfRequest("sa/otel-collector", "POST", "/v1/./traces")).to_dict()
    assert data["verdict"] == "DENY" and "path_seen" not in data["hops"][0]


def _custom(provider: str) -> dict:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "ext-authz", "namespace": "kagenti-system"},
        "spec": {
            "targetRefs": [{"kind": "Service", "group": "", "name": "mlflow"}],
            "action": "CUSTOM",
            "provider": {"name": provider},
            "rules": [{"to": [{"operation": {"paths": ["/api/*"]}}]}],
        },
    }


def test_custom_policy_with_an_undefined_provider_denies(tmp_path: Path):
    """builder.go getBadCustomDenyRules: a CUSTOM policy whose provider the mesh does not define
    denies what it matches (no extensionProviders in the healthy mesh config)."""
    view = _with(tmp_path, lambda c: c.add(_custom("opa")))
    data = what_if(view, TARGET, WhatIfRequest("sa/kagenti-ui", "GET", "/api/x")).to_dict()
    assert data["verdict"] == "DENY" and data["hops"][0]["decided_by"]["action"] == "CUSTOM"
    assert what_if(view, TARGET, WhatIfRequest("sa/kagenti-ui", "GET", "/other")).exit_code == 0


def test_custom_policy_with_a_valid_provider_is_undecidable(tmp_path: Path):
    """A provider whose Service exists (model.LookupCluster succeeds) sends the request to the
    external authorizer: exit 4."""

    def edit(c: Cluster) -> None:
        c.add(_custom("opa"))
        _mesh(
            c,
            "extensionProviders:\n- name: opa\n  envoyExtAuthzHttp:\n"
            "    service: otel-collector.kagenti-system.svc.cluster.local\n    port: 4318",
        )

    view = _with(tmp_path, edit)
    result = what_if(view, TARGET, WhatIfRequest("sa/kagenti-ui", "GET", "/api/x"))
    assert result.exit_code == 4 and "external authorizer 'opa'" in result.to_dict()["explanation"]


def test_plaintext_caller_and_source_ip(tmp_path: Path):
    """ztunnel inbound_passthrough.rs: a plaintext caller never reaches the waypoint; ipBlocks at
    the pods decide on the address given with --source-ip."""

    def edit(c: Cluster) -> None:
        c.add(
            {
                "apiVersion": "security.istio.io/v1",
                "kind": "AuthorizationPolicy",
                "metadata": {"name": "only-internal", "namespace": "kagenti-system"},
                "spec": {
                    "selector": {"matchLabels": {"app": "mlflow"}},
                    "rules": [{"from": [{"source": {"ipBlocks": ["10.0.0.0/8"]}}]}],
                },
            }
        )

    view = _with(tmp_path, edit)
    inside = what_if(view, TARGET, WhatIfRequest("plaintext", source_ip="10.9.9.9")).to_dict()
    assert inside["verdict"] == "ALLOW" and [h["hop"] for h in inside["hops"]] == ["client->workload"]
    assert inside["request"]["plaintext"] is True and inside["request"]["from"] is None
    outside = what_if(view, TARGET, WhatIfRequest("plaintext", source_ip="192.168.1.1"))
    assert outside.exit_code == 1
    unknown = what_if(view, TARGET, WhatIfRequest("plaintext"))
    assert unknown.exit_code == 4


def test_uncaptured_pod_is_plaintext_with_its_pod_ip(tmp_path: Path):
    """A pod without `ambient.istio.io/redirection: enabled` and without a sidecar has no mesh
    identity: it is asked as a plaintext caller from its podIP."""
    view = _with(
        tmp_path,
        lambda c: c.annotate(
            "Pod", "kagenti-system", "otel-collector-6b8f9d7c5-m4n2p", "ambient.istio.io/redirection", None
        ),
    )
    data = what_if(view, TARGET, WhatIfRequest("pod/otel-collector-6b8f9d7c5-m4n2p")).to_dict()
    assert data["request"]["from"] is None and data["request"]["source_ip"] == "10.244.0.21"
    assert data["hops"][0]["hop"] == "client->workload"


def test_secret_headers_are_not_echoed(healthy):
    data = what_if(
        healthy, TARGET, WhatIfRequest(OTEL, headers=(("authorization", "Bearer s3cr3t"), ("x-a", "1")))
    ).to_dict()
    assert data["request"]["headers"] == {"authorization": "<redacted>", "x-a": "1"}
    assert "s3cr3t" not in str(data)


@pytest.mark.parametrize("ip", ["10.0.0.0/8", "not-an-ip"])
def test_bad_source_ip_is_a_usage_error(healthy, ip):
    with pytest.raises(UsageError, match="source-ip"):
        what_if(healthy, TARGET, WhatIfRequest(OTEL, source_ip=ip))
