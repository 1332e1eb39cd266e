"""WD310: can callers reach the service's pods without passing the waypoint?

`istio.io/use-waypoint` records intent; it does not force traffic through the waypoint.
Traffic addressed to pod IPs, clients outside the mesh or not captured, and ingress gateways
without `istio.io/ingress-use-waypoint` reach the pods directly, and the waypoint's L7 policy
never sees them (reference 5.4, "Require traffic to traverse the waypoint"). Only the
destination ztunnel can close that door: an ALLOW policy on the pods that admits the waypoint's
identity alone.
"""

from __future__ import annotations

from waypoint_doctor.authz import Enforcer, Request, Verdict, evaluate
from waypoint_doctor.checks.policy import (
    AP,
    policy_inputs,
    to_yaml,
    workload_port,
    ztunnel_policies_at_pods,
)
from waypoint_doctor.checks.spec import CheckContext, Outcome, SkipCheck, Status, check, passed

PROBE_SA = "waypoint-doctor-direct-caller"  # an in-mesh identity that is not the waypoint's


@check(
    "WD310",
    "Only the waypoint reaches the service's pods",
    category="waypoint",
    reads=(AP, "services", "pods"),
)
def waypoint_traversal_required(ctx: CheckContext) -> Outcome:
    """Whether the destination ztunnel refuses callers other than the waypoint, so that the
    waypoint's L7 policy cannot be bypassed."""
    facts = ctx.facts
    if facts.service is None:
        raise SkipCheck(f"service {ctx.target.namespace}/{ctx.target.name} not found (see WD301)")
    if not facts.binding.bound:
        raise SkipCheck("the service is not bound to a waypoint (see WD302)")
    inputs = policy_inputs(ctx)
    if inputs.waypoint_identity is None:
        raise SkipCheck("the waypoint's identity is unknown (see WD303)")
    policies = ztunnel_policies_at_pods(ctx, inputs)
    port = workload_port(ctx)
    ns = ctx.target.namespace
    probes = {
        "in-mesh workloads other than the waypoint": f"{inputs.trust_domain}/ns/{ns}/sa/{PROBE_SA}",
        "plaintext clients": None,
    }
    admitted = []
    evidence = []
    for label, principal in probes.items():
        decision = evaluate(
            policies,
            Request(principal=principal, method=None, path=None, port=port),
            enforcer=Enforcer.ZTUNNEL,
            trust_domain=inputs.trust_domain,
            aliases=inputs.aliases,
        )
        evidence.append(
            {
                "kind": "DirectCall",
                "caller": label,
                "verdict": decision.verdict.value,
                "reason": decision.reason,
                "policies": sorted(p.key for p in policies),
            }
        )
        if decision.verdict is not Verdict.DENY:
            admitted.append(label)
    if not admitted:
        return passed(
            f"the ztunnel at {ctx.target.name}'s pods admits only the waypoint "
            f"({inputs.waypoint_identity}): its L7 policy cannot be bypassed",
            evidence,
        )
    selector = dict(inputs.target.service_selector or ())
    fix = {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": f"{ctx.target.name}-require-waypoint", "namespace": ns},
        "spec": {
            **({"selector": {"matchLabels": selector}} if selector else {}),
            "action": "ALLOW",
            "rules": [{"from": [{"source": {"principals": [inputs.waypoint_identity]}}]}],
        },
    }
    return Outcome(
        Status.INFO,
        f"callers that skip the waypoint reach {ctx.target.name}'s pods without L7 policy: the destination "
        f"ztunnel admits {' and '.join(admitted)}",
        tuple(evidence),
        "Pod-IP traffic, uncaptured or out-of-mesh clients and ingress without istio.io/ingress-use-waypoint\n"
        "bypass the waypoint. To require it, let the pods admit only the waypoint's identity (any other\n"
        "ALLOW policy on the pods must not admit direct callers either):\n"
        "kubectl apply -f - <<'EOF'\n" + to_yaml(fix) + "\nEOF",
    )


CHECKS = (waypoint_traversal_required,)
