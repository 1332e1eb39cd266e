"""WD1xx: control-plane checks, case by case beyond the scenarios."""

from __future__ import annotations

import yaml
from tests.checks.viewkit import ALL_KEYS, check_healthy, find, healthy_objects, run_check, view_of

from waypoint_doctor.checks.controlplane import _rbac_fragment, gateway_api_release_for
from waypoint_doctor.collect.view import SourceInfo, Unreadable
from waypoint_doctor.mesh.version import IstioVersion

# -- WD101 ---------------------------------------------------------------------------------------


def test_wd101_live_pass_names_the_context() -> None:
    r = check_healthy("WD101", source=SourceInfo(kind="live", context="prod", server="https://x"))
    assert r.status == "pass" and "prod" in r.message


def test_wd101_refused_object_read_fails_with_can_i_and_rbac_rule() -> None:
    refused = Unreadable(resource="pods", reason="Forbidden", namespace="kagenti-system")
    r = check_healthy("WD101", unreadable=[refused], source=SourceInfo(kind="live", context="c"))
    assert r.status == "fail"
    assert r.message == "you are not permitted to list pods in namespace kagenti-system"
    assert "kubectl auth can-i list pods -n kagenti-system" in r.remediation
    assert "kind: Role" in r.remediation and "namespace: kagenti-system" in r.remediation
    assert "snapshot" not in r.remediation


def test_wd101_snapshot_speaks_of_the_snapshot_taker() -> None:
    refused = Unreadable(resource="gateways.gateway.networking.k8s.io", reason="Forbidden")
    r = check_healthy("WD101", unreadable=[refused])
    assert r.message.startswith(
        "the snapshot's taker was not permitted to list gateways.gateway.networking.k8s.io"
    )
    assert "-A" in r.remediation and "waypoint-doctor snapshot mlflow -n kagenti-system" in r.remediation


def test_wd101_only_logs_refused_is_a_warning() -> None:
    refused = Unreadable(
        resource="pods", subresource="log", verb="get", reason="Forbidden", namespace="istio-system"
    )
    r = check_healthy("WD101", unreadable=[refused])
    assert r.status == "warn"
    assert "kubectl auth can-i get pods --subresource=log -n istio-system" in r.remediation


def test_wd101_unauthorized_fails() -> None:
    r = check_healthy("WD101", unreadable=[Unreadable(resource="pods", reason="Unauthorized")])
    assert r.status == "fail" and "401" in r.message


def test_wd101_timeouts_warn_and_not_found_is_not_a_permission() -> None:
    r = check_healthy("WD101", unreadable=[Unreadable(resource="pods", reason="Timeout")])
    assert r.status == "warn"
    r = check_healthy(
        "WD101", unreadable=[Unreadable(resource="gateways.gateway.networking.k8s.io", reason="NotFound")]
    )
    assert r.status == "pass"


def test_rbac_fragment_is_valid_yaml_merged_per_group() -> None:
    text = _rbac_fragment(
        [
            Unreadable(resource="pods", reason="Forbidden"),
            Unreadable(resource="services", reason="Forbidden"),
            Unreadable(resource="gateways.gateway.networking.k8s.io", reason="Forbidden"),
            Unreadable(
                resource="pods", subresource="log", verb="get", reason="Forbidden", namespace="istio-system"
            ),
        ]
    )
    docs = list(yaml.safe_load_all(text))
    cluster_role, role = docs
    assert cluster_role["kind"] == "ClusterRole" and role["kind"] == "Role"
    assert {"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get", "list"]} in cluster_role[
        "rules"
    ]
    assert {
        "apiGroups": ["gateway.networking.k8s.io"],
        "resources": ["gateways"],
        "verbs": ["get", "list"],
    } in cluster_role["rules"]
    assert role["metadata"]["namespace"] == "istio-system"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]


# -- WD102 ---------------------------------------------------------------------------------------


def _istiod_env(objects: list[dict]) -> list[dict]:
    return find(objects, "Deployment", "istiod")["spec"]["template"]["spec"]["containers"][0]["env"]


def test_wd102_reports_the_version_and_accepts_go_booleans() -> None:
    def edit(objects: list[dict]) -> None:
        for e in _istiod_env(objects):
            if e["name"] == "PILOT_ENABLE_AMBIENT":
                e["value"] = "1"

    r = check_healthy("WD102", edit)
    assert r.status == "pass" and "1.28.1" in r.message


def test_wd102_value_from_a_configmap_cannot_be_judged() -> None:
    def edit(objects: list[dict]) -> None:
        env = _istiod_env(objects)
        env[0] = {"name": "PILOT_ENABLE_AMBIENT", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}}}

    assert check_healthy("WD102", edit).status == "warn"


def test_wd102_ready_replicas_omitted_means_zero() -> None:
    def edit(objects: list[dict]) -> None:
        find(objects, "Deployment", "istiod")["status"] = {"replicas": 1, "unavailableReplicas": 1}

    r = check_healthy("WD102", edit)
    assert r.status == "fail" and "0/1" in r.message


def test_wd102_no_status_falls_back_to_pods() -> None:
    def edit(objects: list[dict]) -> None:
        find(objects, "Deployment", "istiod").pop("status")

    assert check_healthy("WD102", edit).status == "pass"


def test_wd102_picks_the_ambient_revision_among_several() -> None:
    def edit(objects: list[dict]) -> None:
        canary = yaml.safe_load(yaml.safe_dump(find(objects, "Deployment", "istiod")))
        canary["metadata"]["name"] = "istiod-canary"
        canary["metadata"]["labels"]["istio.io/rev"] = "canary"
        canary["spec"]["template"]["spec"]["containers"][0]["env"] = []
        objects.append(canary)

    r = check_healthy("WD102", edit)
    assert r.status == "pass" and "revision canary without ambient" in r.message


def test_wd102_skips_when_deployments_unreadable_in_the_istio_namespace() -> None:
    objects = [o for o in healthy_objects() if o["kind"] != "Deployment"]
    view = view_of(
        objects,
        unreadable=[Unreadable(resource="deployments.apps", reason="Forbidden", namespace="istio-system")],
    )
    assert run_check("WD102", view).status == "skip"


# -- WD103 ---------------------------------------------------------------------------------------


def _crd(name: str, versions: list[tuple[str, bool]]) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name, "annotations": {"gateway.networking.k8s.io/bundle-version": "v1.2.1"}},
        "spec": {"versions": [{"name": v, "served": s} for v, s in versions]},
    }


def test_wd103_without_discovery_reads_crd_objects() -> None:
    objects = [
        *healthy_objects(),
        _crd("gateways.gateway.networking.k8s.io", [("v1", True), ("v1beta1", True)]),
        _crd("gatewayclasses.gateway.networking.k8s.io", [("v1", True)]),
    ]
    assert run_check("WD103", view_of(objects, api_groups=None)).status == "pass"
    objects[-1] = _crd("gatewayclasses.gateway.networking.k8s.io", [("v1", False), ("v1beta1", True)])
    r = run_check("WD103", view_of(objects, api_groups=None))
    assert r.status == "fail" and "does not serve v1" in r.message


def test_wd103_without_discovery_uses_not_found_then_objects_then_skips() -> None:
    nf = Unreadable(resource="gateways.gateway.networking.k8s.io", reason="NotFound")
    keys = [k for k in ALL_KEYS if not k.startswith("customresourcedefinitions")]
    objects = [o for o in healthy_objects() if not o["apiVersion"].startswith("gateway.networking.k8s.io")]
    assert (
        run_check("WD103", view_of(objects, api_groups=None, unreadable=[nf], collected=keys)).status
        == "fail"
    )
    assert run_check("WD103", view_of(healthy_objects(), api_groups=None, collected=keys)).status == "pass"
    assert run_check("WD103", view_of(objects, api_groups=None, collected=keys)).status == "skip"


def test_gateway_api_release_follows_the_istio_minor() -> None:
    assert gateway_api_release_for(IstioVersion(1, 22))[0] == "v1.1.0"
    assert gateway_api_release_for(IstioVersion(1, 25))[0] == "v1.2.1"
    assert gateway_api_release_for(IstioVersion(1, 29))[0] == "v1.4.1"
    assert gateway_api_release_for(IstioVersion(1, 30))[0] == "v1.5.1"
    assert gateway_api_release_for(IstioVersion(1, 31))[0] == "v1.6.0"
    assert gateway_api_release_for(None)[0] == "v1.4.1"


# -- WD104 ---------------------------------------------------------------------------------------


def test_wd104_missing_class_with_ambient_istiod_is_only_a_warning() -> None:
    def edit(objects: list[dict]) -> None:
        objects.remove(find(objects, "GatewayClass", "istio-waypoint"))

    r = check_healthy("WD104", edit)
    assert r.status == "warn" and "built-in class" in r.message


def test_wd104_lists_other_istio_classes() -> None:
    def edit(objects: list[dict]) -> None:
        objects.append(
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "GatewayClass",
                "metadata": {"name": "istio-agentgateway-waypoint"},
                "spec": {"controllerName": "istio.io/agentgateway-waypoint-controller"},
            }
        )

    r = check_healthy("WD104", edit)
    assert r.status == "pass"
    assert any(e["name"] == "istio-agentgateway-waypoint" for e in r.evidence)


def test_wd104_class_without_status_is_info() -> None:
    def edit(objects: list[dict]) -> None:
        find(objects, "GatewayClass", "istio-waypoint").pop("status")

    assert check_healthy("WD104", edit).status == "info"


# -- WD105 ---------------------------------------------------------------------------------------


def test_wd105_other_ambient_node_without_ztunnel_is_a_warning() -> None:
    def edit(objects: list[dict]) -> None:
        objects.remove(find(objects, "Pod", "ztunnel-4kq7p"))  # control-plane node: otel, ui run there

    r = check_healthy("WD105", edit)
    assert r.status == "warn" and "kagenti-control-plane" in r.message


def test_wd105_unready_daemonset_covering_the_service_nodes_warns() -> None:
    def edit(objects: list[dict]) -> None:
        find(objects, "DaemonSet", "ztunnel")["status"].update(desiredNumberScheduled=3)

    assert check_healthy("WD105", edit).status == "warn"


def test_wd105_is_a_service_check() -> None:
    from waypoint_doctor.checks.registry import BY_ID

    assert BY_ID["WD105"].scope == "service"
    assert all(BY_ID[i].scope == "cluster" for i in ("WD101", "WD102", "WD103", "WD104", "WD106", "WD107"))


# -- WD106, WD107 ---------------------------------------------------------------------------------


def test_wd106_reads_the_cni_configmap() -> None:
    def edit(objects: list[dict]) -> None:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "istio-cni-config", "namespace": "istio-system"},
                "data": {"AMBIENT_ENABLED": "false"},
            }
        )

    assert check_healthy("WD106", edit).status == "fail"


def test_wd107_reports_aliases() -> None:
    def edit(objects: list[dict]) -> None:
        find(objects, "ConfigMap", "istio")["data"]["mesh"] = (
            "trustDomain: example.org\ntrustDomainAliases: [old.example.org]\n"
        )

    r = check_healthy("WD107", edit)
    assert r.status == "info"
    assert r.message.startswith("trust domain example.org, aliases old.example.org")
