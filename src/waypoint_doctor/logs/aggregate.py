"""Group parsed log records into evidence: pure functions over iterables of records.

- :func:`group_rejections`: ztunnel policy rejections toward a target, by (source identity,
  reason, policy, who reported it), with count, first and last seen.
- :func:`group_connection_errors`: other ztunnel failures toward a target, by (kind, peer).
- :func:`group_waypoint_denials`: waypoint (Envoy) RBAC 403s by (policy/rule or ``[none]``,
  method, path).
- :func:`detect_bypass`: traffic toward the service that did not go through the waypoint.
- :func:`digest_ztunnel`: the three ztunnel summaries in one pass (logs can be large).

Time windows: ``since`` counts back from ``now``. In snapshot mode ``now`` is the snapshot's
``takenAt``; when it is ``None`` the newest record seen (of every record passed in, not just the
matching ones) is used, so callers never need the wall clock. Only the matching events are kept,
as 8-byte timestamps, so windows are exact and memory follows the evidence, not the log size.
"""

from __future__ import annotations

import ipaddress
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from waypoint_doctor.logs.envoy import EnvoyAccess
from waypoint_doctor.logs.ztunnel import Failure, FailureKind, RejectionReason, ZtunnelAccess

__all__ = [
    "BypassGroup",
    "BypassSummary",
    "ConnectionErrorGroup",
    "RejectionGroup",
    "TrafficTarget",
    "WaypointDenialGroup",
    "WaypointMarkers",
    "ZtunnelDigest",
    "address_host",
    "detect_bypass",
    "digest_ztunnel",
    "group_connection_errors",
    "group_rejections",
    "group_waypoint_denials",
]

MAX_SAMPLES = 5


def address_host(addr: str | None) -> str | None:
    """``10.0.0.1:8080`` → ``10.0.0.1``; ``[fd00::1]:80`` → ``fd00::1``; a bare host is kept."""
    if not addr:
        return None
    if addr.startswith("["):
        end = addr.find("]")
        return addr[1:end] if end > 0 else addr
    if addr.count(":") == 1:
        return addr.rsplit(":", 1)[0]
    return addr


@dataclass(frozen=True)
class TrafficTarget:
    """What "toward the service" means in a log line.

    A record is toward the target when its destination service is ``service_fqdn``, its
    destination workload is one of ``workloads`` (pod names), or its destination address (L4 or
    HBONE inner address) is one of ``addresses`` (pod IPs, service VIPs). An empty target
    matches everything."""

    service_fqdn: str | None = None
    workloads: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.service_fqdn and not self.workloads and not self.addresses

    def union(self, other: TrafficTarget) -> TrafficTarget:
        return TrafficTarget(
            self.service_fqdn or other.service_fqdn,
            self.workloads | other.workloads,
            self.addresses | other.addresses,
        )

    def matches(self, rec: ZtunnelAccess) -> bool:
        if self.empty:
            return True
        if self.service_fqdn and rec.dst_service == self.service_fqdn:
            return True
        if rec.dst_workload is not None and rec.dst_workload in self.workloads:
            return True
        if self.addresses:
            if address_host(rec.dst_addr) in self.addresses:
                return True
            if address_host(rec.dst_hbone_addr) in self.addresses:
                return True
        return False


@dataclass(frozen=True)
class WaypointMarkers:
    """How to recognise the waypoint in ztunnel logs: its pods, identities and addresses."""

    workloads: frozenset[str] = frozenset()
    identities: frozenset[str] = frozenset()  # spiffe://td/ns/<gw-ns>/sa/<gw-name>
    addresses: frozenset[str] = frozenset()

    def is_destination(self, rec: ZtunnelAccess) -> bool:
        if rec.dst_workload is not None and rec.dst_workload in self.workloads:
            return True
        if rec.dst_identity is not None and rec.dst_identity in self.identities:
            return True
        return bool(self.addresses) and address_host(rec.dst_addr) in self.addresses

    def is_source(self, rec: ZtunnelAccess) -> bool:
        if rec.src_workload is not None and rec.src_workload in self.workloads:
            return True
        if rec.src_identity is not None and rec.src_identity in self.identities:
            return True
        return bool(self.addresses) and address_host(rec.src_addr) in self.addresses

    @property
    def known(self) -> bool:
        return bool(self.workloads or self.identities or self.addresses)


# ---------------------------------------------------------------------------------------------
# time-bucketed tallies


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def _micros(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - _EPOCH) // _MICRO


class _Tally:
    """The times of one group's events (integer microseconds in a compact array, so windows are
    exact), plus a few distinct sample values per attribute."""

    __slots__ = ("samples", "times", "undated")

    def __init__(self) -> None:
        self.times = array("q")
        self.undated = 0
        self.samples: dict[str, list[str]] = {}

    def add(self, when: datetime | None) -> None:
        if when is None:
            self.undated += 1
        else:
            self.times.append(_micros(when))

    def sample(self, name: str, value: str | None, limit: int = MAX_SAMPLES) -> None:
        if not value:
            return
        values = self.samples.setdefault(name, [])
        if value not in values and len(values) < limit:
            values.append(value)

    def window(self, cutoff: datetime | None) -> tuple[int, datetime | None, datetime | None]:
        """(count, first, last) of the events at or after ``cutoff`` (all events when None;
        events without a time count only when there is no window)."""
        if cutoff is None:
            inside = self.times
            count = len(inside) + self.undated
        else:
            cut = _micros(cutoff)
            inside = array("q", (t for t in self.times if t >= cut))
            count = len(inside)
        if not inside:
            return count, None, None
        return count, _EPOCH + min(inside) * _MICRO, _EPOCH + max(inside) * _MICRO


def _cutoff(since: timedelta | None, now: datetime | None, newest: datetime | None) -> datetime | None:
    if since is None:
        return None
    reference = now or newest
    if reference is None:
        return None
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return reference - since


# ---------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class RejectionGroup:
    """Policy rejections of one source identity, for one reason (and policy)."""

    source_identity: str | None  # None: plaintext source or an early deny without identity
    reason: RejectionReason | None  # None when reported by the source (HTTP 401 from the peer)
    policy: str | None  # "<ns>/<name>" for an explicit DENY
    reported_by: str  # "destination" (inbound line with the reason) or "source" (client saw 401)
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    source_workloads: tuple[str, ...] = ()
    source_addresses: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnectionErrorGroup:
    kind: FailureKind
    peer: str  # the other side: a workload name or an address
    direction: str | None
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    http_status: int | None = None
    sample_errors: tuple[str, ...] = ()
    reporters: tuple[str, ...] = ()  # workloads whose ztunnel logged it (src for outbound)


@dataclass(frozen=True)
class WaypointDenialGroup:
    matched: str  # "none" or the policy id text inside rbac_access_denied_matched_policy[...]
    policy: str | None  # "<ns>/<name>" of the DENY policy, None for [none]
    rule: int | None
    method: str | None
    path: str | None  # without the query string
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    services: tuple[str, ...] = ()
    authorities: tuple[str, ...] = ()
    request_ids: tuple[str, ...] = ()
    user_agents: tuple[str, ...] = ()
    source_identities: tuple[str, ...] = ()  # when the caller could be told (see identity_of)

    @property
    def no_policy_matched(self) -> bool:
        return self.matched == "none"


@dataclass(frozen=True)
class BypassGroup:
    """Connections toward the service that did not go through the waypoint."""

    observed_at: str  # "source" (client ztunnel, outbound) or "destination" (inbound at the pod)
    source_identity: str | None
    destination_workload: str | None
    destination_identity: str | None
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    source_workloads: tuple[str, ...] = ()
    source_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class BypassSummary:
    via_waypoint: int  # outbound connections toward the service that reached the waypoint
    from_waypoint: int  # inbound connections at the service's pods whose source is the waypoint
    bypassing: tuple[BypassGroup, ...] = ()

    @property
    def bypass_count(self) -> int:
        return sum(g.count for g in self.bypassing)


@dataclass(frozen=True)
class ZtunnelDigest:
    records: int
    newest: datetime | None
    window_start: datetime | None
    rejections: tuple[RejectionGroup, ...] = ()
    connection_errors: tuple[ConnectionErrorGroup, ...] = ()
    bypass: BypassSummary = field(default_factory=lambda: BypassSummary(0, 0))


def _order(groups: Iterable, key=None) -> tuple:
    floor = datetime.min.replace(tzinfo=UTC)
    return tuple(
        sorted(groups, key=lambda g: (-g.count, -(g.last_seen or floor).timestamp(), key(g) if key else ""))
    )


# ---------------------------------------------------------------------------------------------
# the one-pass ztunnel aggregator


class _ZtunnelAggregator:
    def __init__(self, target: TrafficTarget, waypoint: WaypointMarkers | None) -> None:
        self.target = target
        self.waypoint = waypoint or WaypointMarkers()
        self.records = 0
        self.newest: datetime | None = None
        self.rejections: dict[tuple, _Tally] = {}
        self.errors: dict[tuple, _Tally] = {}
        self.bypass: dict[tuple, _Tally] = {}
        self.via_waypoint = _Tally()
        self.from_waypoint = _Tally()

    def add(self, rec: ZtunnelAccess) -> None:
        self.records += 1
        when = rec.time
        if when is not None and (self.newest is None or when > self.newest):
            self.newest = when
        toward = self.target.matches(rec)
        failure = rec.failure
        if failure is not None and toward:
            if failure.is_policy_rejection or (rec.is_outbound and failure.rejected_by_destination):
                self._rejection(rec, failure, when)
            else:
                self._error(rec, failure, when)
        if toward and self.waypoint.known and self.target.service_fqdn:
            self._bypass(rec, when)

    def _rejection(self, rec: ZtunnelAccess, failure: Failure, when: datetime | None) -> None:
        if failure.is_policy_rejection:
            key = (rec.src_identity, failure.reason, failure.policy, "destination")
        else:
            key = (rec.src_identity, None, None, "source")
        tally = self.rejections.get(key)
        if tally is None:
            tally = self.rejections[key] = _Tally()
        tally.add(when)
        tally.sample("src_workload", rec.src_workload)
        tally.sample("src_addr", address_host(rec.src_addr))
        tally.sample("dst", rec.dst_workload or rec.dst_service or address_host(rec.dst_addr))

    def _error(self, rec: ZtunnelAccess, failure: Failure, when: datetime | None) -> None:
        if rec.is_inbound:
            peer = rec.src_workload or address_host(rec.src_addr) or "unknown"
            reporter = rec.dst_workload
        else:
            peer = rec.dst_workload or rec.dst_addr or "unknown"
            reporter = rec.src_workload
        key = (failure.kind, peer, rec.direction, failure.http_status)
        tally = self.errors.get(key)
        if tally is None:
            tally = self.errors[key] = _Tally()
        tally.add(when)
        tally.sample("error", failure.detail, 3)
        tally.sample("reporter", reporter)

    def _bypass(self, rec: ZtunnelAccess, when: datetime | None) -> None:
        wp = self.waypoint
        if rec.is_outbound:
            if rec.dst_service != self.target.service_fqdn or wp.is_source(rec):
                return
            if wp.is_destination(rec):
                self.via_waypoint.add(when)
                return
            observed = "source"
        elif rec.is_inbound:
            if wp.is_destination(rec):
                return  # never logged (waypoints are not captured), but be safe
            if wp.is_source(rec):
                self.from_waypoint.add(when)
                return
            if rec.failure is not None and rec.failure.is_policy_rejection:
                return  # rejected: it did not reach the workload; reported as a rejection
            observed = "destination"
        else:
            return
        key = (observed, rec.src_identity, rec.dst_workload, rec.dst_identity)
        tally = self.bypass.get(key)
        if tally is None:
            tally = self.bypass[key] = _Tally()
        tally.add(when)
        tally.sample("src_workload", rec.src_workload)
        tally.sample("src_addr", address_host(rec.src_addr))

    def finish(self, since: timedelta | None, now: datetime | None) -> ZtunnelDigest:
        cutoff = _cutoff(since, now, self.newest)
        rejections = []
        for (identity, reason, policy, reporter), tally in self.rejections.items():
            count, first, last = tally.window(cutoff)
            if count:
                rejections.append(
                    RejectionGroup(
                        identity,
                        reason,
                        policy,
                        reporter,
                        count,
                        first,
                        last,
                        tuple(tally.samples.get("src_workload", ())),
                        tuple(tally.samples.get("src_addr", ())),
                        tuple(tally.samples.get("dst", ())),
                    )
                )
        errors = []
        for (kind, peer, direction, status), tally in self.errors.items():
            count, first, last = tally.window(cutoff)
            if count:
                errors.append(
                    ConnectionErrorGroup(
                        kind,
                        peer,
                        direction,
                        count,
                        first,
                        last,
                        status,
                        tuple(tally.samples.get("error", ())),
                        tuple(tally.samples.get("reporter", ())),
                    )
                )
        bypass = []
        for (observed, identity, dst_workload, dst_identity), tally in self.bypass.items():
            count, first, last = tally.window(cutoff)
            if count:
                bypass.append(
                    BypassGroup(
                        observed,
                        identity,
                        dst_workload,
                        dst_identity,
                        count,
                        first,
                        last,
                        tuple(tally.samples.get("src_workload", ())),
                        tuple(tally.samples.get("src_addr", ())),
                    )
                )
        return ZtunnelDigest(
            records=self.records,
            newest=self.newest,
            window_start=cutoff,
            rejections=_order(
                rejections, key=lambda g: (g.source_identity or "", str(g.reason), g.policy or "")
            ),
            connection_errors=_order(errors, key=lambda g: (str(g.kind), g.peer)),
            bypass=BypassSummary(
                self.via_waypoint.window(cutoff)[0],
                self.from_waypoint.window(cutoff)[0],
                _order(
                    bypass,
                    key=lambda g: (g.observed_at, g.source_identity or "", g.destination_workload or ""),
                ),
            ),
        )


def digest_ztunnel(
    records: Iterable[ZtunnelAccess],
    target: TrafficTarget | None = None,
    *,
    waypoint: WaypointMarkers | None = None,
    since: timedelta | None = None,
    now: datetime | None = None,
) -> ZtunnelDigest:
    """Rejections, connection errors and bypass toward ``target`` in one pass over ``records``.

    Bypass detection needs ``target.service_fqdn`` and a known ``waypoint``; without them the
    bypass summary is empty."""
    agg = _ZtunnelAggregator(target or TrafficTarget(), waypoint)
    add = agg.add
    for rec in records:
        if isinstance(rec, ZtunnelAccess):
            add(rec)
    return agg.finish(since, now)


def group_rejections(
    records: Iterable[ZtunnelAccess],
    target: TrafficTarget | None = None,
    *,
    since: timedelta | None = None,
    now: datetime | None = None,
) -> tuple[RejectionGroup, ...]:
    """Policy rejections toward ``target`` grouped by (source identity, reason, policy, reporter)."""
    return digest_ztunnel(records, target, since=since, now=now).rejections


def group_connection_errors(
    records: Iterable[ZtunnelAccess],
    target: TrafficTarget | None = None,
    *,
    since: timedelta | None = None,
    now: datetime | None = None,
) -> tuple[ConnectionErrorGroup, ...]:
    """Non-policy ztunnel failures toward ``target`` grouped by (kind, peer, direction)."""
    return digest_ztunnel(records, target, since=since, now=now).connection_errors


def detect_bypass(
    records: Iterable[ZtunnelAccess],
    target: TrafficTarget,
    waypoint: WaypointMarkers,
    *,
    since: timedelta | None = None,
    now: datetime | None = None,
) -> BypassSummary:
    """Client outbound lines toward ``target.service_fqdn`` whose destination is not the waypoint,
    and inbound lines at the service's pods whose source is not the waypoint."""
    return digest_ztunnel(records, target, waypoint=waypoint, since=since, now=now).bypass


def _authority_names(service_fqdn: str) -> frozenset[str]:
    parts = service_fqdn.split(".")
    names = {service_fqdn}
    if len(parts) >= 2:
        names.update({parts[0], f"{parts[0]}.{parts[1]}", f"{parts[0]}.{parts[1]}.svc"})
    return frozenset(names)


def _looks_like_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def group_waypoint_denials(
    records: Iterable[EnvoyAccess],
    *,
    service_fqdn: str | None = None,
    include_unattributed: bool = True,
    identity_of: Callable[[EnvoyAccess], str | None] | None = None,
    since: timedelta | None = None,
    now: datetime | None = None,
) -> tuple[WaypointDenialGroup, ...]:
    """Waypoint RBAC denials grouped by (policy and rule, or ``[none]``; method; path).

    With ``service_fqdn`` only requests for that service count: its cluster/SNI names it, or the
    ``:authority`` is one of its names. A record that names no service at all is kept when
    ``include_unattributed`` (a waypoint log only holds traffic sent through it).
    ``identity_of`` names the caller of a record when it can (the default access-log format has
    no peer identity; a client ztunnel's outbound line for the same connection has it)."""
    names = _authority_names(service_fqdn) if service_fqdn else frozenset()
    newest: datetime | None = None
    tallies: dict[tuple, _Tally] = {}
    meta: dict[tuple, tuple[str, str | None, int | None]] = {}
    for rec in records:
        when = rec.time
        if when is not None and (newest is None or when > newest):
            newest = when
        rbac = rec.rbac
        if rbac is None:
            continue
        svc = rec.service_fqdn
        if service_fqdn:
            host = address_host(rec.authority) if rec.authority else None
            if host is not None and _looks_like_ip(host):
                host = None  # a VIP or pod IP says nothing about the service name
            if svc is not None:
                if svc != service_fqdn:
                    continue
            elif host is not None:
                if host not in names:
                    continue
            elif not include_unattributed:
                continue
        path = rec.path.split("?", 1)[0] if rec.path else rec.path
        key = (rbac.matched, rec.method, path)
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = _Tally()
            meta[key] = (rbac.matched, rbac.policy, rbac.rule)
        tally.add(when)
        tally.sample("service", svc)
        tally.sample("authority", rec.authority)
        tally.sample("request_id", rec.request_id, 3)
        tally.sample("user_agent", rec.user_agent, 3)
        if identity_of is not None:
            tally.sample("identity", identity_of(rec))
    cutoff = _cutoff(since, now, newest)
    groups = []
    for key, tally in tallies.items():
        count, first, last = tally.window(cutoff)
        if not count:
            continue
        matched, policy, rule = meta[key]
        groups.append(
            WaypointDenialGroup(
                matched,
                policy,
                rule,
                key[1],
                key[2],
                count,
                first,
                last,
                tuple(tally.samples.get("service", ())),
                tuple(tally.samples.get("authority", ())),
                tuple(tally.samples.get("request_id", ())),
                tuple(tally.samples.get("user_agent", ())),
                tuple(tally.samples.get("identity", ())),
            )
        )
    return _order(groups, key=lambda g: (g.matched, g.method or "", g.path or ""))
