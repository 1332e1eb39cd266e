"""ztunnel access logs and policy-decision logs.

Formats (istio/ztunnel ``src/telemetry.rs`` and ``src/proxy/metrics.rs``, 1.22 → 1.31):

- text: ``<RFC 3339 time>\\t<level>\\t<target>[:span{fields}…]\\t<message>\\t<k=v> <k=v> …``.
  The access target is ``access``. String values are written with Rust's ``Debug`` (double
  quotes, ``\\"``/``\\\\``/``\\n``/``\\u{…}`` escapes); addresses and numbers are bare.
  ``dst.hbone_addr`` is bare in the code but quoted in some published samples. Copies in docs
  and tickets often turn the tabs into runs of spaces; both are accepted.
- JSON (``LOG_FORMAT=json``): ``{"level", "time", "scope", "message", <dotted keys>…}``.

Access messages: ``connection complete`` (INFO, or ERROR with ``error=``) and the inbound early
deny ``connection failed`` (WARN; only addresses, direction and error). Policy decisions
(``deny policy match`` …) are logged by ``state.rs`` at DEBUG, or INFO with
``AUTHZ_POLICY_INFO_LOGGING=true`` (1.30+).

Speed: a block of lines goes through one pre-compiled regex that matches the known field layout
(one C call per line, groups by position). Lines that do not fit it (other field orders, escapes,
fields from a future release) take a general key=value tokenizer; both produce equal records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, NamedTuple

from waypoint_doctor.logs.lines import LogSource, iter_line_blocks

__all__ = [
    "Failure",
    "FailureKind",
    "PolicyDecision",
    "PolicyDecisionKind",
    "RejectionReason",
    "ZtunnelAccess",
    "ZtunnelEvent",
    "classify_error",
    "iter_access",
    "iter_events",
    "parse_line",
]


class FailureKind(StrEnum):
    POLICY_REJECTION = "policy-rejection"
    TIMEOUT_15008 = "timeout-15008"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    NO_HEALTHY_UPSTREAM = "no-healthy-upstream"
    HTTP_STATUS = "http-status"
    TLS_IDENTITY = "tls-identity"
    OTHER = "other"


class RejectionReason(StrEnum):
    ALLOW_NONE = "allow-none"  # "allow policies exist, but none allowed"
    EXPLICITLY_DENIED = "explicitly-denied"  # "explicitly denied by: <ns>/<name>"
    WORKLOAD_NOT_FOUND = "workload-not-found"
    WORKLOAD_MISMATCH = "workload-mismatch"
    UNKNOWN_PRE_1_24 = "unknown-pre-1.24"  # 1.22/1.23 logged no reason
    POLICY_CHANGE = "policy-change"  # open connection closed after a policy update
    UNRECOGNISED = "unrecognised"  # a reason text this version of the tool does not know


@dataclass(frozen=True, slots=True)
class Failure:
    """A ztunnel ``error=`` value, classified."""

    kind: FailureKind
    detail: str
    reason: RejectionReason | None = None
    policy: str | None = None  # "<ns>/<name>" for EXPLICITLY_DENIED
    http_status: int | None = None

    @property
    def is_policy_rejection(self) -> bool:
        return self.kind is FailureKind.POLICY_REJECTION

    @property
    def rejected_by_destination(self) -> bool:
        """A client-side ``http status: 401``: the destination ztunnel refused the HBONE CONNECT.

        The inbound side answers 401 on a policy rejection (ztunnel ``inbound.rs``)."""
        return self.kind is FailureKind.HTTP_STATUS and self.http_status == 401


class ZtunnelAccess(NamedTuple):
    """One access-log line. A NamedTuple (immutable) because it is built hundreds of thousands of
    times per second; a frozen dataclass costs several times more per instance."""

    time: datetime | None
    level: str
    message: str
    src_addr: str | None = None
    src_workload: str | None = None
    src_namespace: str | None = None
    src_identity: str | None = None
    src_cluster: str | None = None
    dst_addr: str | None = None
    dst_hbone_addr: str | None = None
    dst_service: str | None = None
    dst_workload: str | None = None
    dst_namespace: str | None = None
    dst_identity: str | None = None
    dst_cluster: str | None = None
    direction: str | None = None
    bytes_sent: int | None = None
    bytes_recv: int | None = None
    duration_ms: int | None = None
    error: str | None = None
    failure: Failure | None = None
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def is_inbound(self) -> bool:
        return self.direction == "inbound"

    @property
    def is_outbound(self) -> bool:
        return self.direction == "outbound"

    @property
    def early_deny(self) -> bool:
        return self.message == "connection failed"


class PolicyDecisionKind(StrEnum):
    DENY_MATCH = "deny-match"
    ALLOW_MATCH = "allow-match"
    NO_ALLOW_POLICIES = "no-allow-policies"  # allowed: nothing to match
    NO_ALLOW_MATCHED = "no-allow-matched"  # denied: ALLOW policies exist, none matched
    SKIPPED_UNKNOWN = "skipped-unknown-policy"


class PolicyDecision(NamedTuple):
    """A ztunnel RBAC decision line (``state.rs`` ``assert_rbac``)."""

    time: datetime | None
    level: str
    kind: PolicyDecisionKind
    policy: str | None
    dry_run: bool
    context: str | None  # the span text, e.g. "inbound{id=… peer=10.0.0.1:5000}", when logged


ZtunnelEvent = ZtunnelAccess | PolicyDecision

# --------------------------------------------------------------------------------------------
# error classification

_REJECTION_PREFIX = "connection closed due to policy rejection"
_EXPLICIT = "explicitly denied by: "
_REASONS = {
    "allow policies exist, but none allowed": RejectionReason.ALLOW_NONE,
    "workload not found": RejectionReason.WORKLOAD_NOT_FOUND,
    "workload mismatch": RejectionReason.WORKLOAD_MISMATCH,
}
_HTTP_STATUS = re.compile(r"http status: (\d{3})")


@lru_cache(maxsize=8192)
def classify_error(error: str) -> Failure:
    """Classify a ztunnel ``error=`` value (strings from ``src/proxy.rs`` ``Error``).

    Error texts repeat heavily in a log, so results are cached."""
    text = error.strip()
    if text.startswith(_REJECTION_PREFIX) or _REJECTION_PREFIX in text:
        rest = text[text.find(_REJECTION_PREFIX) + len(_REJECTION_PREFIX) :]
        if not rest.strip():
            return Failure(FailureKind.POLICY_REJECTION, text, RejectionReason.UNKNOWN_PRE_1_24)
        reason_text = rest.lstrip(":").strip()
        if reason_text.startswith(_EXPLICIT):
            policy = reason_text[len(_EXPLICIT) :].strip() or None
            return Failure(FailureKind.POLICY_REJECTION, text, RejectionReason.EXPLICITLY_DENIED, policy)
        reason = _REASONS.get(reason_text, RejectionReason.UNRECOGNISED)
        return Failure(FailureKind.POLICY_REJECTION, text, reason)
    if "connection closed due to policy change" in text:
        return Failure(FailureKind.POLICY_REJECTION, text, RejectionReason.POLICY_CHANGE)
    lowered = text.lower()
    if "maybe a networkpolicy is blocking hbone port 15008" in lowered:
        return Failure(FailureKind.TIMEOUT_15008, text)
    if "connection refused" in lowered:
        return Failure(FailureKind.REFUSED, text)
    if text.startswith("no healthy upstream"):
        return Failure(FailureKind.NO_HEALTHY_UPSTREAM, text)
    m = _HTTP_STATUS.search(text)
    if m:
        return Failure(FailureKind.HTTP_STATUS, text, http_status=int(m.group(1)))
    if (
        text.startswith(("tls error", "identity error"))
        or "peer certificate revoked" in lowered
        or (
            "certificate" in lowered
            and ("invalid" in lowered or "unknown ca" in lowered or "expired" in lowered)
        )
    ):
        return Failure(FailureKind.TLS_IDENTITY, text)
    if "timed out" in lowered or "deadline has elapsed" in lowered or "timeout" in lowered:
        return Failure(FailureKind.TIMEOUT, text)
    return Failure(FailureKind.OTHER, text)


# --------------------------------------------------------------------------------------------
# text parsing

_ACCESS_MESSAGES = ("connection complete", "connection failed")

# Two pre-compiled patterns produce the same 21 groups, in ZtunnelAccess order (the hbone address
# takes two groups: quoted or bare). Values are matched without escapes: a line containing a
# backslash goes to the general tokenizer, which unescapes.
_TS = r"(\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d))"
_HEAD = _TS + r"[ \t]+([A-Za-z]+)[ \t]+access[ \t]+(connection complete|connection failed)[ \t]+"
_Q = r'"([^"]*)"'
_HBONE = r'dst\.hbone_addr=(?:"([^"]*)"|([^\s"]+))'


def _opt(key: str, value: str) -> str:
    return "(?: " + re.escape(key) + "=" + value + ")?"


# The usual shape of a `connection complete` line: every field ztunnel knows, with only the
# identities (absent without mTLS), the 1.31 cluster names and the error optional. About a third
# cheaper than the general pattern, whose every field is optional.
_COMMON = re.compile(
    _HEAD
    + r"src\.addr=(\S+) src\.workload="
    + _Q
    + " src\\.namespace="
    + _Q
    + _opt("src.identity", _Q)
    + _opt("src.cluster", _Q)
    + r" dst\.addr=(\S+) "
    + _HBONE
    + " dst\\.service="
    + _Q
    + " dst\\.workload="
    + _Q
    + " dst\\.namespace="
    + _Q
    + _opt("dst.identity", _Q)
    + _opt("dst.cluster", _Q)
    + " direction="
    + _Q
    + r' bytes_sent=(\d+) bytes_recv=(\d+) duration="(\d+)ms"'
    + _opt("error", _Q)
    + r"\Z"
)
# Any subset of the fields, still in ztunnel's order (early denies, unknown destinations, …).
_GENERAL = re.compile(
    _HEAD
    + r"src\.addr=(\S+)"
    + _opt("src.workload", _Q)
    + _opt("src.namespace", _Q)
    + _opt("src.identity", _Q)
    + _opt("src.cluster", _Q)
    + r" dst\.addr=(\S+)"
    + "(?: "
    + _HBONE
    + ")?"
    + _opt("dst.service", _Q)
    + _opt("dst.workload", _Q)
    + _opt("dst.namespace", _Q)
    + _opt("dst.identity", _Q)
    + _opt("dst.cluster", _Q)
    + _opt("direction", _Q)
    + _opt("bytes_sent", r"(\d+)")
    + _opt("bytes_recv", r"(\d+)")
    + _opt("duration", r'"(\d+)ms"')
    + _opt("error", _Q)
    + r"\Z"
)

# A key starts the line or follows whitespace, and is short: bounded work per position even on a
# megabyte of letters (an unbounded key pattern backtracks quadratically on such input).
_KV = re.compile(r'(?:(?<=\s)|^)([A-Za-z_][\w.\-]{0,63})=(?:"((?:[^"\\]|\\.)*)("?)|(\S*))')
_RUST_ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]{1,6}\}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "\\": "\\", '"': '"', "'": "'"}


def _unescape_rust(value: str) -> str:
    if "\\" not in value:
        return value

    def sub(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc.startswith("u{"):
            try:
                return chr(int(esc[2:-1], 16))
            except (ValueError, OverflowError):
                return esc
        return _SIMPLE_ESCAPES.get(esc, esc)

    return _RUST_ESCAPE.sub(sub, value)


_fromisoformat = datetime.fromisoformat


def _parse_time(text: str) -> datetime | None:
    try:
        ts = _fromisoformat(text)
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip().removesuffix("ms"))
    except ValueError:
        return None


_KNOWN_FIELDS = {
    "src.addr": 3,
    "src.workload": 4,
    "src.namespace": 5,
    "src.identity": 6,
    "src.cluster": 7,
    "dst.addr": 8,
    "dst.hbone_addr": 9,
    "dst.service": 10,
    "dst.workload": 11,
    "dst.namespace": 12,
    "dst.identity": 13,
    "dst.cluster": 14,
    "direction": 15,
    "bytes_sent": 16,
    "bytes_recv": 17,
    "duration": 18,
    "error": 19,
}
_INT_SLOTS = frozenset({16, 17, 18})
_N_FIELDS = len(ZtunnelAccess._fields)


def _record_from_fields(
    time: datetime | None, level: str, message: str, fields: dict[str, Any]
) -> ZtunnelAccess:
    slots: list[Any] = [None] * _N_FIELDS
    slots[0], slots[1], slots[2] = time, level, message
    extra: list[tuple[str, str]] = []
    for key, value in fields.items():
        slot = _KNOWN_FIELDS.get(key)
        if slot is None:
            if key not in ("level", "time", "scope", "message", "target"):
                extra.append((key, value if isinstance(value, str) else json.dumps(value)))
            continue
        if value is None:
            continue
        if slot in _INT_SLOTS:
            slots[slot] = _int(value)
        else:
            slots[slot] = value if isinstance(value, str) else str(value)
    error = slots[19]
    slots[20] = classify_error(error) if error is not None else None
    slots[21] = tuple(extra)
    return ZtunnelAccess._make(slots)


def _split_header(line: str) -> tuple[datetime, str, str, str] | None:
    """Return (time, level, target-with-spans, rest) for a text line, or None."""
    text = line.strip()
    parts = text.split(None, 2)
    if len(parts) < 3:
        return None
    ts = _parse_time(parts[0])
    if ts is None:
        return None
    # `kubectl logs --timestamps` puts its own RFC 3339 time in front of ztunnel's.
    second = _parse_time(parts[1])
    if second is not None:
        parts = parts[2].split(None, 2)
        if len(parts) < 3:
            return None
        ts = second
        level, rest = parts[0], parts[1] + (" " + parts[2] if len(parts) > 2 else "")
    else:
        level, rest = parts[1], parts[2]
    level = level.lower()
    # The target may carry span fields with spaces: "state:inbound{id=1 peer=10.0.0.1:5}".
    depth = 0
    for i, ch in enumerate(rest):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
        elif ch in " \t" and depth == 0:
            return ts, level, rest[:i], rest[i:].lstrip(" \t")
    return ts, level, rest, ""


def _split_message(rest: str) -> tuple[str, str]:
    """Split "<message>\\t<fields>" (or spaces, when tabs were lost) into its two parts."""
    tab = rest.find("\t")
    if tab >= 0:
        return rest[:tab].strip(), rest[tab + 1 :]
    m = _KV.search(rest)
    if not m:
        return rest.strip(), ""
    return rest[: m.start()].strip(), rest[m.start() :]


def _parse_kv(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for m in _KV.finditer(text):
        key, quoted, _closing, bare = m.groups()
        if quoted is not None:
            fields[key] = _unescape_rust(quoted)
        else:
            fields[key] = bare or ""
    return fields


def _policy_decision(
    time: datetime | None, level: str, message: str, policy: str | None, context: str | None
) -> PolicyDecision | None:
    dry_run = message.startswith("dry-run: ")
    body = message[len("dry-run: ") :] if dry_run else message
    if body == "deny policy match":
        kind = PolicyDecisionKind.DENY_MATCH
    elif body == "allow policy match":
        kind = PolicyDecisionKind.ALLOW_MATCH
    elif body == "no allow policies, allow":
        kind = PolicyDecisionKind.NO_ALLOW_POLICIES
    elif body in ("no allow policies matched", "no allow policies match"):
        kind = PolicyDecisionKind.NO_ALLOW_MATCHED
    elif body.startswith("skipping unknown policy "):
        kind = PolicyDecisionKind.SKIPPED_UNKNOWN
        policy = policy or body[len("skipping unknown policy ") :].strip() or None
    else:
        return None
    return PolicyDecision(time, level, kind, policy, dry_run, context)


def _slow_text(line: str) -> ZtunnelEvent | None:
    head = _split_header(line)
    if head is None:
        return None
    time, level, target, rest = head
    message, fields_text = _split_message(rest)
    if message in _ACCESS_MESSAGES:
        if target.split(":", 1)[0].split("{", 1)[0] != "access":
            return None
        return _record_from_fields(time, level, message, _parse_kv(fields_text))
    if "polic" in message:
        fields = _parse_kv(fields_text)
        span = target.split(":", 1)[1] if ":" in target else None
        return _policy_decision(time, level, message, fields.get("policy"), span)
    return None


def _from_json(line: str) -> ZtunnelEvent | None:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    message = obj.get("message")
    if not isinstance(message, str):
        return None
    time_value = obj.get("time")
    time = _parse_time(time_value) if isinstance(time_value, str) else None
    level = str(obj.get("level", "")).lower()
    scope = str(obj.get("scope", obj.get("target", "")))
    if message in _ACCESS_MESSAGES:
        if scope and scope.rsplit("::", 1)[-1] != "access":
            return None
        return _record_from_fields(time, level, message, obj)
    if "polic" in message:
        policy = obj.get("policy")
        spans = [f"{k}{json.dumps(v, sort_keys=True)}" for k, v in obj.items() if isinstance(v, dict)]
        return _policy_decision(
            time, level, message, policy if isinstance(policy, str) else None, ":".join(spans) or None
        )
    return None


_new_tuple = tuple.__new__


def _from_groups(groups: tuple[str | None, ...]) -> ZtunnelAccess:
    """Build a record from the 21 groups of ``_COMMON``/``_GENERAL`` (hot path: no keyword args,
    no NamedTuple ``__new__`` wrapper)."""
    (ts, level, message, sa, sw, sn, si, sc, da, hq, hb, ds, dw, dn, di, dc, dr, bs, br, du, er) = groups
    return _new_tuple(
        ZtunnelAccess,
        (
            _fromisoformat(ts),  # type: ignore[arg-type]
            level.lower(),  # type: ignore[union-attr]
            message,
            sa,
            sw,
            sn,
            si,
            sc,
            da,
            hb if hq is None else hq,
            ds,
            dw,
            dn,
            di,
            dc,
            dr,
            None if bs is None else int(bs),
            None if br is None else int(br),
            None if du is None else int(du),
            er,
            None if er is None else classify_error(er),
            (),
        ),
    )


def _match_fast(line: str) -> ZtunnelAccess | None:
    m = _COMMON.match(line) or _GENERAL.match(line)
    if m is None:
        return None
    try:
        return _from_groups(m.groups())
    except ValueError:  # a timestamp that looked right but is not a date
        return None


def _parse_other(line: str) -> ZtunnelEvent | None:
    """Everything the fast patterns do not take: JSON lines, escapes, other layouts."""
    line = line.strip()
    if line.startswith("{"):
        return _from_json(line)
    try:
        return _slow_text(line)
    except (ValueError, IndexError):
        return None


def parse_line(line: str | bytes) -> ZtunnelEvent | None:
    """Parse one ztunnel log line; ``None`` for anything that is not an access or policy line."""
    if isinstance(line, bytes | bytearray):
        line = bytes(line).decode("utf-8", "replace")
    if not isinstance(line, str):
        return None
    if "connection" not in line and "polic" not in line:
        return None
    if "\\" not in line:
        record = _match_fast(line)
        if record is not None:
            return record
    return _parse_other(line)


def iter_events(source: LogSource) -> Iterator[ZtunnelEvent]:
    """Stream access records and policy decisions from a log ``source`` (see ``logs.lines``)."""
    common = _COMMON.match
    general = _GENERAL.match
    build = _from_groups
    for block in iter_line_blocks(source):
        for line in block:
            # Cheap pre-filter: every line we want mentions "connection" or "polic(y|ies)".
            if "connection" not in line and "polic" not in line:
                continue
            if "\\" not in line:
                m = common(line) or general(line)
                if m is not None:
                    try:
                        yield build(m.groups())
                        continue
                    except ValueError:
                        pass
            event = _parse_other(line)
            if event is not None:
                yield event


def iter_access(source: LogSource) -> Iterator[ZtunnelAccess]:
    """Stream only the access records (``connection complete`` / ``connection failed``)."""
    for event in iter_events(source):
        if type(event) is ZtunnelAccess:
            yield event
