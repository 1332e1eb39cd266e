"""Verbatim log lines from the reference (istio-ambient.md section 6, and the 5.4 sample).

Where the published sample is a fragment (JSON excerpts, lines elided with "..."), the helper
that completes it says how; the text that came from the sample is kept byte for byte.
"""

from __future__ import annotations

import json

# --- 6.1 ztunnel, text ---------------------------------------------------------------------
ZT_SUCCESS_INBOUND = '2024-05-04T09:59:05.028709Z info    access  connection complete src.addr=10.244.1.12:60059 src.workload="curl-7656cf8794-r7zb9" src.namespace="default" src.identity="spiffe://cluster.local/ns/default/sa/curl" dst.addr=10.244.1.10:9080 dst.hbone_addr="10.244.1.10:9080" dst.service="productpage.default.svc.cluster.local" dst.workload="productpage-v1-87d54dd59-fn6vw" dst.namespace="productpage" dst.identity="spiffe://cluster.local/ns/default/sa/bookinfo-productpage" direction="inbound" bytes_sent=175 bytes_recv=80 duration="1ms"'
ZT_SUCCESS_OUTBOUND = '2024-05-04T09:59:05.028771Z info    access  connection complete src.addr=10.244.1.12:58508 src.workload="curl-7656cf8794-r7zb9" src.namespace="default" src.identity="spiffe://cluster.local/ns/default/sa/curl" dst.addr=10.244.1.10:15008 dst.hbone_addr="10.244.1.10:9080" dst.service="productpage.default.svc.cluster.local" dst.workload="productpage-v1-87d54dd59-fn6vw" dst.namespace="productpage" dst.identity="spiffe://cluster.local/ns/default/sa/bookinfo-productpage" direction="outbound" bytes_sent=80 bytes_recv=175 duration="1ms"'
ZT_TIMEOUT_15008 = '2024-07-26T17:18:00.953004Z     error   access  connection complete     src.addr=10.244.0.9:58592 src.workload="shell-56bd5dbdbf-gz6cq" src.namespace="default" src.identity="spiffe://cluster.local/ns/default/sa/default" dst.addr=10.244.0.10:15008 dst.hbone_addr=10.244.0.10:80 dst.service="echo.default.svc.cluster.local" dst.workload="echo-66d88ff694-pnk6h" dst.namespace="default" dst.identity="spiffe://cluster.local/ns/default/sa/default" direction="outbound" bytes_sent=0 bytes_recv=0 duration="10002ms" error="connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008: deadline has elapsed"'
ZT_PLAINTEXT_STRICT = '2025-10-30T22:23:01.119792Z error access connection complete src.addr=10.217.0.2:44480 dst.addr=10.217.0.248:8080 dst.workload="golang-ex-6d957754b-nfbfv" dst.namespace="test" direction="inbound" bytes_sent=0 bytes_recv=0 duration="0ms" error="connection closed due to policy rejection: explicitly denied by: istio-system/istio_converted_static_strict"'
# istio#53723 quotes the fields with "..." where it elided some; a header is put in front and the
# ellipses dropped.
ZT_PRE_1_24_FRAGMENT = '... dst.addr=10.0.17.117:15008 dst.hbone_addr=10.0.17.117:16686 dst.service="jaeger-query.jaeger-system.svc.cluster.local" ... direction="inbound" bytes_sent=0 bytes_recv=0 duration="0ms" error="connection closed due to policy rejection"'
ZT_PRE_1_24 = "2024-11-06T09:00:00.000000Z\terror\taccess\tconnection complete\tsrc.addr=10.0.3.4:41000 " + (
    ZT_PRE_1_24_FRAGMENT.replace("... ", "")
)

# --- 5.4 the waypoint identity rejected at the destination (printed one field per line) ------
ZT_WAYPOINT_REJECTED_FIELDS = """error   access  connection complete
  src.workload="waypoint-7b9b6c5cc6-lhlwp"
  src.identity="spiffe://cluster.local/ns/trading/sa/waypoint"
  dst.service="service-b-v1.trading.svc.cluster.local"
  ...
  direction="inbound"
  error="connection closed due to policy rejection: allow policies exist, but none allowed\""""


def zt_waypoint_rejected_line() -> str:
    """The 5.4 sample joined into one line with a time and the addresses the "..." elided."""
    parts = [p.strip() for p in ZT_WAYPOINT_REJECTED_FIELDS.splitlines() if p.strip() and p.strip() != "..."]
    head, fields = parts[0], parts[1:]
    return (
        "2026-03-02T11:00:00.000000Z  "
        + head
        + " src.addr=10.244.2.7:43210 "
        + " ".join(fields[:2])
        + " dst.addr=10.244.2.9:8080 "
        + " ".join(fields[2:])
    )


# --- 6.1 ztunnel, JSON (excerpts of objects; completed with level/time/scope/message) -------
ZT_JSON_VIA_WAYPOINT_EXCERPT = """
  "src.identity": "spiffe://cluster.local/ns/default/sa/curl",
  "dst.addr": "10.244.1.15:15008",
  "dst.hbone_addr": "10.96.47.9:8080",
  "dst.service": "handson.default.svc.cluster.local",
  "dst.workload": "waypoint-57f4fcd686-6vwck",
  "dst.identity": "spiffe://cluster.local/ns/default/sa/waypoint",
  "direction": "outbound",
"""
ZT_JSON_REJECT_INBOUND_EXCERPT = '"error": "connection closed due to policy rejection"'
ZT_JSON_REJECT_OUTBOUND_EXCERPT = (
    '"error": "http status: 401 Unauthorized", "dst.addr": "10.244.1.12:15008", '
    '"bytes_sent": 0, "bytes_recv": 0, "duration": "0ms"'
)


def zt_json(
    excerpt: str, *, level: str = "info", time: str = "2024-10-05T12:00:00.000000Z", direction: str = ""
) -> str:
    body = excerpt.strip().rstrip(",")
    head = f'"level": "{level}", "time": "{time}", "scope": "access", "message": "connection complete", '
    head += '"src.addr": "10.244.1.9:40000", '
    if direction:
        head += f'"direction": "{direction}", '
    if '"dst.addr"' not in body:
        head += '"dst.addr": "10.244.1.12:8080", '
    obj = json.loads("{" + head + body + "}")
    return json.dumps(obj)


# --- 6.1 error strings (src/proxy.rs), with what they must classify as -----------------------
ZT_ERRORS = [
    (
        "connection closed due to policy rejection: allow policies exist, but none allowed",
        "policy-rejection",
        "allow-none",
        None,
        None,
    ),
    (
        "connection closed due to policy rejection: explicitly denied by: ns1/deny-all",
        "policy-rejection",
        "explicitly-denied",
        "ns1/deny-all",
        None,
    ),
    (
        "connection closed due to policy rejection: workload not found",
        "policy-rejection",
        "workload-not-found",
        None,
        None,
    ),
    (
        "connection closed due to policy rejection: workload mismatch",
        "policy-rejection",
        "workload-mismatch",
        None,
        None,
    ),
    ("connection closed due to policy rejection", "policy-rejection", "unknown-pre-1.24", None, None),
    ("connection closed due to policy change", "policy-rejection", "policy-change", None, None),
    ("connection closed: peer certificate revoked by CRL", "tls-identity", None, None, None),
    ("http status: 401 Unauthorized", "http-status", None, None, 401),
    ("http status: 503 Service Unavailable", "http-status", None, None, 503),
    (
        "connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008: deadline has elapsed",
        "timeout-15008",
        None,
        None,
        None,
    ),
    ("io error: Connection refused (os error 111)", "refused", None, None, None),
    ("connection failed: Connection refused (os error 111)", "refused", None, None, None),
    ("connection failed: deadline has elapsed", "timeout", None, None, None),
    ("no healthy upstream: 10.96.12.7:8080", "no-healthy-upstream", None, None, None),
    ("unknown waypoint: default/waypoint", "other", None, None, None),
    ("no service or workload for hostname: foo.bar.svc.cluster.local", "other", None, None, None),
    ("tls error: invalid peer certificate: UnknownIssuer", "tls-identity", None, None, None),
    ("identity error: failed to fetch certificate", "tls-identity", None, None, None),
    ("http2 handshake failed: connection reset", "other", None, None, None),
    ("connection closed due to connection drain", "other", None, None, None),
]

# --- 6.1 policy-decision messages (state.rs assert_rbac) --------------------------------------
ZT_POLICY_MESSAGES = [
    ("deny policy match", "deny-match", False, "ns1/deny-all"),
    ("allow policy match", "allow-match", False, "ns1/allow-waypoint"),
    ("no allow policies, allow", "no-allow-policies", False, None),
    ("no allow policies matched", "no-allow-matched", False, None),
    ("dry-run: deny policy match", "deny-match", True, "ns1/dry-run-deny"),
    ("dry-run: allow policy match", "allow-match", True, "ns1/dry-run-allow"),
    ("dry-run: no allow policies match", "no-allow-matched", True, None),
]

# --- 6.2 Envoy -----------------------------------------------------------------------------
ENVOY_TEXT_NONE = '[2025-07-22T17:55:49.074Z] "GET / HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "10.244.1.1" "curl/8.14.1" "ff387ab3-186d-4e3f-9695-0f884acb4e20" "172.18.10.10" "-" inbound|80|| - 10.244.1.9:80 10.244.1.1:0 outbound_.80_._.nginx-svc.default.svc.cluster.local default'
ENVOY_TEXT_POLICY = '[2026-10-09T08:33:04.948Z] "POST /post HTTP/1.1" 403 - rbac_access_denied_matched_policy[ns[starfleet]-policy[probe-read-only]-rule[0]] - "-" 0 19 0 - "-" "fortio.org/fortio-1.69.5" "8fed64e3-..." "probe:8000" "-" inbound|8080|| - 10.244.0.6:8080 10.244.0.9:48470 outbound_.8000_._.probe.starfleet.svc.cluster.local default'
ENVOY_JSON_EXCERPT = """
  "upstream_cluster": "inbound-vip|8080|http|handson.default.svc.cluster.local;",
  "method": "POST",
  "authority": "handson:8080",
  "response_flags": "-",
  "response_code_details": "rbac_access_denied_matched_policy[ns[default]-policy[layer7-authz]-rule[0]]",
  "response_code": 403,
"""
ENVOY_200_FRAGMENT = (
    '"GET / HTTP/1.1" 200 - via_upstream ... inbound-vip|9080|http|productpage.default.svc.cluster.local'
)


def envoy_json(excerpt: str, start_time: str = "2024-10-05T12:00:00.123Z") -> str:
    obj = json.loads("{" + excerpt.strip().rstrip(",") + "}")
    obj["start_time"] = start_time
    return json.dumps(obj)


def envoy_200_line() -> str:
    """istio#43576's 200 completed with the default format's other fields ("..." elided them)."""
    request, rest = ENVOY_200_FRAGMENT.split(" ... ")
    return (
        "[2023-02-01T10:00:00.000Z] "
        + request.replace(" via_upstream", " via_upstream -")
        + ' "-" 0 1683 12 11 "-" "curl/7.87.0" "b3f1" "productpage:9080" "10.244.1.8:9080" '
        + rest
        + " 10.244.1.5:41234 10.244.1.5:15008 10.244.1.3:51234 - default"
    )
