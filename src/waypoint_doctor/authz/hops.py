"""The hops a request takes to a Service, and the decision at each (reference 5.1, 5.4).

With a waypoint:
1. client -> waypoint: the waypoint enforces the targetRef policies, seeing the client's identity;
2. waypoint -> workload: the destination ztunnel enforces the selector and namespace-wide
   policies, L4 only, seeing the *waypoint's* identity ``<td>/ns/<gw-ns>/sa/<gw-name>``.
Without one: a single client -> workload hop at the destination ztunnel.

The request is allowed only if every hop allows it. :meth:`HopsResult.to_dict` gives the
``hops``/``verdict``/``explanation`` part of the what-if JSON (spec/interface.md).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from waypoint_doctor.authz.attach import Attachment, Enforcer, ServiceTarget, attach_policies
from waypoint_doctor.authz.evaluate import DecidedBy, Decision, NearestMiss, Request, Verdict, evaluate
from waypoint_doctor.authz.match import CLUSTER_LOCAL
from waypoint_doctor.authz.model import Action, AuthorizationPolicy

HopName = Literal["client->waypoint", "waypoint->workload", "client->workload"]


@dataclass(frozen=True)
class Hop:
    hop: HopName
    enforced_by: Enforcer
    identity_seen: str | None
    decision: Decision
    policies: tuple[Attachment, ...]  # the attachments enforced on this hop
    reached: bool = True  # False when an earlier hop already denies

    @property
    def verdict(self) -> Verdict:
        return self.decision.verdict

    @property
    def decided_by(self) -> DecidedBy | None:
        return self.decision.decided_by

    @property
    def nearest_miss(self) -> NearestMiss | None:
        return self.decision.nearest_miss

    def to_dict(self) -> dict[str, object]:
        return {
            "hop": self.hop,
            "enforced_by": self.enforced_by.value,
            "identity_seen": self.identity_seen,
            "verdict": self.verdict.value,
            "decided_by": self.decided_by.to_dict() if self.decided_by else None,
            "nearest_miss": self.nearest_miss.to_dict() if self.nearest_miss else None,
            "reached": self.reached,
            "reason": self.decision.reason,
        }


@dataclass(frozen=True)
class HopsResult:
    verdict: Verdict
    hops: tuple[Hop, ...]
    explanation: str
    attachments: tuple[Attachment, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "verdict": self.verdict.value,
            "hops": [hop.to_dict() for hop in self.hops],
            "explanation": self.explanation,
        }

    def hop(self, name: HopName) -> Hop | None:
        for hop in self.hops:
            if hop.hop == name:
                return hop
        return None


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """DENY if any hop denies, else UNKNOWN if any is unknown, else ALLOW."""
    values = list(verdicts)
    if Verdict.DENY in values:
        return Verdict.DENY
    if Verdict.UNKNOWN in values:
        return Verdict.UNKNOWN
    return Verdict.ALLOW


def evaluate_hops(
    policies: Iterable[AuthorizationPolicy],
    request: Request,
    target: ServiceTarget,
    *,
    trust_domain: str = CLUSTER_LOCAL,
    aliases: Sequence[str] = (),
    workload_port: int | None = None,
    auto_allow_waypoint: bool = False,
    extension_providers: Collection[str] | None = None,
) -> HopsResult:
    """Walk ``request`` to ``target`` through its waypoint (if bound) and decide every hop.

    ``request.port`` is the Service port the client addresses; ``workload_port`` the pod port the
    destination ztunnel sees (the Service's targetPort; defaults to the same number).
    ``auto_allow_waypoint`` mirrors istiod's PILOT_AUTO_ALLOW_WAYPOINT_POLICY (off by default).
    """
    attachments = attach_policies(policies, target)
    at_waypoint = tuple(a for a in attachments if a.enforced_by is Enforcer.WAYPOINT)
    at_ztunnel = tuple(a for a in attachments if a.enforced_by is Enforcer.ZTUNNEL)
    ztunnel_policies = [a.policy for a in at_ztunnel]
    workload_request = replace(request, port=workload_port if workload_port is not None else request.port)

    hops: list[Hop] = []
    waypoint = target.waypoint
    if waypoint is None:
        decision = evaluate(
            ztunnel_policies,
            workload_request,
            enforcer=Enforcer.ZTUNNEL,
            trust_domain=trust_domain,
            aliases=aliases,
            extension_providers=extension_providers,
        )
        hops.append(Hop("client->workload", Enforcer.ZTUNNEL, request.principal, decision, at_ztunnel))
    else:
        first = evaluate(
            [a.policy for a in at_waypoint],
            request,
            enforcer=Enforcer.WAYPOINT,
            trust_domain=trust_domain,
            aliases=aliases,
            extension_providers=extension_providers,
        )
        hops.append(Hop("client->waypoint", Enforcer.WAYPOINT, request.principal, first, at_waypoint))
        waypoint_identity = waypoint.identity(trust_domain).principal
        # The waypoint originates a new connection: ztunnel sees its certificate and address.
        second_request = replace(
            workload_request, principal=waypoint_identity, source_ip=None, remote_ip=None
        )
        if auto_allow_waypoint:
            ztunnel_policies = [
                *ztunnel_policies,
                auto_allow_waypoint_policy(waypoint.namespace, waypoint.name, waypoint_identity),
            ]
        second = evaluate(
            ztunnel_policies,
            second_request,
            enforcer=Enforcer.ZTUNNEL,
            trust_domain=trust_domain,
            aliases=aliases,
            extension_providers=extension_providers,
        )
        hops.append(
            Hop(
                "waypoint->workload",
                Enforcer.ZTUNNEL,
                waypoint_identity,
                second,
                at_ztunnel,
                reached=first.verdict is not Verdict.DENY,
            )
        )
    verdict = combine(h.verdict for h in hops if h.reached)
    return HopsResult(verdict, tuple(hops), explain(verdict, hops, target), attachments)


def auto_allow_waypoint_policy(namespace: str, name: str, identity: str) -> AuthorizationPolicy:
    """The ALLOW istiod synthesises for ztunnel with PILOT_AUTO_ALLOW_WAYPOINT_POLICY=true (ref 4)."""
    from waypoint_doctor.authz.model import Rule, Source

    rule = Rule(
        index=0, sources=(Source(principals=(identity,), location="(synthetic)"),), location="(synthetic)"
    )
    return AuthorizationPolicy(
        namespace=namespace,
        name=f"istio_allow_waypoint_{namespace}_{name}",
        action=Action.ALLOW,
        selector=(),
        rules=(rule,),
        rules_present=True,
    )


def _hop_sentence(hop: Hop) -> str:
    where = "the waypoint" if hop.enforced_by is Enforcer.WAYPOINT else "the destination ztunnel"
    seen = f" (it sees {hop.identity_seen})" if hop.identity_seen else " (it sees no mTLS identity)"
    verdict = {Verdict.ALLOW: "allows", Verdict.DENY: "denies", Verdict.UNKNOWN: "cannot decide"}[hop.verdict]
    text = f"On the {hop.hop} hop, {where}{seen} {verdict} it: {hop.decision.reason}."
    if hop.nearest_miss is not None and hop.nearest_miss.explanation not in hop.decision.reason:
        text += f" Nearest miss: {hop.nearest_miss.explanation}."
    return text


def explain(verdict: Verdict, hops: Sequence[Hop], target: ServiceTarget) -> str:
    head = {
        Verdict.ALLOW: f"The request to {target.key} would be allowed.",
        Verdict.DENY: f"The request to {target.key} would be denied.",
        Verdict.UNKNOWN: f"Whether the request to {target.key} is allowed cannot be decided from the question.",
    }[verdict]
    sentences = [head]
    for hop in hops:
        if not hop.reached:
            sentences.append(f"The {hop.hop} hop is never reached.")
            continue
        sentences.append(_hop_sentence(hop))
    if target.waypoint is None:
        sentences.append(
            f"{target.key} is not bound to a waypoint, so only L4 policy applies and targetRef policies are ignored."
        )
    else:
        second = hops[-1]
        if second.reached and second.verdict is Verdict.DENY:
            sentences.append(
                "Behind a waypoint the destination ztunnel sees the waypoint's identity, not the client's: "
                f"selector and namespace-wide ALLOW policies there must allow {second.identity_seen}."
            )
    return " ".join(sentences)
