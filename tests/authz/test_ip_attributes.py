"""Addresses each enforcer sees, and the what-if inputs that make IP and header rules decidable."""

from __future__ import annotations

from tests.authz.policies import NS, OTEL, WAYPOINT_IDENTITY, policy, service_target_ref

from waypoint_doctor.authz import Request, ServiceTarget, Verdict, WaypointRef, evaluate_hops, parse_policies
from waypoint_doctor.authz.hops import remote_address

SELECTOR = (("app", "mlflow"),)
BOUND = ServiceTarget(NS, "mlflow", waypoint=WaypointRef("mlflow-waypoint", NS), service_selector=SELECTOR)
UNBOUND = ServiceTarget(NS, "mlflow", service_selector=SELECTOR)
VIP, POD, WAYPOINT_POD, CLIENT = "10.96.47.9", "10.244.1.10", "10.244.1.15", "10.244.0.21"


def at_pods(action: str, *rules: dict) -> dict:
    return policy(
        "l4", {"selector": {"matchLabels": {"app": "mlflow"}}, "action": action, "rules": list(rules)}
    )


def at_waypoint(action: str, *rules: dict) -> dict:
    return policy("l7", {"targetRefs": service_target_ref(), "action": action, "rules": list(rules)})


def walk(specs, request, target=BOUND, **kw):
    return evaluate_hops(
        parse_policies(specs),
        request,
        target,
        service_ip=VIP,
        workload_ips=(POD,),
        waypoint_ips=(WAYPOINT_POD,),
        **kw,
    )


def test_destination_ztunnel_sees_the_waypoint_pod_as_source():
    """istio/ztunnel src/proxy/inbound.rs: the HBONE connection's peer address becomes
    `Connection.src` and rbac.rs matches `source_ips` against `conn.src.ip()`; behind a waypoint
    that peer is the waypoint pod, so an ipBlocks rule naming the client's IP does not match."""
    result = walk(
        [at_pods("ALLOW", {"from": [{"source": {"ipBlocks": [CLIENT]}}]})], Request(OTEL, source_ip=CLIENT)
    )
    second = result.hop("waypoint->workload")
    assert second is not None and second.verdict is Verdict.DENY and second.source_ip == WAYPOINT_POD
    ok = walk([at_pods("ALLOW", {"from": [{"source": {"ipBlocks": ["10.244.1.0/24"]}}]})], Request(OTEL))
    assert ok.verdict is Verdict.ALLOW


def test_destination_ip_at_ztunnel_is_the_pod_never_the_vip():
    """ztunnel inbound.rs `find_inbound_upstream`: "We always target the local workload IP as the
    destination" (`conn.dst.ip()`), and rbac.rs matches `destination_ips` against `conn.dst.ip()`."""
    on_vip = walk([at_pods("ALLOW", {"when": [{"key": "destination.ip", "values": [VIP]}]})], Request(OTEL))
    assert on_vip.hop("waypoint->workload").verdict is Verdict.DENY  # type: ignore[union-attr]
    on_pod = walk([at_pods("ALLOW", {"when": [{"key": "destination.ip", "values": [POD]}]})], Request(OTEL))
    assert on_pod.verdict is Verdict.ALLOW


def test_waypoint_sees_the_client_address_and_the_vip():
    """istio:pilot/pkg/xds/filters/filters.go: the connect-terminate listener stores
    %DOWNSTREAM_REMOTE_ADDRESS% as `envoy.filters.listener.original_dst.remote_ip`, restored on the
    inner listener: `source.ip`/ipBlocks (direct_remote_ip, generator.go srcIPGenerator) is the
    client; the original destination is the Service address."""
    spec = at_waypoint("ALLOW", {"from": [{"source": {"ipBlocks": ["10.244.0.0/24"]}}]})
    assert walk([spec], Request(OTEL, source_ip=CLIENT)).verdict is Verdict.ALLOW
    assert walk([spec], Request(OTEL, source_ip="192.168.0.1")).verdict is Verdict.DENY
    assert walk([spec], Request(OTEL)).verdict is Verdict.UNKNOWN  # no address given
    vip = at_waypoint("ALLOW", {"when": [{"key": "destination.ip", "values": [VIP]}]})
    assert walk([vip], Request(OTEL)).verdict is Verdict.ALLOW


def test_remote_ip_is_the_last_forwarded_for_address():
    """envoy conn_manager_utility.cc `mutateRequestHeaders`: with use_remote_address false (the
    waypoint's HCM, listener_waypoint.go) the downstream remote address is
    `getLastAddressFromXFF(headers, xff_num_trusted_hops=0)`, else the connection's source;
    remoteIpBlocks compile to `remote_ip` (generator.go remoteIPGenerator)."""
    assert remote_address(Request(OTEL, source_ip=CLIENT)) == CLIENT
    with_xff = Request(OTEL, source_ip=CLIENT, headers=(("x-forwarded-for", "1.2.3.4, 5.6.7.8"),))
    assert remote_address(with_xff) == "5.6.7.8"
    spec = at_waypoint("DENY", {"from": [{"source": {"remoteIpBlocks": ["5.6.7.0/24"]}}]})
    assert walk([spec], with_xff).verdict is Verdict.DENY
    assert walk([spec], Request(OTEL, source_ip=CLIENT, headers=())).verdict is Verdict.ALLOW


def test_plaintext_caller_bypasses_the_waypoint():
    """ztunnel src/proxy/inbound_passthrough.rs `proxy_inbound_plaintext`: a plaintext connection
    gets `src_identity: None`, `assert_rbac` and is forwarded to the pod; no waypoint is involved,
    so the waypoint's DENY never sees it."""
    specs = [at_waypoint("DENY", {}), at_pods("ALLOW", {"from": [{"source": {"ipBlocks": ["10.0.0.0/8"]}}]})]
    result = walk(specs, Request(None, source_ip="10.1.2.3"))
    assert [h.hop for h in result.hops] == ["client->workload"]
    assert result.verdict is Verdict.ALLOW and "plaintext" in result.explanation
    assert walk(specs, Request(None, source_ip="192.168.1.1")).verdict is Verdict.DENY


def test_headers_given_make_header_conditions_decidable():
    """generator.go requestHeaderGenerator: `request.headers[x]` is a header matcher; once the
    question lists the headers, one it does not list is absent (no match)."""
    spec = at_waypoint("ALLOW", {"when": [{"key": "request.headers[x-tenant]", "values": ["a"]}]})
    assert walk([spec], Request(OTEL)).verdict is Verdict.UNKNOWN
    assert walk([spec], Request(OTEL, headers=(("X-Tenant", "a"),))).verdict is Verdict.ALLOW
    assert walk([spec], Request(OTEL, headers=(("x-other", "a"),))).verdict is Verdict.DENY


def test_answers_that_differ_by_pod_are_undecidable():
    """Which pod a connection reaches is not in the question: different answers per pod IP make
    the hop undecidable instead of picking one."""
    spec = at_pods("ALLOW", {"when": [{"key": "destination.ip", "values": [POD]}]})
    result = evaluate_hops(
        parse_policies([spec]),
        Request(OTEL),
        BOUND,
        workload_ips=(POD, "10.244.2.2"),
        waypoint_ips=(WAYPOINT_POD,),
    )
    assert result.verdict is Verdict.UNKNOWN
    assert result.hop("waypoint->workload").identity_seen == WAYPOINT_IDENTITY  # type: ignore[union-attr]


def test_unbound_service_sees_client_and_pod():
    """Without a waypoint the destination ztunnel sees the client's address (ztunnel binds the
    source pod's IP on outbound) and the pod's."""
    spec = at_pods("ALLOW", {"from": [{"source": {"ipBlocks": [CLIENT]}}]})
    result = evaluate_hops(
        parse_policies([spec]), Request(OTEL, source_ip=CLIENT), UNBOUND, workload_ips=(POD,)
    )
    assert result.verdict is Verdict.ALLOW and result.hops[0].destination_ip == POD
