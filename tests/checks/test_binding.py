"""WD3xx: service and waypoint checks, case by case beyond the scenarios."""

from __future__ import annotations

import copy
import json
import re

import pytest
from tests.checks.viewkit import check_healthy, find, healthy_objects, run_check, view_of

from waypoint_doctor.checks.binding import (
    allowed_routes_fix,
    decode_address_message,
    interpret_ingress_label,
)
from waypoint_doctor.checks.spec import CheckOptions
from waypoint_doctor.mesh.version import IstioVersion

NS = "kagenti-system"
GW = "mlflow-waypoint"


def _svc(objects: list[dict]) -> dict:
    return find(objects, "Service", "mlflow", NS)


def _gw(objects: list[dict]) -> dict:
    return find(objects, "Gateway", GW, NS)


def _ns(objects: list[dict]) -> dict:
    return find(objects, "Namespace", NS)


# -- WD301 ---------------------------------------------------------------------------------------


def test_wd301_names_a_namespace_holding_the_service() -> None:
    r = run_check("WD301", view_of(healthy_objects()), target=("istio-system", "mlflow"))
    assert r.status == "fail" and "exists in namespace kagenti-system" in r.message
    assert r.remediation == "waypoint-doctor check mlflow -n kagenti-system"


def test_wd301_external_name_warns() -> None:
    def edit(objects: list[dict]) -> None:
        _svc(objects)["spec"] = {"type": "ExternalName", "externalName": "mlflow.example.com"}

    assert check_healthy("WD301", edit).status == "warn"


def test_wd301_some_pods_not_ready_warns() -> None:
    def edit(objects: list[dict]) -> None:
        extra = copy.deepcopy(find(objects, "Pod", "mlflow-5f7d9c8b7d-x2k9q", NS))
        extra["metadata"]["name"] = "mlflow-5f7d9c8b7d-zz9zz"
        extra["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False"}]}
        objects.append(extra)

    r = check_healthy("WD301", edit)
    assert r.status == "warn" and "Unschedulable" in r.message


# -- WD302 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("none", "opts out"), ("~", "only in Istio 1.22"), ("*/none", "only in Istio 1.22"), ("", "empty")],
)
def test_wd302_opt_outs(value: str, expected: str) -> None:
    def edit(objects: list[dict]) -> None:
        _svc(objects)["metadata"]["labels"]["istio.io/use-waypoint"] = value

    r = check_healthy("WD302", edit)
    assert r.status == "fail" and expected in r.message
    assert (
        "kubectl label service mlflow -n kagenti-system istio.io/use-waypoint=mlflow-waypoint --overwrite"
        in r.remediation
    )


def test_wd302_namespace_opt_out_applies_when_the_service_has_no_label() -> None:
    def edit(objects: list[dict]) -> None:
        _svc(objects)["metadata"]["labels"].pop("istio.io/use-waypoint")
        _ns(objects)["metadata"]["labels"]["istio.io/use-waypoint"] = "none"

    r = check_healthy("WD302", edit)
    assert r.status == "fail" and "namespace kagenti-system opts out" in r.message
    assert (
        "kubectl label namespace kagenti-system istio.io/use-waypoint=mlflow-waypoint --overwrite"
        in r.remediation
    )


def test_wd302_suggests_creating_a_waypoint_when_there_is_none() -> None:
    def edit(objects: list[dict]) -> None:
        _svc(objects)["metadata"]["labels"].pop("istio.io/use-waypoint")
        objects.remove(_gw(objects))

    r = check_healthy("WD302", edit)
    assert r.remediation.startswith("istioctl waypoint apply -n kagenti-system --name waypoint --wait\n")


def test_wd302_service_label_overrides_the_namespace() -> None:
    def edit(objects: list[dict]) -> None:
        _ns(objects)["metadata"]["labels"]["istio.io/use-waypoint"] = "other"

    r = check_healthy("WD302", edit)
    assert r.status == "pass" and "overrides the namespace's istio.io/use-waypoint=other" in r.message


def test_wd302_waypoint_own_service_is_info() -> None:
    r = run_check("WD302", view_of(healthy_objects()), target=(NS, GW))
    assert r.status == "info"


def test_wd302_cross_namespace_on_122_warns() -> None:
    def edit(objects: list[dict]) -> None:
        _svc(objects)["metadata"]["labels"]["istio.io/use-waypoint-namespace"] = "waypoints"
        for o in objects:
            for c in (o.get("spec", {}).get("template", {}).get("spec", {}) or o.get("spec", {})).get(
                "containers", []
            ):
                c["image"] = c["image"].replace("1.28.1", "1.22.3")

    assert check_healthy("WD302", edit).status == "warn"


# -- WD303 ---------------------------------------------------------------------------------------


def _cross_namespace(objects: list[dict], allowed: dict | None) -> None:
    gw = _gw(objects)
    gw["metadata"]["namespace"] = "waypoints"
    if allowed is not None:
        gw["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": allowed}
    _svc(objects)["metadata"]["labels"]["istio.io/use-waypoint-namespace"] = "waypoints"
    objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "waypoints"}})


@pytest.mark.parametrize(
    ("allowed", "status"),
    [
        (None, "fail"),
        ({"from": "Same"}, "fail"),
        ({"from": "All"}, "pass"),
        ({"from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": NS}}}, "pass"),
        (
            {
                "from": "Selector",
                "selector": {
                    "matchExpressions": [
                        {"key": "istio.io/dataplane-mode", "operator": "In", "values": ["ambient"]}
                    ]
                },
            },
            "pass",
        ),
        (
            {"from": "Selector", "selector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]}},
            "fail",
        ),
        ({"from": "Selector"}, "fail"),  # a nil selector selects nothing
    ],
)
def test_wd303_allowed_routes(allowed: dict | None, status: str) -> None:
    assert check_healthy("WD303", lambda o: _cross_namespace(o, allowed)).status == status


def test_wd303_gateway_in_another_namespace_is_named() -> None:
    def edit(objects: list[dict]) -> None:
        _gw(objects)["metadata"]["namespace"] = "waypoints"

    r = check_healthy("WD303", edit)
    assert r.status == "fail" and "exists in namespace waypoints" in r.message
    assert (
        r.remediation
        == "kubectl label service mlflow -n kagenti-system istio.io/use-waypoint-namespace=waypoints --overwrite"
    )


def test_wd303_missing_waypoint_namespace() -> None:
    def edit(objects: list[dict]) -> None:
        _svc(objects)["metadata"]["labels"]["istio.io/use-waypoint-namespace"] = "waypionts"

    r = check_healthy("WD303", edit)
    assert r.status == "fail" and "waypoint namespace waypionts" in r.message


def test_allowed_routes_fix_is_valid_json_patch() -> None:
    text = allowed_routes_fix(None, "shared", "waypoints", NS)
    patches = re.findall(r"-p '([^']+)'", text)
    assert len(patches) == 2
    for p in patches:
        ops = json.loads(p)
        assert ops[0]["path"] == "/spec/listeners/0/allowedRoutes"
    assert json.loads(patches[1])[0]["value"]["namespaces"]["selector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": NS
    }


# -- WD304 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listeners", "fragment"),
    [
        ([], "no listener"),
        ([{"name": "mesh", "port": 15008, "protocol": "hbone"}], "not 15008/HBONE"),
        (
            [
                {"name": "a", "port": 15008, "protocol": "HBONE"},
                {"name": "b", "port": 15008, "protocol": "HBONE"},
            ],
            "exactly one",
        ),
    ],
)
def test_wd304_listeners(listeners: list, fragment: str) -> None:
    def edit(objects: list[dict]) -> None:
        _gw(objects)["spec"]["listeners"] = listeners

    r = check_healthy("WD304", edit)
    assert r.status == "fail" and fragment in r.message


def test_wd304_ingress_class_and_agentgateway() -> None:
    def ingress(objects: list[dict]) -> None:
        _gw(objects)["spec"]["gatewayClassName"] = "istio"

    r = check_healthy("WD304", ingress)
    assert r.status == "fail" and "an ingress gateway" in r.message

    def agent(objects: list[dict]) -> None:
        _gw(objects)["spec"]["gatewayClassName"] = "istio-agentgateway-waypoint"

    assert check_healthy("WD304", agent).status == "warn"


# -- WD305 ---------------------------------------------------------------------------------------


def test_wd305_unknown_spelling_fails() -> None:
    def edit(objects: list[dict]) -> None:
        _gw(objects)["metadata"]["labels"]["istio.io/waypoint-for"] = "Service"

    r = check_healthy("WD305", edit)
    assert r.status == "fail" and "compares" in r.message


def test_wd305_absent_label_means_service() -> None:
    def edit(objects: list[dict]) -> None:
        _gw(objects)["metadata"]["labels"].pop("istio.io/waypoint-for")

    r = check_healthy("WD305", edit)
    assert r.status == "pass" and "the default" in r.message


def test_wd305_headless_service_warns() -> None:
    def edit(objects: list[dict]) -> None:
        _svc(objects)["spec"]["clusterIP"] = "None"

    assert check_healthy("WD305", edit).status == "warn"


# -- WD306 ---------------------------------------------------------------------------------------


def test_wd306_stale_generation_warns() -> None:
    def edit(objects: list[dict]) -> None:
        _gw(objects)["metadata"]["generation"] = 3

    r = check_healthy("WD306", edit)
    assert r.status == "warn" and "older generation" in r.message


def test_wd306_unknown_programmed_reason_is_quoted() -> None:
    def edit(objects: list[dict]) -> None:
        _gw(objects)["status"]["conditions"][1].update(
            status="False", reason="Invalid", message="Bad TLS configuration"
        )

    r = check_healthy("WD306", edit)
    assert r.status == "fail" and "Bad TLS configuration" in r.message


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        (
            'Failed to assign to any requested addresses: hostname "w.ns.svc.cluster.local" not found',
            "does not exist",
        ),
        (
            'Failed to assign to any requested addresses: hostname "w.ns.svc.cluster.local" not found in namespace "ns", '
            'but it was found in namespace(s) "other"',
            'exists in namespace "other", not ns',
        ),
        (
            'Failed to assign to any requested addresses: port 15008 not found for hostname "w.ns.svc"',
            "has no port 15008",
        ),
        (
            'Failed to assign to any requested addresses: no instances found for hostname "w"',
            "no ready endpoint",
        ),
        (
            'Assigned to service(s) x, but failed to assign to all requested addresses: address pending for hostname "w"',
            "LoadBalancer",
        ),
    ],
)
def test_decode_address_message(message: str, fragment: str) -> None:
    gw = {"metadata": {"name": "w", "namespace": "ns"}}
    explanation, fix = decode_address_message(message, gw)
    assert fragment in explanation and fix


# -- WD307 ---------------------------------------------------------------------------------------


def test_wd307_old_restarts_outside_the_window_pass() -> None:
    def edit(objects: list[dict]) -> None:
        cs = find(objects, "Pod", "mlflow-waypoint-7c9d8b6f4-lhlwp", NS)["status"]["containerStatuses"][0]
        cs.update(restartCount=2, lastState={"terminated": {"finishedAt": "2026-11-19T09:00:00Z"}})

    objects = healthy_objects()
    edit(objects)
    from datetime import UTC, datetime

    opts = CheckOptions(now=datetime(2026, 11, 20, 10, 15, tzinfo=UTC))
    assert run_check("WD307", view_of(objects), options=opts).status == "pass"


def test_wd307_legacy_label_is_enough() -> None:
    def edit(objects: list[dict]) -> None:
        labels = find(objects, "Pod", "mlflow-waypoint-7c9d8b6f4-lhlwp", NS)["metadata"]["labels"]
        labels.pop("gateway.networking.k8s.io/gateway-name")
        labels["istio.io/gateway-name"] = GW

    assert check_healthy("WD307", edit).status == "pass"


# -- WD308 ---------------------------------------------------------------------------------------


def _bound(objects: list[dict], **fields: str) -> None:
    _svc(objects)["status"]["conditions"][0].update(fields)


def test_wd308_attached_to_another_waypoint_warns() -> None:
    r = check_healthy("WD308", lambda o: _bound(o, message="Successfully attached to waypoint other/wp"))
    assert r.status == "warn" and "other/wp" in r.message


def test_wd308_ingress_suffix_is_still_bound() -> None:
    msg = f"Successfully attached to waypoint {NS}/{GW}. Ingress traffic will traverse the waypoint"
    assert check_healthy("WD308", lambda o: _bound(o, message=msg)).status == "pass"


def test_wd308_unknown_reason_fails_with_the_raw_message() -> None:
    r = check_healthy("WD308", lambda o: _bound(o, status="False", reason="SomethingNew", message="why"))
    assert r.status == "fail" and "SomethingNew" in r.message and '"why"' in r.message


def test_wd308_unknown_status_warns() -> None:
    assert (
        check_healthy("WD308", lambda o: _bound(o, status="Unknown", reason="WaypointIsNotReady")).status
        == "warn"
    )


# -- WD309 ---------------------------------------------------------------------------------------

V124, V125, V130 = IstioVersion(1, 24), IstioVersion(1, 25), IstioVersion(1, 30)


@pytest.mark.parametrize(
    ("value", "on_ns", "version", "honoured"),
    [
        ("true", False, V124, True),
        ("True", False, V124, False),
        ("True", False, V125, True),
        ("tRuE", False, V125, True),
        ("tRuE", False, V130, False),  # ParseBool rejects it
        ("1", False, V125, False),
        ("1", False, V130, True),
        ("true", True, V124, False),  # namespace label from 1.25
        ("true", True, V125, True),
        ("false", False, V130, False),
        ("yes", False, V130, False),
        ("true", False, IstioVersion(1, 23), False),
        ("true", False, None, True),
        ("1", False, None, None),
        ("no", False, None, False),
    ],
)
def test_ingress_label_by_release(
    value: str, on_ns: bool, version: IstioVersion | None, honoured: bool | None
) -> None:
    assert interpret_ingress_label(value, on_ns, version)[0] is honoured


def test_wd309_explicit_false_is_a_choice() -> None:
    def edit(objects: list[dict]) -> None:
        _svc(objects)["metadata"]["labels"]["istio.io/ingress-use-waypoint"] = "false"

    r = check_healthy("WD309", edit)
    assert r.status == "info" and "by choice" in r.message


def test_wd309_classic_ingress_pods_count_as_an_ingress_path() -> None:
    def edit(objects: list[dict]) -> None:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "istio-ingressgateway-5d8f7c9b6-abcde",
                    "namespace": "istio-system",
                    "labels": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
                },
                "spec": {"containers": [{"name": "istio-proxy"}]},
                "status": {"phase": "Running"},
            }
        )

    r = check_healthy("WD309", edit)
    assert r.status == "warn" and "deployment/istio-ingressgateway in istio-system" in r.message


def test_wd309_routing_disabled_on_istiod_warns() -> None:
    def edit(objects: list[dict]) -> None:
        _svc(objects)["metadata"]["labels"]["istio.io/ingress-use-waypoint"] = "true"
        env = find(objects, "Deployment", "istiod")["spec"]["template"]["spec"]["containers"][0]["env"]
        env.append({"name": "ENABLE_INGRESS_WAYPOINT_ROUTING", "value": "false"})

    r = check_healthy("WD309", edit)
    assert r.status == "warn" and "ENABLE_INGRESS_WAYPOINT_ROUTING=false" in r.message


def test_wd308_waypoint_names_with_dots() -> None:
    from waypoint_doctor.checks.binding import _ATTACHED

    msg = "Successfully attached to waypoint ns/wp.v2. Ingress traffic will traverse the waypoint"
    assert _ATTACHED.match(msg).group(1) == "ns/wp.v2"
