"""WD5xx scenarios: what the logs and istioctl show, planted in the healthy MLflow setup.

Each scenario writes the log lines (in ztunnel's and Envoy's real formats) that the defect would
produce, timed inside the default 15-minute window before the snapshot's takenAt (10:15), so the
live run (the fake API server applies sinceSeconds) and the offline run see the same lines.
Scenarios with istioctl outputs run offline only: the live collector would run the real istioctl.
"""

from __future__ import annotations

import base64
import json

from tests.logs.certs import TestCA, pem
from tests.logs.ztunnel_render import render_text

from scenariolib import Cluster, Scenario
from scenarios.edits import ISTIO_NS, MLFLOW_POD, NS, WAYPOINT_POD

CLIENT_ZTUNNEL = "ztunnel-4kq7p"  # kagenti-control-plane: otel-collector, kagenti-ui
DEST_ZTUNNEL = "ztunnel-9wd2s"  # kagenti-worker: mlflow, the waypoint
FQDN = "mlflow.kagenti-system.svc.cluster.local"
TD = "cluster.local"
WAYPOINT_ID = f"spiffe://{TD}/ns/{NS}/sa/mlflow-waypoint"
MLFLOW_ID = f"spiffe://{TD}/ns/{NS}/sa/mlflow"
OTEL = ("otel-collector-6b8f9d7c5-m4n2p", "10.244.0.21", f"spiffe://{TD}/ns/{NS}/sa/otel-collector")
UI = ("kagenti-ui-7d4c9b8f6-r8t5w", "10.244.0.22", f"spiffe://{TD}/ns/{NS}/sa/kagenti-ui")


def _t(minute: int, second: int = 0) -> str:
    return f"2026-11-20T10:{minute:02d}:{second:02d}.{minute * 1000 + second:06d}Z"


def _outbound(
    minute: int, client: tuple[str, str, str], dst_workload: str, dst_ip: str, **extra: object
) -> str:
    to_waypoint = dst_workload == WAYPOINT_POD
    fields = {
        "src.addr": f"{client[1]}:{40000 + minute}",
        "src.workload": client[0],
        "src.namespace": NS,
        "src.identity": client[2],
        "dst.addr": f"{dst_ip}:15008",
        "dst.hbone_addr": "10.96.47.9:5000" if to_waypoint else f"{dst_ip}:5000",
        "dst.service": FQDN,
        "dst.workload": dst_workload,
        "dst.namespace": NS,
        "dst.identity": WAYPOINT_ID if to_waypoint else MLFLOW_ID,
        "direction": "outbound",
        "bytes_sent": extra.pop("bytes_sent", 0),
        "bytes_recv": 0,
        "duration": extra.pop("duration", 3),
        "error": extra.pop("error", None),
    }
    return render_text(fields, time=_t(minute), level="error" if fields["error"] else "info")


def _inbound(minute: int, src: tuple[str, str, str | None], error: str | None = None) -> str:
    fields = {
        "src.addr": f"{src[1]}:{38000 + minute}",
        "src.workload": src[0] or None,
        "src.namespace": NS if src[0] else None,
        "src.identity": src[2],
        "dst.addr": "10.244.1.10:15008",
        "dst.hbone_addr": "10.244.1.10:5000",
        "dst.service": FQDN,
        "dst.workload": MLFLOW_POD,
        "dst.namespace": NS,
        "dst.identity": MLFLOW_ID,
        "direction": "inbound",
        "bytes_sent": 0,
        "bytes_recv": 0,
        "duration": 0,
        "error": error,
    }
    return render_text(fields, time=_t(minute), level="error" if error else "info")


def _waypoint_line(
    minute: int, method: str, path: str, code: int, details: str, client: tuple[str, str, str]
) -> str:
    return (
        f'[{_t(minute)[:-4]}Z] "{method} {path} HTTP/1.1" {code} - {details} - "-" 0 19 0 - "-" "curl/8.11.0" '
        f'"req-{minute:04d}" "{FQDN}:5000" "-" inbound-vip|5000|http|{FQDN} - 10.96.47.9:5000 '
        f"{client[1]}:{40000 + minute} - default"
    )


def _log(c: Cluster, ns: str, pod: str, lines: list[str]) -> None:
    c.append_log(ns, pod, "istio-proxy", "\n".join(lines))


WAYPOINT = (WAYPOINT_POD, "10.244.1.15", WAYPOINT_ID)
ALLOW_NONE = "connection closed due to policy rejection: allow policies exist, but none allowed"


# -- WD502 ---------------------------------------------------------------------------------------
def waypoint_rejected_after_policy_change(c: Cluster) -> None:
    # The configuration looks fine now (WD409 passes) but, in the window, the pod's ztunnel
    # refused the waypoint: the evidence of an allow-nothing applied, then removed.
    _log(c, ISTIO_NS, DEST_ZTUNNEL, [_inbound(m, WAYPOINT, ALLOW_NONE) for m in (7, 8, 9)])


def plaintext_client_meets_strict(c: Cluster) -> None:
    err = "connection closed due to policy rejection: explicitly denied by: istio-system/istio_converted_static_strict"
    _log(c, ISTIO_NS, DEST_ZTUNNEL, [_inbound(m, ("", "10.244.0.99", None), err) for m in (5, 6)])


def rejections_outside_the_window(c: Cluster) -> None:
    # two hours before takenAt: outside the default 15-minute window
    lines = [_inbound(m, WAYPOINT, ALLOW_NONE).replace("2026-11-20T10:", "2026-11-20T08:", 1) for m in (1, 2)]
    key = (ISTIO_NS, DEST_ZTUNNEL, "istio-proxy")
    c.logs[key] = "\n".join(lines) + "\n" + c.logs.get(key, "")


# -- WD503 ---------------------------------------------------------------------------------------
def hbone_blocked_to_waypoint(c: Cluster) -> None:
    err = "connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008: deadline has elapsed"
    lines = [_outbound(m, OTEL, WAYPOINT_POD, "10.244.1.15", error=err, duration=10002) for m in (7, 8, 9)]
    _log(c, ISTIO_NS, CLIENT_ZTUNNEL, lines)


def no_healthy_upstream(c: Cluster) -> None:
    err = "no healthy upstream: 10.244.1.10:5000"
    _log(c, ISTIO_NS, CLIENT_ZTUNNEL, [_outbound(8, UI, WAYPOINT_POD, "10.244.1.15", error=err)])


# -- WD504 ---------------------------------------------------------------------------------------
def waypoint_403_none(c: Cluster) -> None:
    none = "rbac_access_denied_matched_policy[none]"
    _log(
        c,
        NS,
        WAYPOINT_POD,
        [_waypoint_line(m, "DELETE", "/api/2.0/mlflow/experiments/delete", 403, none, UI) for m in (7, 9)],
    )
    _log(c, ISTIO_NS, CLIENT_ZTUNNEL, [_outbound(m, UI, WAYPOINT_POD, "10.244.1.15") for m in (7, 9)])


def waypoint_403_deny_policy(c: Cluster) -> None:
    c.add(
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "deny-admin", "namespace": NS},
            "spec": {
                "targetRefs": [{"kind": "Service", "group": "", "name": "mlflow"}],
                "action": "DENY",
                "rules": [{"to": [{"operation": {"paths": ["/admin/*"]}}]}],
            },
        }
    )
    details = f"rbac_access_denied_matched_policy[ns[{NS}]-policy[deny-admin]-rule[0]]"
    _log(c, NS, WAYPOINT_POD, [_waypoint_line(8, "GET", "/admin/users", 403, details, UI)])


def waypoint_access_logs_off(c: Cluster) -> None:
    c.logs[(NS, WAYPOINT_POD, "istio-proxy")] = "2026-11-20T10:00:00.000000Z\tinfo\tEnvoy proxy is ready\n"


# -- WD505 ---------------------------------------------------------------------------------------
def client_goes_straight_to_the_pod(c: Cluster) -> None:
    # e.g. a client addressing the pod IP while the waypoint is for `service` traffic
    _log(
        c,
        ISTIO_NS,
        CLIENT_ZTUNNEL,
        [_outbound(m, OTEL, MLFLOW_POD, "10.244.1.10", bytes_sent=900) for m in (10, 11)],
    )


def pod_reached_without_the_waypoint(c: Cluster) -> None:
    _log(c, ISTIO_NS, DEST_ZTUNNEL, [_inbound(12, UI)])


# -- logs not readable -------------------------------------------------------------------------
def all_logs_forbidden(c: Cluster) -> None:
    for ns in (ISTIO_NS, NS):
        c.unreadable(verb="get", resource="pods", subresource="log", namespace=ns, reason="Forbidden")
    c.logs = {}


# -- WD501 (istioctl outputs: offline only) -----------------------------------------------------
def _istioctl(
    c: Cluster,
    *,
    otel_trust_domain: str = TD,
    waypoint_sa: str = "mlflow-waypoint",
    otel_state: str = "Available",
) -> None:
    ca = TestCA()
    otel_id = f"spiffe://{otel_trust_domain}/ns/{NS}/sa/otel-collector"
    certs = [
        {
            "identity": otel_id,
            "state": otel_state,
            "certChain": [{"pem": pem(ca.issue(otel_id))}] if otel_state == "Available" else [],
        },
        {"identity": UI[2], "state": "Available", "certChain": [{"pem": pem(ca.issue(UI[2]))}]},
    ]
    workloads = [
        {
            "name": OTEL[0],
            "namespace": NS,
            "serviceAccount": "otel-collector",
            "trustDomain": otel_trust_domain,
            "workloadIps": [OTEL[1]],
            "protocol": "HBONE",
            "node": "kagenti-control-plane",
            "uid": f"Kubernetes//Pod/{NS}/{OTEL[0]}",
        },
        {
            "name": UI[0],
            "namespace": NS,
            "serviceAccount": "kagenti-ui",
            "workloadIps": [UI[1]],
            "protocol": "HBONE",
            "node": "kagenti-control-plane",
            "uid": f"Kubernetes//Pod/{NS}/{UI[0]}",
        },
    ]
    chain = ca.chain_pem(f"spiffe://{TD}/ns/{NS}/sa/{waypoint_sa}")

    secret = {
        "dynamicActiveSecrets": [
            {
                "name": "default",
                "secret": {
                    "name": "default",
                    "tlsCertificate": {
                        "certificateChain": {"inlineBytes": base64.b64encode(chain.encode()).decode()}
                    },
                },
            }
        ]
    }
    c.istioctl[f"ztunnel-config-certificates.{CLIENT_ZTUNNEL}.{ISTIO_NS}.json"] = json.dumps(certs)
    c.istioctl[f"ztunnel-config-workloads.{CLIENT_ZTUNNEL}.{ISTIO_NS}.json"] = json.dumps(workloads)
    c.istioctl[f"proxy-config-secret.{WAYPOINT_POD}.{NS}.json"] = json.dumps(secret)


def istioctl_consistent(c: Cluster) -> None:
    _istioctl(c)


def otel_in_another_trust_domain(c: Cluster) -> None:
    # the collector's certificate is issued in prod.example (a trust-domain migration half done);
    # the policies still name cluster.local
    _istioctl(c, otel_trust_domain="prod.example")


def waypoint_certificate_differs(c: Cluster) -> None:
    # the waypoint runs under another service account than the Gateway's name
    _istioctl(c, waypoint_sa="waypoint-runner")


def otel_certificate_unavailable(c: Cluster) -> None:
    _istioctl(c, otel_state="Unavailable: signing gRPC error")


SCENARIOS = [
    Scenario(
        "waypoint-rejected-in-the-logs",
        "the MLflow pod's ztunnel logged rejections of the waypoint's identity in the window",
        waypoint_rejected_after_policy_change,
        fails={"WD502"},
    ),
    Scenario(
        "plaintext-client-strict",
        "a plaintext client was refused by STRICT mTLS at the MLflow pod (intended?)",
        plaintext_client_meets_strict,
        fails=set(),
        warns={"WD502"},
    ),
    Scenario(
        "rejections-outside-the-window",
        "rejections two hours before the snapshot: outside --since 15m, so nothing to report",
        rejections_outside_the_window,
        fails=set(),
        warns=set(),
    ),
    Scenario(
        "hbone-blocked-to-waypoint",
        "the collector's ztunnel times out on 15008 to the waypoint (a NetworkPolicy)",
        hbone_blocked_to_waypoint,
        fails={"WD503"},
    ),
    Scenario(
        "no-healthy-upstream",
        "the UI's connection found no healthy upstream",
        no_healthy_upstream,
        fails={"WD503"},
    ),
    Scenario(
        "waypoint-403-none",
        "the waypoint denies the UI's DELETE: no ALLOW rule matches ([none])",
        waypoint_403_none,
        fails={"WD504"},
    ),
    Scenario(
        "waypoint-403-deny-policy",
        "a DENY policy on /admin/* answers 403 (a policy doing its job)",
        waypoint_403_deny_policy,
        fails=set(),  # WD504 warns (the DENY decides); the new policy itself also draws WD407/WD410 notes
    ),
    Scenario(
        "waypoint-access-logs-off",
        "the waypoint logs no access lines (access logging is off by default)",
        waypoint_access_logs_off,
        fails=set(),
        warns=set(),
        skips={"WD504"},
    ),
    Scenario(
        "client-bypasses-waypoint",
        "the collector connects straight to the MLflow pod, not to the waypoint",
        client_goes_straight_to_the_pod,
        fails={"WD505"},
    ),
    Scenario(
        "pod-reached-without-waypoint",
        "the MLflow pod's ztunnel accepted the UI directly, without the waypoint",
        pod_reached_without_the_waypoint,
        fails={"WD505"},
    ),
    Scenario(
        "all-logs-forbidden",
        "pods/log is forbidden in both namespaces: the log checks skip and say why",
        all_logs_forbidden,
        fails=set(),
        skips={"WD502", "WD503", "WD504", "WD505"},
    ),
    Scenario(
        "istioctl-identities-consistent",
        "istioctl's certificates and workloads agree with the policies",
        istioctl_consistent,
        fails=set(),
        warns=set(),
        live=False,
    ),
    Scenario(
        "caller-in-another-trust-domain",
        "the collector's certificate is in prod.example while the policies name cluster.local",
        otel_in_another_trust_domain,
        fails={"WD501"},
        live=False,
    ),
    Scenario(
        "waypoint-certificate-differs",
        "the waypoint's certificate names another service account than the Gateway",
        waypoint_certificate_differs,
        fails={"WD501"},
        live=False,
    ),
    Scenario(
        "caller-certificate-unavailable",
        "ztunnel could not get a certificate for the collector",
        otel_certificate_unavailable,
        fails=set(),
        warns={"WD501"},
        live=False,
    ),
]
