"""The istioctl seam: running the binary (a stand-in, tests/bin/istioctl) and parsing its outputs."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.logs.certs import TestCA, der, pem

from waypoint_doctor.collect.istioctl import (
    ERRORS_FILE,
    Identities,
    capture_file_name,
    capture_istioctl,
    decode_certificates,
    find_istioctl,
    parse_captures,
)
from waypoint_doctor.logs.spiffe import SpiffeId

STAND_IN_DIR = Path(__file__).parent / "bin"
ZTUNNEL = ("istio-system", "ztunnel-abcde")
WAYPOINT = ("bookinfo", "waypoint-5c6d-xyz12")
CURL = "spiffe://cluster.local/ns/default/sa/curl"
RATINGS = "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-ratings"
WAYPOINT_ID = "spiffe://cluster.local/ns/bookinfo/sa/waypoint"


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture
def fake(tmp_path: Path, ca: TestCA, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in on PATH, fed by a fixture with real certificates; returns the argv log."""
    curl = ca.issue(CURL)
    ratings = ca.issue(RATINGS)
    fixture = {
        "version": "1.24.2",
        "ztunnels": {
            "ztunnel-abcde.istio-system": {
                "certificates": [
                    {
                        "identity": CURL,
                        "state": "Available",
                        "chain": [pem(curl), ca.pem],
                        "serial": str(curl.serial_number),
                        "not_before": "2026-11-20T09:00:00Z",
                        "not_after": "2026-11-21T09:00:00Z",
                    },
                    {"identity": RATINGS, "state": "Available", "chain": [pem(ratings), ca.pem]},
                    {
                        "identity": "spiffe://cluster.local/ns/istio-system/sa/ztunnel",
                        "state": "Initializing",
                    },
                ],
                "workloads": [
                    {
                        "uid": "Kubernetes//Pod/default/curl-7656cf8794-r7zb9",
                        "workloadIps": ["10.244.1.12"],
                        "protocol": "HBONE",
                        "name": "curl-7656cf8794-r7zb9",
                        "namespace": "default",
                        "serviceAccount": "curl",
                        "workloadName": "curl",
                        "workloadType": "deployment",
                        "canonicalName": "curl",
                        "canonicalRevision": "latest",
                        "clusterId": "Kubernetes",
                        "node": "worker-1",
                        "status": "Healthy",
                    },
                    {
                        "uid": "Kubernetes//Pod/bookinfo/ratings-v1-6484c4d9bb-mdxm5",
                        "workloadIps": ["10.244.2.54"],
                        "waypoint": {"destination": "/10.96.65.117"},
                        "protocol": "HBONE",
                        "name": "ratings-v1-6484c4d9bb-mdxm5",
                        "namespace": "bookinfo",
                        "serviceAccount": "bookinfo-ratings",
                        "trustDomain": "td.example",
                        "node": "worker-2",
                        "status": "Healthy",
                        "authorizationPolicies": ["bookinfo/allow-waypoint"],
                    },
                ],
            }
        },
        "waypoints": {"waypoint-5c6d-xyz12.bookinfo": {"chain": ca.chain_pem(WAYPOINT_ID), "root": ca.pem}},
    }
    data = tmp_path / "data"
    data.mkdir()
    (data / "istioctl.json").write_text(json.dumps(fixture))
    log = tmp_path / "argv.log"
    monkeypatch.setenv("PATH", f"{STAND_IN_DIR}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_ISTIOCTL_DATA", str(data))
    monkeypatch.setenv("FAKE_ISTIOCTL_LOG", str(log))
    monkeypatch.setenv("FAKE_ISTIOCTL_MODE", "ok")
    return log


def capture(**kwargs):
    args = dict(
        kubeconfig="/tmp/kc.yaml", context="prod-eu", ztunnel_pods=[ZTUNNEL], waypoint_pods=[WAYPOINT]
    )
    args.update(kwargs)
    return capture_istioctl(args.pop("istioctl_path", None), **args)


EXPECTED_FILES = {
    "ztunnel-config-certificates.ztunnel-abcde.istio-system.json",
    "ztunnel-config-workloads.ztunnel-abcde.istio-system.json",
    "proxy-config-secret.waypoint-5c6d-xyz12.bookinfo.json",
    "version.json",
}


def test_ok_captures_every_command_with_the_runs_cluster_flags(fake: Path) -> None:
    cap = capture()
    assert cap.installed and cap.binary == str(STAND_IN_DIR / "istioctl")
    assert cap.errors == []
    assert set(cap.outputs) == EXPECTED_FILES
    argvs = [json.loads(line) for line in fake.read_text().splitlines()]
    assert sorted(argvs) == sorted(
        [
            ["ztunnel-config", "certificates", "ztunnel-abcde.istio-system", "-o", "json",
             "--kubeconfig", "/tmp/kc.yaml", "--context", "prod-eu"],
            ["ztunnel-config", "workloads", "ztunnel-abcde.istio-system", "-o", "json",
             "--kubeconfig", "/tmp/kc.yaml", "--context", "prod-eu"],
            ["proxy-config", "secret", "waypoint-5c6d-xyz12", "-n", "bookinfo", "-o", "json",
             "--kubeconfig", "/tmp/kc.yaml", "--context", "prod-eu"],
            ["version", "-o", "json", "--kubeconfig", "/tmp/kc.yaml", "--context", "prod-eu"],
        ]
    )  # fmt: skip


def test_no_cluster_flags_when_the_run_has_none(fake: Path) -> None:
    cap = capture(kubeconfig=None, context=None, waypoint_pods=[], include_version=False)
    assert cap.errors == [] and len(cap.outputs) == 2
    assert all(
        "--context" not in json.loads(x) and "--kubeconfig" not in json.loads(x)
        for x in fake.read_text().splitlines()
    )


def test_private_keys_never_kept(fake: Path) -> None:
    cap = capture()
    secret = cap.outputs["proxy-config-secret.waypoint-5c6d-xyz12.bookinfo.json"]
    assert "privateKey" not in secret and "W3JlZGFjdGVkXQ" not in secret
    assert "certificateChain" in secret


def test_parse_captures_gives_typed_identities(fake: Path) -> None:
    ids = parse_captures(capture().outputs)
    assert ids.errors == ()
    certs = {c.identity: c for c in ids.ztunnel_certificates}
    assert set(certs) == {CURL, RATINGS, "spiffe://cluster.local/ns/istio-system/sa/ztunnel"}
    assert certs[CURL].uri_sans == (CURL,) and certs[CURL].san_matches_identity is True
    assert certs[CURL].proxy == "ztunnel-abcde.istio-system" and certs[CURL].state == "Available"
    assert certs[CURL].not_after is not None and certs[CURL].serial_number
    assert certs["spiffe://cluster.local/ns/istio-system/sa/ztunnel"].uri_sans == ()
    assert ids.certificate_identities == frozenset({CURL, RATINGS})
    assert ids.waypoint_identity("bookinfo", "waypoint-5c6d-xyz12") == SpiffeId(
        "cluster.local", "bookinfo", "waypoint"
    )
    (wp,) = ids.waypoint_certificates
    assert wp.state == "ACTIVE" and wp.uri_sans == (WAYPOINT_ID,)
    assert (
        ids.identity_of_pod("default", "curl-7656cf8794-r7zb9").principal
        == "cluster.local/ns/default/sa/curl"
    )
    ratings = ids.workload("bookinfo", "ratings-v1-6484c4d9bb-mdxm5")
    assert ratings.spiffe.uri == "spiffe://td.example/ns/bookinfo/sa/bookinfo-ratings"
    assert ratings.waypoint == "/10.96.65.117" and ratings.authorization_policies == (
        "bookinfo/allow-waypoint",
    )
    assert ids.trust_domains == frozenset({"cluster.local", "td.example"})
    assert ids.version.client == "1.24.2" and ids.version.control_plane == (("pilot", "1.24.2"),)


def test_snapshot_files_parse_exactly_like_live_captures(fake: Path, tmp_path: Path) -> None:
    outputs = capture().outputs
    snap = tmp_path / "snap" / "istioctl"
    snap.mkdir(parents=True)
    for name, text in outputs.items():
        (snap / name).write_text(text)
    from_files = {p.name: p.read_text() for p in snap.iterdir()}
    assert parse_captures(from_files) == parse_captures(outputs)


def test_non_zero_exit_is_summarised(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_ISTIOCTL_MODE", "fail")
    cap = capture()
    assert set(cap.outputs) == {ERRORS_FILE} and len(cap.errors) == 4
    problems = parse_captures(cap.outputs).errors
    assert [p.message for p in problems] == cap.errors
    err = cap.errors[0]
    assert err.startswith(
        "`istioctl ztunnel-config certificates ztunnel-abcde.istio-system -o json` exited 1: Error:"
    )
    assert "forbidden" in err and "\t" not in err and "klog" not in err


def test_hang_is_killed_by_the_timeout(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_ISTIOCTL_MODE", "hang")
    start = time.monotonic()
    cap = capture(timeout_s=0.5)
    assert time.monotonic() - start < 10
    assert set(cap.outputs) == {ERRORS_FILE} and len(cap.errors) == 4
    assert all("timed out after 0.5s" in e for e in cap.errors)


def test_garbage_output_is_an_error_not_an_output(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_ISTIOCTL_MODE", "garbage")
    cap = capture()
    assert set(cap.outputs) == {ERRORS_FILE}
    assert all("not JSON" in e for e in cap.errors) and len(cap.errors) == 4
    assert not any("\x1b" in e for e in cap.errors)


def test_istio_1_22_falls_back_to_x_ztunnel_config(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_ISTIOCTL_MODE", "legacy")
    cap = capture()
    assert cap.errors == [] and set(cap.outputs) == EXPECTED_FILES
    argvs = [json.loads(x) for x in fake.read_text().splitlines()]
    assert sum(a[:2] == ["x", "ztunnel-config"] for a in argvs) == 2  # one retry per ztunnel command


def test_unknown_pod_is_a_per_command_error(fake: Path) -> None:
    cap = capture(ztunnel_pods=[ZTUNNEL, ("istio-system", "ztunnel-gone")])
    assert len(cap.errors) == 2 and all("ztunnel-gone" in e for e in cap.errors)
    assert set(cap.outputs) >= EXPECTED_FILES


def test_not_installed_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    cap = capture()
    assert not cap.installed and cap.outputs == {} and cap.errors == []
    assert find_istioctl(None) is None


def test_explicit_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    cap = capture(istioctl_path=str(tmp_path / "nope" / "istioctl"))
    assert not cap.installed and len(cap.errors) == 1 and "not found" in cap.errors[0]


def test_explicit_path_is_used(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("FAKE_ISTIOCTL_MODE", "ok")
    # the stand-in's shebang needs python3 on PATH: run it through an explicit interpreter path
    wrapper = fake.parent / "istioctl-wrapper"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {STAND_IN_DIR / "istioctl"} "$@"\n')
    wrapper.chmod(0o755)
    cap = capture(istioctl_path=str(wrapper), waypoint_pods=[], include_version=False)
    assert cap.binary == str(wrapper) and cap.errors == [] and len(cap.outputs) == 2


def test_no_pods_no_commands(fake: Path) -> None:
    cap = capture(ztunnel_pods=[], waypoint_pods=[], include_version=False)
    assert cap.installed and cap.outputs == {} and cap.errors == []
    assert not fake.exists()


# --- parsing variants ------------------------------------------------------------------------


def test_certificate_encodings(ca: TestCA) -> None:
    cert = ca.issue(CURL)
    for form in (
        pem(cert),
        base64.b64encode(pem(cert).encode()).decode(),
        base64.b64encode(der(cert)).decode(),
    ):
        (got, *_) = decode_certificates(form)
        assert got.serial_number == cert.serial_number
    with pytest.raises(ValueError):
        decode_certificates("bm90IGEgY2VydA==")


def test_raw_pem_and_config_dump_wrappers(ca: TestCA) -> None:
    leaf = ca.issue(CURL)
    all_dump = {
        "workloads": [],
        "certificates": [{"identity": CURL, "state": "Available", "certChain": [{"pem": pem(leaf)}]}],
    }
    envoy_raw = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
                "dynamic_active_secrets": [
                    {
                        "name": "default",
                        "secret": {
                            "name": "default",
                            "tls_certificate": {
                                "certificate_chain": {
                                    "inline_bytes": base64.b64encode(
                                        ca.chain_pem(WAYPOINT_ID).encode()
                                    ).decode()
                                }
                            },
                        },
                    },
                    {
                        "name": "ROOTCA",
                        "secret": {"validation_context": {"trusted_ca": {"inline_bytes": "eA=="}}},
                    },
                ],
            }
        ]
    }
    ids = parse_captures(
        {
            capture_file_name("ztunnel-config-certificates", "zt-1", "istio-system"): json.dumps(all_dump),
            capture_file_name("proxy-config-secret", "wp.with.dots-1", "bookinfo"): json.dumps(envoy_raw),
        }
    )
    assert ids.errors == ()
    assert ids.ztunnel_certificates[0].uri_sans == (CURL,)
    assert ids.waypoint_identity("bookinfo", "wp.with.dots-1").uri == WAYPOINT_ID


def test_table_form_from_a_hand_made_snapshot() -> None:
    table = (
        "CERTIFICATE NAME                               TYPE     STATUS        VALID CERT  SERIAL NUMBER  NOT AFTER  NOT BEFORE\n"
        "spiffe://cluster.local/ns/default/sa/curl      Leaf     Available     true        fa33bb         2024-05-05T09:25:49Z  2024-05-04T09:23:49Z\n"
        "spiffe://cluster.local/ns/default/sa/curl      Root     Available     true        aa             2034-05-05T09:25:49Z  2024-05-04T09:23:49Z\n"
        "spiffe://cluster.local/ns/default/sa/httpbin   Cert Chain  Unavailable  false     NA             NA         NA\n"
    )
    ids = parse_captures({"ztunnel-config-certificates.zt-1.istio-system.txt": table})
    assert [(c.identity, c.state) for c in ids.ztunnel_certificates] == [
        (CURL, "Available"),
        ("spiffe://cluster.local/ns/default/sa/httpbin", "Unavailable"),
    ]


def test_one_bad_file_does_not_spoil_the_others(ca: TestCA) -> None:
    good = json.dumps([{"identity": CURL, "state": "Available", "certChain": [{"pem": pem(ca.issue(CURL))}]}])
    ids = parse_captures(
        {
            "ztunnel-config-certificates.zt-1.istio-system.json": good,
            "ztunnel-config-certificates.zt-2.istio-system.json": "\x1b[31mnot json",
            "ztunnel-config-workloads.zt-2.istio-system.json": '{"workloads": 3}',
            "proxy-config-secret.wp-1.bookinfo.json": '{"dynamicActiveSecrets": [{"secret": {"tlsCertificate": {"certificateChain": {"inlineBytes": "!!!"}}}}]}',
            "version.json": "[]",
            "something-else.json": "whatever",
        }
    )
    assert [c.identity for c in ids.ztunnel_certificates] == [CURL]
    assert {p.source for p in ids.errors} == {
        "ztunnel-config-certificates.zt-2.istio-system.json",
        "ztunnel-config-workloads.zt-2.istio-system.json",
        "proxy-config-secret.wp-1.bookinfo.json",
        "version.json",
    }
    assert all("\x1b" not in p.message for p in ids.errors)


def test_empty_outputs() -> None:
    assert parse_captures({}) == Identities()
    assert Identities().empty


@given(
    st.dictionaries(st.sampled_from([*sorted(EXPECTED_FILES), "x.json"]), st.text(max_size=300), max_size=4)
)
def test_parse_captures_never_raises(outputs: dict[str, str]) -> None:
    ids = parse_captures(outputs)
    assert isinstance(ids, Identities)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
                    max_leaves=20))  # fmt: skip
def test_parse_captures_survives_any_json(value) -> None:
    text = json.dumps(value)
    parse_captures({name: text for name in EXPECTED_FILES})
