"""Envoy (waypoint) access logs in Istio's default TEXT format and its JSON format.

TEXT (istio ``pilot/pkg/model/telemetry_logging.go`` ``EnvoyTextLogFormat``)::

    [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
    %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
    "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
    %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
    "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW%
    %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
    %REQUESTED_SERVER_NAME% %ROUTE_NAME%

JSON uses the keys of ``EnvoyJSONLogFormatIstio`` (``start_time``, ``method``, ``path``,
``response_code``, ``response_code_details``, ``upstream_cluster`` …). Envoy writes ``-`` for an
empty value; records hold ``None`` instead.

An RBAC denial is a 403 whose ``response_code_details`` is
``rbac_access_denied_matched_policy[ns[<ns>]-policy[<name>]-rule[<i>]]`` (a DENY policy matched)
or ``rbac_access_denied_matched_policy[none]`` (ALLOW policies exist, none matched). The
network (TCP) RBAC filter closes the connection and puts the same text in
``%CONNECTION_TERMINATION_DETAILS%``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from waypoint_doctor.logs.lines import LogSource, iter_line_blocks

__all__ = [
    "EnvoyAccess",
    "RbacDenial",
    "UpstreamCluster",
    "decode_rbac",
    "iter_access",
    "parse_cluster",
    "parse_line",
]

_RBAC_PREFIX = "rbac_access_denied_matched_policy["
_MAX_POLICY_ID = 1024
_POLICY_ID = re.compile(r"(?P<prefix>.*?)ns\[(?P<ns>[^\]]*)\]-policy\[(?P<name>.*)\]-rule\[(?P<rule>\d+)\]\Z")


@dataclass(frozen=True, slots=True)
class RbacDenial:
    """The decoded ``rbac_access_denied_matched_policy[...]`` detail."""

    matched: str  # the raw text between the outer brackets: "none" or the policy id
    namespace: str | None = None
    name: str | None = None
    rule: int | None = None
    prefix: str = ""  # CUSTOM / ext-authz policy ids carry a prefix before "ns["

    @property
    def no_policy_matched(self) -> bool:
        """``[none]``: ALLOW policies apply to the request and none of them matched."""
        return self.matched == "none"

    @property
    def policy(self) -> str | None:
        """``<ns>/<name>`` of the DENY policy that matched, when one did."""
        if self.namespace is None or self.name is None:
            return None
        return f"{self.namespace}/{self.name}"

    def describe(self) -> str:
        if self.no_policy_matched:
            return "no ALLOW policy matched ([none])"
        if self.policy is not None:
            return f"policy {self.policy}, rule {self.rule}"
        return self.matched


@lru_cache(maxsize=4096)
def decode_rbac(details: str | None) -> RbacDenial | None:
    """Decode an RBAC response/termination detail; ``None`` when it is not one."""
    if not details:
        return None
    start = details.find(_RBAC_PREFIX)
    if start < 0 or not details.endswith("]"):
        return None
    inner = details[start + len(_RBAC_PREFIX) : -1]
    if inner == "none":
        return RbacDenial("none")
    if len(inner) > _MAX_POLICY_ID:  # Kubernetes names are short; do not regex a megabyte
        return RbacDenial(inner[:_MAX_POLICY_ID])
    m = _POLICY_ID.match(inner)
    if m is None:
        return RbacDenial(inner)
    return RbacDenial(inner, m.group("ns"), m.group("name"), int(m.group("rule")), m.group("prefix"))


@dataclass(frozen=True, slots=True)
class UpstreamCluster:
    """An Envoy cluster name split into its Istio parts (``<kind>|<port>|<subset>|<host>``)."""

    raw: str
    kind: str  # "inbound-vip", "inbound", "outbound", or the whole name for internal clusters
    port: int | None = None
    subset: str | None = None  # "http"/"tcp" for inbound-vip, a DestinationRule subset for outbound
    host: str | None = None  # the service FQDN

    @property
    def service_fqdn(self) -> str | None:
        return self.host or None


@lru_cache(maxsize=4096)
def parse_cluster(name: str | None) -> UpstreamCluster | None:
    if not name or name == "-":
        return None
    raw = name.strip().rstrip(";")
    parts = raw.split("|")
    if len(parts) == 4:
        kind, port, subset, host = parts
        return UpstreamCluster(raw, kind, int(port) if port.isdigit() else None, subset or None, host or None)
    return UpstreamCluster(raw, raw)


class EnvoyAccess(NamedTuple):
    time: datetime | None
    method: str | None
    path: str | None
    protocol: str | None
    response_code: int | None
    response_flags: str | None
    response_code_details: str | None
    connection_termination_details: str | None
    upstream_transport_failure_reason: str | None
    bytes_received: int | None
    bytes_sent: int | None
    duration_ms: int | None
    upstream_service_time_ms: int | None
    x_forwarded_for: str | None
    user_agent: str | None
    request_id: str | None
    authority: str | None
    upstream_host: str | None
    upstream_cluster: str | None
    upstream_local_address: str | None
    downstream_local_address: str | None
    downstream_remote_address: str | None
    requested_server_name: str | None
    route_name: str | None

    @property
    def rbac(self) -> RbacDenial | None:
        """The RBAC denial, from the response details or (TCP) the termination details."""
        return decode_rbac(self.response_code_details) or decode_rbac(self.connection_termination_details)

    @property
    def rbac_denied(self) -> bool:
        return self.rbac is not None

    @property
    def cluster(self) -> UpstreamCluster | None:
        return parse_cluster(self.upstream_cluster)

    @property
    def service_fqdn(self) -> str | None:
        """The destination service: from the cluster (``inbound-vip|8080|http|<fqdn>``), else from
        an SNI of the form ``outbound_.<port>_.<subset>_.<fqdn>``."""
        c = self.cluster
        if c is not None and c.host:
            return c.host
        sni = self.requested_server_name
        if sni and sni.startswith("outbound_."):
            parts = sni.split("_.", 3)
            if len(parts) == 4 and parts[3]:
                return parts[3]
        return None

    @property
    def service_port(self) -> int | None:
        c = self.cluster
        return c.port if c is not None else None


_TEXT = re.compile(
    r"""\[(?P<start>[^\]]*)\]\s
    "(?P<request>[^"]*)"\s
    (?P<code>\S+)\s(?P<flags>\S+)\s(?P<details>\S+)\s(?P<term>\S+)\s
    "(?P<utfr>[^"]*)"\s
    (?P<rx>\S+)\s(?P<tx>\S+)\s(?P<duration>\S+)\s(?P<ust>\S+)\s
    "(?P<xff>[^"]*)"\s"(?P<ua>[^"]*)"\s"(?P<reqid>[^"]*)"\s"(?P<authority>[^"]*)"\s"(?P<uhost>[^"]*)"\s
    (?P<cluster>\S+)\s(?P<ulocal>\S+)\s(?P<dlocal>\S+)\s(?P<dremote>\S+)\s(?P<sni>\S+)\s(?P<route>\S+)
    \s*\Z""",
    re.VERBOSE,
)


def _dash(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return None if text in ("-", "") else text


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def _split_request(request: str) -> tuple[str | None, str | None, str | None]:
    # "METHOD PATH PROTOCOL"; a path never holds a raw space, but be tolerant of odd inputs.
    parts = request.split(" ")
    if len(parts) >= 3:
        return _dash(parts[0]), _dash(" ".join(parts[1:-1])), _dash(parts[-1])
    if len(parts) == 2:
        return _dash(parts[0]), _dash(parts[1]), None
    return _dash(parts[0]), None, None


def _from_text(line: str) -> EnvoyAccess | None:
    m = _TEXT.match(line)
    if m is None:
        return None
    g = m.group
    method, path, protocol = _split_request(g("request"))
    return EnvoyAccess(
        _time(g("start")),
        method,
        path,
        protocol,
        _int(g("code")),
        _dash(g("flags")),
        _dash(g("details")),
        _dash(g("term")),
        _dash(g("utfr")),
        _int(g("rx")),
        _int(g("tx")),
        _int(g("duration")),
        _int(g("ust")),
        _dash(g("xff")),
        _dash(g("ua")),
        _dash(g("reqid")),
        _dash(g("authority")),
        _dash(g("uhost")),
        _dash(g("cluster")),
        _dash(g("ulocal")),
        _dash(g("dlocal")),
        _dash(g("dremote")),
        _dash(g("sni")),
        _dash(g("route")),
    )


_JSON_KEYS = (
    "method",
    "path",
    "protocol",
    "response_code",
    "response_flags",
    "response_code_details",
    "connection_termination_details",
    "upstream_transport_failure_reason",
    "bytes_received",
    "bytes_sent",
    "duration",
    "upstream_service_time",
)


def _from_json(line: str) -> EnvoyAccess | None:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    # An access-log object has at least a start time or a response code and one request field.
    if not any(k in obj for k in ("start_time", "response_code")) or not any(
        k in obj for k in ("method", "path", "authority", "upstream_cluster", "response_code_details")
    ):
        return None
    get = obj.get
    return EnvoyAccess(
        _time(get("start_time")),
        _dash(get("method")),
        _dash(get("path")),
        _dash(get("protocol")),
        _int(get("response_code")),
        _dash(get("response_flags")),
        _dash(get("response_code_details")),
        _dash(get("connection_termination_details")),
        _dash(get("upstream_transport_failure_reason")),
        _int(get("bytes_received")),
        _int(get("bytes_sent")),
        _int(get("duration")),
        _int(get("upstream_service_time")),
        _dash(get("x_forwarded_for")),
        _dash(get("user_agent")),
        _dash(get("request_id")),
        _dash(get("authority")),
        _dash(get("upstream_host")),
        _dash(get("upstream_cluster")),
        _dash(get("upstream_local_address")),
        _dash(get("downstream_local_address")),
        _dash(get("downstream_remote_address")),
        _dash(get("requested_server_name")),
        _dash(get("route_name")),
    )


def parse_line(line: str | bytes) -> EnvoyAccess | None:
    """Parse one Envoy access-log line (TEXT or JSON); ``None`` for anything else."""
    if isinstance(line, bytes | bytearray):
        line = bytes(line).decode("utf-8", "replace")
    if not isinstance(line, str):
        return None
    text = line.strip()
    if text.startswith("["):
        return _from_text(text)
    if text.startswith("{"):
        return _from_json(text)
    # `kubectl logs --timestamps` prefixes an RFC 3339 time and a space.
    space = text.find(" ")
    if 0 < space < 40 and text[space + 1 : space + 2] in ("[", "{") and _time(text[:space]) is not None:
        return parse_line(text[space + 1 :])
    return None


def iter_access(source: LogSource) -> Iterator[EnvoyAccess]:
    """Stream Envoy access records from a log ``source`` (see ``logs.lines``)."""
    for block in iter_line_blocks(source):
        for line in block:
            if not line:
                continue
            first = line.lstrip()[:1]
            if first != "[" and first != "{" and not line[:4].isdigit():
                continue
            record = parse_line(line)
            if record is not None:
                yield record
