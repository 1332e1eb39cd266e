"""The hops a request takes to a Service, and the decision at each (reference 5.1, 5.4).

With a waypoint:
1. client -> waypoint: the waypoint enforces the targetRef policies, seeing the client's identity
   and address (``source.ip``), the Service VIP as ``destination.ip``, and ``remote.ip`` from the
   last ``X-Forwarded-For`` entry (the waypoint's HCM has ``use_remote_address: false``);
2. waypoint -> workload: the destination ztunnel enforces the selector and namespace-wide
   policies, L4 only, seeing the *waypoint's* identity ``<td>/ns/<gw-ns>/sa/<gw-name>``, a waypoint
   pod's IP as source and the pod's IP (never the VIP) as destination (ztunnel inbound.rs: the
   connection's peer address and ``conn.dst``).
Without one, or for a plaintext caller (no identity: ztunnel's inbound passthrough applies the
policies and forwards, no waypoint on the way): a single client -> workload hop.

The request is allowed only if every hop allows it. :meth:`HopsResult.to_dict` gives the
``hops``/``verdict``/``explanation`` part of the what-if JSON (spec/interface.md).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from waypoint_doctor.authz.attach import Attachment, Enforcer, ServiceTarget, attach_policies
from waypoint_doctor.authz.evaluate import DecidedBy, Decision, NearestMiss, Request, Verdict, evaluate
from waypoint_doctor.authz.extauthz import ExtAuthz
from waypoint_doctor.authz.match import CLUSTER_LOCAL, parse_ip_block
from waypoint_doctor.authz.model import Action, AuthorizationPolicy
from waypoint_doctor.authz.normalize import PathSettings

# Evaluations per hop when the pods' addresses differ (each combination is decided).
MAX_ADDRESS_COMBINATIONS = 16

HopName = Literal["client->waypoint", "waypoint->workload", "client->workload"]


@dataclass(frozen=True)
class Hop:
    hop: HopName
    enforced_by: Enforcer
    identity_seen: str | None
    decision: Decision
    policies: tuple[Attachment, ...]  # the attachments enforced on this hop
    reached: bool = True  # False when an earlier hop already denies
    source_ip: str | None = None  # the address this enforcer sees the connection come from
    destination_ip: str | None = None

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
            **({"path_seen": self.decision.path_seen} if self.decision.path_seen is not None else {}),
            **({"source_ip": self.source_ip} if self.source_ip else {}),
            **({"destination_ip": self.destination_ip} if self.destination_ip else {}),
            **({"notes": list(self.decision.notes)} if self.decision.notes else {}),
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
    ext_authz: ExtAuthz | None = None,
    path_settings: PathSettings | None = None,
    service_ip: str | None = None,
    workload_ips: Sequence[str] = (),
    waypoint_ips: Sequence[str] = (),
) -> HopsResult:
    """Walk ``request`` to ``target`` through its waypoint (if bound) and decide every hop.

    ``request.port`` is the Service port the client addresses; ``workload_port`` the pod port the
    destination ztunnel sees (the Service's targetPort; defaults to the same number).
    ``auto_allow_waypoint`` mirrors istiod's PILOT_AUTO_ALLOW_WAYPOINT_POLICY (off by default).
    ``service_ip``, ``workload_ips`` and ``waypoint_ips`` are the addresses each enforcer sees
    (unknown when not given: rules on them are then undecidable).
    """
    if ext_authz is None and extension_providers is not None:
        ext_authz = ExtAuthz.trusting(extension_providers)
    attachments = attach_policies(policies, target)
    at_waypoint = tuple(a for a in attachments if a.enforced_by is Enforcer.WAYPOINT)
    at_ztunnel = tuple(a for a in attachments if a.enforced_by is Enforcer.ZTUNNEL)
    ztunnel_policies = [a.policy for a in at_ztunnel]
    workload_request = replace(
        request,
        port=workload_port if workload_port is not None else request.port,
        remote_ip=None,
        destination_ip=None,
    )
    common = {"trust_domain": trust_domain, "aliases": aliases, "ext_authz": ext_authz}

    hops: list[Hop] = []
    waypoint = target.waypoint
    if waypoint is None or request.principal is None:
        decision, dst = _decide_per_address(
            ztunnel_policies, workload_request, (request.source_ip,), workload_ips, common
        )
        hops.append(
            Hop(
                "client->workload",
                Enforcer.ZTUNNEL,
                request.principal,
                decision,
                at_ztunnel,
                source_ip=request.source_ip,
                destination_ip=dst,
            )
        )
    else:
        waypoint_request = replace(
            request,
            remote_ip=request.remote_ip or remote_address(request),
            destination_ip=request.destination_ip or service_ip,
        )
        first = evaluate(
            [a.policy for a in at_waypoint],
            waypoint_request,
            enforcer=Enforcer.WAYPOINT,
            path_settings=path_settings,
            **common,  # type: ignore[arg-type]
        )
        hops.append(
            Hop(
                "client->waypoint",
                Enforcer.WAYPOINT,
                request.principal,
                first,
                at_waypoint,
                source_ip=request.source_ip,
                destination_ip=waypoint_request.destination_ip,
            )
        )
        waypoint_identity = waypoint.identity(trust_domain).principal
        # The waypoint originates a new connection: ztunnel sees its certificate and address.
        second_request = replace(workload_request, principal=waypoint_identity, headers=None)
        if auto_allow_waypoint:
            ztunnel_policies = [
                *ztunnel_policies,
                auto_allow_waypoint_policy(waypoint.namespace, waypoint.name, waypoint_identity),
            ]
        second, dst = _decide_per_address(
            ztunnel_policies, second_request, tuple(waypoint_ips) or (None,), workload_ips, common
        )
        hops.append(
            Hop(
                "waypoint->workload",
                Enforcer.ZTUNNEL,
                waypoint_identity,
                second,
                at_ztunnel,
                reached=first.verdict is not Verdict.DENY,
                source_ip=waypoint_ips[0] if len(waypoint_ips) == 1 else None,
                destination_ip=dst,
            )
        )
    verdict = combine(h.verdict for h in hops if h.reached)
    return HopsResult(verdict, tuple(hops), explain(verdict, hops, target), attachments)


def remote_address(request: Request) -> str | None:
    """Envoy's downstream remote address with ``use_remote_address: false`` and no trusted hops:
    the last valid address of ``X-Forwarded-For``, else the connection's source."""
    forwarded = request.header("x-forwarded-for") if request.headers is not None else None
    if forwarded:
        last = forwarded.split(",")[-1].strip()
        if last and parse_ip_block(last) is not None and "/" not in last:
            return last
    return request.source_ip


def _decide_per_address(
    policies: Sequence[AuthorizationPolicy],
    request: Request,
    sources: Sequence[str | None],
    destinations: Sequence[str],
    common: dict[str, object],
) -> tuple[Decision, str | None]:
    """Decide at the destination ztunnel for every (source, destination pod) address pair.

    The same answer everywhere is the answer; answers that differ by pod make it undecidable
    (which pod the connection lands on is not known). Returns the decision and the destination
    address shown (None when several).
    """
    pairs = [(s, d) for s in (sources or (None,)) for d in (destinations or (None,))]
    pairs = pairs[:MAX_ADDRESS_COMBINATIONS]
    decisions = [
        evaluate(
            policies,
            replace(request, source_ip=src, destination_ip=dst),
            enforcer=Enforcer.ZTUNNEL,
            **common,  # type: ignore[arg-type]
        )
        for src, dst in pairs
    ]
    first = decisions[0]
    shown = pairs[0][1] if len({d for _, d in pairs}) == 1 else None
    if all(d.verdict is first.verdict and d.decided_by == first.decided_by for d in decisions[1:]):
        return first, shown
    by_pair = "; ".join(
        f"{src or '?'} -> {dst or '?'}: {d.verdict.value.lower()}"
        for (src, dst), d in zip(pairs, decisions, strict=True)
    )
    return (
        Decision(
            Enforcer.ZTUNNEL,
            Verdict.UNKNOWN,
            None,
            f"the answer depends on which pods the connection runs between ({by_pair})",
            first.trace,
            None,
            ("the pod the connection reaches",),
        ),
        shown,
    )


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
    if hop.decision.path_seen is not None:
        text += f" The waypoint compared the normalised path {hop.decision.path_seen!r}."
    for note in hop.decision.notes:
        if "skipped" in note:
            text += f" {note[0].upper()}{note[1:]}."
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
    elif hops and hops[0].hop == "client->workload":
        sentences.append(
            f"A caller without a mesh identity (plaintext) does not go through waypoint {target.waypoint.key}: "
            "the destination ztunnel applies its L4 policies and forwards the connection, so the waypoint's "
            "policies never see it."
        )
    else:
        second = hops[-1]
        if second.reached and second.verdict is Verdict.DENY:
            sentences.append(
                "Behind a waypoint the destination ztunnel sees the waypoint's identity, not the client's: "
                f"selector and namespace-wide ALLOW policies there must allow {second.identity_seen}."
            )
    return " ".join(sentences)
