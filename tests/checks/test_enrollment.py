"""WD2xx: namespace and enrollment checks, case by case beyond the scenarios."""

from __future__ import annotations

from tests.checks.viewkit import check_healthy, find, healthy_objects, run_check, view_of

from waypoint_doctor.checks.enrollment import workload_of
from waypoint_doctor.collect.view import Unreadable

NS = "kagenti-system"
POD = "mlflow-5f7d9c8b7d-x2k9q"


def _pod(objects: list[dict]) -> dict:
    return find(objects, "Pod", POD, NS)


def _ns(objects: list[dict]) -> dict:
    return find(objects, "Namespace", NS)


def test_wd201_namespace_unreadable_but_its_objects_were_read() -> None:
    objects = [o for o in healthy_objects() if o["kind"] != "Namespace"]
    view = view_of(objects, unreadable=[Unreadable(resource="namespaces", reason="Forbidden")])
    r = run_check("WD201", view)
    assert r.status == "pass" and "could not be" in r.message


def test_wd201_no_suggestion_when_nothing_is_close() -> None:
    r = run_check("WD201", view_of(healthy_objects()), target=("payments", "api"))
    assert r.status == "fail" and r.message == "namespace payments does not exist"


def test_wd202_some_pods_enrolled_one_by_one_still_fails() -> None:
    def edit(objects: list[dict]) -> None:
        _ns(objects)["metadata"]["labels"].pop("istio.io/dataplane-mode")
        second = yaml_copy(_pod(objects))
        second["metadata"]["name"] = "mlflow-5f7d9c8b7d-b7k2m"
        objects.append(second)
        _pod(objects)["metadata"]["labels"]["istio.io/dataplane-mode"] = "ambient"

    r = check_healthy("WD202", edit)
    assert r.status == "fail" and "mlflow-5f7d9c8b7d-b7k2m" in r.message


def test_wd203_unknown_revision_is_a_warning() -> None:
    def edit(objects: list[dict]) -> None:
        _ns(objects)["metadata"]["labels"]["istio.io/rev"] = "stable"

    r = check_healthy("WD203", edit)
    assert r.status == "warn" and "revision tag" in r.message


def test_wd203_native_sidecar_counts() -> None:
    def edit(objects: list[dict]) -> None:
        _pod(objects)["spec"]["initContainers"] = [{"name": "istio-proxy", "restartPolicy": "Always"}]

    r = check_healthy("WD203", edit)
    assert r.status == "fail" and "container istio-proxy" in r.message


def test_wd203_inject_label_without_sidecar_warns_and_patches_the_template() -> None:
    def edit(objects: list[dict]) -> None:
        _pod(objects)["metadata"]["labels"]["sidecar.istio.io/inject"] = "true"

    r = check_healthy("WD203", edit)
    assert r.status == "warn"
    assert "kubectl patch deployment/mlflow -n kagenti-system" in r.remediation


def test_wd204_ignores_finished_pods() -> None:
    def edit(objects: list[dict]) -> None:
        done = yaml_copy(_pod(objects))
        done["metadata"]["name"] = "mlflow-5f7d9c8b7d-old00"
        done["metadata"]["annotations"] = {}
        done["status"]["phase"] = "Failed"
        objects.append(done)

    assert check_healthy("WD204", edit).status == "pass"


def test_wd204_counts_several_uncaptured_pods() -> None:
    def edit(objects: list[dict]) -> None:
        for i in range(2):
            extra = yaml_copy(_pod(objects))
            extra["metadata"]["name"] = f"mlflow-5f7d9c8b7d-new0{i}"
            extra["metadata"]["annotations"] = {}
            objects.append(extra)

    r = check_healthy("WD204", edit)
    assert r.status == "fail" and r.message.startswith("2 of 3 pods of mlflow not captured by ambient")


def test_wd204_skips_when_pods_unreadable() -> None:
    objects = [o for o in healthy_objects() if not (o["kind"] == "Pod" and o["metadata"]["namespace"] == NS)]
    view = view_of(objects, unreadable=[Unreadable(resource="pods", reason="Forbidden", namespace=NS)])
    r = run_check("WD204", view)
    assert r.status == "skip" and "not permitted" in r.message


def test_workload_of() -> None:
    rs = {
        "metadata": {
            "name": "api-7d4c9b8f6-r8t5w",
            "labels": {"pod-template-hash": "7d4c9b8f6"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": "api-7d4c9b8f6"}],
        }
    }
    assert workload_of(rs) == "deployment/api"
    sts = {"metadata": {"name": "db-0", "ownerReferences": [{"kind": "StatefulSet", "name": "db"}]}}
    assert workload_of(sts) == "statefulset/db"
    assert workload_of({"metadata": {"name": "debug"}}) == "pod/debug"
    assert workload_of({"metadata": {"name": "web-5f7d9c8b7d-x2k9q"}}) == "deployment/web"


def yaml_copy(obj: dict) -> dict:
    import copy

    return copy.deepcopy(obj)
