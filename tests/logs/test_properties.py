"""Property tests: no input crashes a parser; rendering then parsing gives the values back."""

from __future__ import annotations

import io
import re
import string

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tests.logs import samples
from tests.logs.ztunnel_render import render_json, render_text

from waypoint_doctor.logs import envoy, ztunnel
from waypoint_doctor.logs.lines import iter_lines, lines_from_chunks
from waypoint_doctor.logs.sanitize import clean_text, redact_secrets

REFERENCE_LINES = [
    samples.ZT_SUCCESS_INBOUND,
    samples.ZT_SUCCESS_OUTBOUND,
    samples.ZT_TIMEOUT_15008,
    samples.ZT_PLAINTEXT_STRICT,
    samples.ZT_PRE_1_24,
    samples.zt_waypoint_rejected_line(),
    samples.zt_json(samples.ZT_JSON_VIA_WAYPOINT_EXCERPT),
    samples.ENVOY_TEXT_NONE,
    samples.ENVOY_TEXT_POLICY,
    samples.envoy_json(samples.ENVOY_JSON_EXCERPT),
]
ANSI = st.sampled_from(["\x1b[31m", "\x1b[0m", "\x1b]0;x\x07", "\x1b", "\x9b2J", "\x00", "\r", "\u202e"])
PARSERS = (ztunnel.parse_line, envoy.parse_line)


def _parse_all(line) -> None:
    for parse in PARSERS:
        result = parse(line)
        assert result is None or isinstance(result, tuple)


@given(st.text(max_size=2000))
def test_arbitrary_text_never_crashes(line: str) -> None:
    _parse_all(line)


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(line: bytes) -> None:
    _parse_all(line)


@given(st.sampled_from(REFERENCE_LINES), st.lists(st.tuples(st.integers(0, 2000), ANSI), max_size=6))
def test_ansi_and_controls_injected_never_crash(line: str, inserts) -> None:
    for pos, seq in sorted(inserts, reverse=True):
        pos = min(pos, len(line))
        line = line[:pos] + seq + line[pos:]
    _parse_all(line)


@given(st.sampled_from(REFERENCE_LINES), st.data())
def test_truncated_lines_never_crash(line: str, data) -> None:
    cut = data.draw(st.integers(0, len(line)))
    _parse_all(line[:cut])
    _parse_all(line.encode()[:cut])


@settings(max_examples=10, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(REFERENCE_LINES), st.sampled_from(["a", '"', "=", " ", "\\", "{", "["]))
def test_overlong_lines_never_crash(line: str, filler: str) -> None:
    huge = line + filler * (1 << 20)
    _parse_all(huge)
    _parse_all(filler * (1 << 20) + line)
    # and through the streaming readers, next to a normal line
    stream = (huge + "\n" + samples.ZT_SUCCESS_INBOUND + "\n").encode()
    events = list(ztunnel.iter_events(io.BytesIO(stream)))
    assert events[-1] == ztunnel.parse_line(samples.ZT_SUCCESS_INBOUND)
    list(envoy.iter_access(io.BytesIO(stream)))


# --- round trips -----------------------------------------------------------------------------
NAME = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=30)
FREE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
ADDR = st.builds(
    lambda a, b, p: f"10.{a}.{b}.7:{p}", st.integers(0, 255), st.integers(0, 255), st.integers(1, 65535)
)
IDENTITY = st.builds(
    lambda td, ns, sa: f"spiffe://{td}/ns/{ns}/sa/{sa}",
    st.sampled_from(["cluster.local", "td.example"]),
    NAME,
    NAME,
)
OPTIONAL = lambda s: st.none() | s  # noqa: E731


@st.composite
def access_fields(draw, free_text_values: bool = True) -> dict:
    text = FREE_TEXT if free_text_values else NAME
    fields = {
        "src.addr": draw(ADDR),
        "src.workload": draw(OPTIONAL(text)),
        "src.namespace": draw(OPTIONAL(NAME)),
        "src.identity": draw(OPTIONAL(IDENTITY)),
        "src.cluster": draw(OPTIONAL(NAME)),
        "dst.addr": draw(ADDR),
        "dst.hbone_addr": draw(OPTIONAL(ADDR)),
        "dst.service": draw(OPTIONAL(NAME.map(lambda n: f"{n}.ns.svc.cluster.local"))),
        "dst.workload": draw(OPTIONAL(text)),
        "dst.namespace": draw(OPTIONAL(NAME)),
        "dst.identity": draw(OPTIONAL(IDENTITY)),
        "dst.cluster": draw(OPTIONAL(NAME)),
        "direction": draw(st.sampled_from(["inbound", "outbound"])),
        "bytes_sent": draw(OPTIONAL(st.integers(0, 10**12))),
        "bytes_recv": draw(OPTIONAL(st.integers(0, 10**12))),
        "duration": draw(OPTIONAL(st.integers(0, 10**7))),
        "error": draw(OPTIONAL(st.one_of(text, st.sampled_from([e[0] for e in samples.ZT_ERRORS])))),
    }
    return fields


TIME = st.datetimes(timezones=st.just(__import__("datetime").UTC)).filter(lambda d: d.year >= 1000)
ATTRS = {
    "src.addr": "src_addr",
    "src.workload": "src_workload",
    "src.namespace": "src_namespace",
    "src.identity": "src_identity",
    "src.cluster": "src_cluster",
    "dst.addr": "dst_addr",
    "dst.hbone_addr": "dst_hbone_addr",
    "dst.service": "dst_service",
    "dst.workload": "dst_workload",
    "dst.namespace": "dst_namespace",
    "dst.identity": "dst_identity",
    "dst.cluster": "dst_cluster",
    "direction": "direction",
    "bytes_sent": "bytes_sent",
    "bytes_recv": "bytes_recv",
    "duration": "duration_ms",
    "error": "error",
}


def _check(rec, fields, when) -> None:
    assert isinstance(rec, ztunnel.ZtunnelAccess)
    assert rec.time == when
    for key, attr in ATTRS.items():
        assert getattr(rec, attr) == fields[key], key
    if fields["error"] is not None:
        assert rec.failure == ztunnel.classify_error(fields["error"])


@given(access_fields(), TIME, st.sampled_from(["info", "error", "warn"]))
def test_text_round_trip(fields: dict, when, level: str) -> None:
    line = render_text(fields, time=when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), level=level)
    rec = ztunnel.parse_line(line)
    _check(rec, fields, when)
    assert rec.level == level


@given(access_fields(), TIME)
def test_json_round_trip(fields: dict, when) -> None:
    rec = ztunnel.parse_line(render_json(fields, time=when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
    _check(rec, fields, when)


@given(access_fields(free_text_values=False), TIME)
def test_fast_and_general_paths_agree(fields: dict, when) -> None:
    line = render_text(fields, time=when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    assume("\\" not in line)
    fast = ztunnel._match_fast(line)
    assert fast is not None
    assert ztunnel._slow_text(line) == fast
    # tabs turned into runs of spaces (as in copied docs) still parse the same
    spaced = ztunnel.parse_line(line.replace("\t", "    "))
    assert spaced == fast


# --- line reading ----------------------------------------------------------------------------
@given(
    st.lists(
        st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=40),
        max_size=30,
    ),
    st.data(),
)
def test_chunked_streams_give_the_same_lines(lines, data) -> None:
    blob = "\n".join(lines).encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(blob)), max_size=10)))
    chunks, prev = [], 0
    for c in [*cuts, len(blob)]:
        chunks.append(blob[prev:c])
        prev = c
    expected = list(iter_lines(blob))
    assert list(lines_from_chunks(chunks)) == expected
    assert list(iter_lines(io.BytesIO(blob), block_size=7)) == expected
    reference = blob.decode().split("\n")
    if reference[-1] == "":
        reference.pop()  # a final newline ends the last line; it does not start another
    assert expected == reference


def test_line_cap_bounds_memory() -> None:
    blob = b"x" * 5000 + b"\nshort\n"
    got = list(iter_lines(io.BytesIO(blob), block_size=64, max_line_bytes=100))
    assert got == ["x" * 100, "short"]


# --- sanitising ------------------------------------------------------------------------------
_BAD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@given(st.text(max_size=500))
def test_clean_text_output_is_safe_and_idempotent(s: str) -> None:
    out = clean_text(s)
    assert "\x1b" not in out and "\n" not in out and not _BAD.search(out)
    assert clean_text(out) == out
    multi = clean_text(s, keep_newlines=True)
    assert "\x1b" not in multi and "\r" not in multi


@given(st.text(max_size=500))
def test_redaction_is_idempotent(s: str) -> None:
    once = redact_secrets(s)
    assert redact_secrets(once) == once
