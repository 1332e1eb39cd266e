"""WD2xx scenarios: namespace and enrollment defects planted in the healthy MLflow setup."""

from __future__ import annotations

from scenariolib import Cluster, Scenario
from scenarios.edits import MLFLOW_POD, NS, pod

DATAPLANE = "istio.io/dataplane-mode"
REDIRECTION = "ambient.istio.io/redirection"
APP_PODS = (MLFLOW_POD, "otel-collector-6b8f9d7c5-m4n2p", "kagenti-ui-7d4c9b8f6-r8t5w")


def _uncapture(c: Cluster, *names: str) -> None:
    for name in names:
        c.annotate("Pod", NS, name, REDIRECTION, None)


def _inject_sidecar(c: Cluster, name: str = MLFLOW_POD) -> None:
    p = pod(c, name)
    p["metadata"]["annotations"].pop(REDIRECTION, None)
    p["metadata"]["annotations"]["sidecar.istio.io/status"] = (
        '{"initContainers":["istio-validation"],"containers":["istio-proxy"],"volumes":["istio-envoy"]}'
    )
    p["spec"]["containers"].append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.28.1"})
    p["status"]["containerStatuses"].append(
        {
            "name": "istio-proxy",
            "ready": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": "2026-11-20T09:00:00Z"}},
        }
    )


def namespace_not_enrolled(c: Cluster) -> None:
    # the label removed: istio-cni takes every pod of the namespace out of ambient
    c.unlabel("Namespace", None, NS, DATAPLANE)
    _uncapture(c, *APP_PODS)


def namespace_label_typo(c: Cluster) -> None:
    c.label("Namespace", None, NS, DATAPLANE, "Ambient")
    _uncapture(c, *APP_PODS)


def pods_enrolled_one_by_one(c: Cluster) -> None:
    # no namespace label; every application pod carries the label itself (1.22+): healthy
    c.unlabel("Namespace", None, NS, DATAPLANE)
    for name in APP_PODS:
        c.label("Pod", NS, name, DATAPLANE, "ambient")


def namespace_injection_enabled(c: Cluster) -> None:
    c.label("Namespace", None, NS, "istio-injection", "enabled")
    _inject_sidecar(c)


def namespace_revision_label(c: Cluster) -> None:
    # istio.io/rev=default: the default revision's webhook injects the next pods; none restarted yet
    c.label("Namespace", None, NS, "istio.io/rev", "default")


def pod_inject_label(c: Cluster) -> None:
    c.label("Pod", NS, MLFLOW_POD, "sidecar.istio.io/inject", "true")
    _inject_sidecar(c)


def pod_opted_out(c: Cluster) -> None:
    c.label("Pod", NS, MLFLOW_POD, DATAPLANE, "none")
    _uncapture(c, MLFLOW_POD)


def pod_host_network(c: Cluster) -> None:
    pod(c)["spec"]["hostNetwork"] = True
    _uncapture(c, MLFLOW_POD)


def pod_never_captured(c: Cluster) -> None:
    # enrolled, nothing excludes it, yet no annotation: istio-cni missed it (started before the CNI)
    _uncapture(c, MLFLOW_POD)


SCENARIOS = [
    Scenario(
        "namespace-typo",
        "the namespace asked for does not exist (kagenti-sytem)",
        lambda c: None,
        fails={"WD201"},
        skips={"WD202", "WD203", "WD204", "WD301", "WD302", "WD303", "WD308", "WD309"},
        target=("kagenti-sytem", "mlflow"),
    ),
    Scenario(
        "namespace-not-enrolled",
        "the namespace lost istio.io/dataplane-mode=ambient; its pods left the mesh",
        namespace_not_enrolled,
        fails={"WD202", "WD204"},
    ),
    Scenario(
        "namespace-dataplane-mode-typo",
        "istio.io/dataplane-mode=Ambient (values are case-sensitive)",
        namespace_label_typo,
        fails={"WD202", "WD204"},
    ),
    Scenario(
        "pods-enrolled-one-by-one",
        "no namespace label, every pod labelled ambient itself",
        pods_enrolled_one_by_one,
        fails=set(),
    ),
    Scenario(
        "namespace-sidecar-injection",
        "istio-injection=enabled on the namespace: mlflow got a sidecar and left ambient",
        namespace_injection_enabled,
        fails={"WD203", "WD204"},
    ),
    Scenario(
        "namespace-revision-label",
        "istio.io/rev=default on an ambient namespace: the next pods get sidecars",
        namespace_revision_label,
        fails={"WD203"},
    ),
    Scenario(
        "pod-sidecar-inject-label",
        "sidecar.istio.io/inject=true on mlflow's pod: injected, not captured",
        pod_inject_label,
        fails={"WD203", "WD204"},
    ),
    Scenario(
        "pod-opted-out", "mlflow's pod has istio.io/dataplane-mode=none", pod_opted_out, fails={"WD204"}
    ),
    Scenario("pod-host-network", "mlflow runs with hostNetwork: true", pod_host_network, fails={"WD204"}),
    Scenario(
        "pod-never-captured",
        "mlflow's pod is enrolled but was never captured by istio-cni",
        pod_never_captured,
        fails={"WD204"},
    ),
]
