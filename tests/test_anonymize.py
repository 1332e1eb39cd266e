"""Anonymisation: consistent, keyed masks that leak no name or address and keep the diagnosis.

The end-to-end property (same check statuses for every scenario) is in test_snapshot_write.py;
here: the mapping itself, what must not leak, what must stay readable, and certificates.
"""

from __future__ import annotations

import base64
import gzip
import ipaddress
import json
import re
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waypoint_doctor.checks.spec import CheckOptions, Target
from waypoint_doctor.collect.anonymize import WELL_KNOWN_NAMES, Anonymizer
from waypoint_doctor.collect.istioctl import parse_captures
from waypoint_doctor.collect.kinds import ALL_KINDS
from waypoint_doctor.collect.snapshot_dir import load_snapshot
from waypoint_doctor.collect.snapshot_write import export_snapshot
from waypoint_doctor.collect.view import ClusterView, ViewData
from waypoint_doctor.engine import check_service
from waypoint_doctor.logs.ztunnel import parse_line
from waypoint_doctor.options import validate_namespace, validate_service_name

from clihelpers import REPO

HEALTHY = REPO / "examples" / "kagenti-healthy"
DNS_RUN = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")
IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")


def healthy_anonymizer(key: bytes = b"k" * 32) -> tuple[Anonymizer, ClusterView]:
    view = load_snapshot(HEALTHY)
    anon = Anonymizer(key)
    anon.learn({k.key: view.list(k.key) for k in ALL_KINDS})
    return anon, view


def test_same_name_same_mask_and_masks_are_valid_names() -> None:
    anon, _ = healthy_anonymizer()
    svc, ns = anon.name("mlflow"), anon.name("kagenti-system")
    assert svc != "mlflow" and ns != "kagenti-system"
    assert anon.name("mlflow") == svc and anon.text("mlflow") == svc
    validate_service_name(svc)  # DNS-1035: `check <mask> -n <mask>` works on the result
    validate_namespace(ns)
    assert anon.text(f"{svc}") == svc  # masking is not applied twice within one text
    assert anon.text("cluster.local/ns/kagenti-system/sa/otel-collector") == (
        f"cluster.local/ns/{ns}/sa/{anon.name('otel-collector')}"
    )
    assert anon.text("mlflow.kagenti-system.svc.cluster.local:5000") == f"{svc}.{ns}.svc.cluster.local:5000"
    assert anon.text('explicitly denied by: kagenti-system/mlflow-api-access"') == (
        f'explicitly denied by: {ns}/{anon.name("mlflow-api-access")}"'
    )
    assert anon.text("ns[kagenti-system]-policy[mlflow-api-access]-rule[0]") == (
        f"ns[{ns}]-policy[{anon.name('mlflow-api-access')}]-rule[0]"
    )


def test_masks_depend_on_the_key() -> None:
    a, _ = healthy_anonymizer(b"a" * 32)
    b, _ = healthy_anonymizer(b"b" * 32)
    assert a.name("mlflow") != b.name("mlflow")
    assert a.address("10.244.1.10") != b.address("10.244.1.10")
    c = Anonymizer()  # a random key by default
    c.learn_name("mlflow", "svc")
    assert c.name("mlflow") not in (a.name("mlflow"), b.name("mlflow"))


def test_pod_names_keep_their_shape() -> None:
    anon, _ = healthy_anonymizer()
    gw = anon.name("mlflow-waypoint")
    assert anon.name("mlflow-waypoint-7c9d8b6f4-lhlwp") == f"{gw}-7c9d8b6f4-lhlwp"
    # an unknown name derived from a known one (a ReplicaSet) keeps the shape too
    assert anon.text("mlflow-5f7d9c8b7d") == f"{anon.name('mlflow')}-5f7d9c8b7d"
    assert anon.name("ztunnel-4kq7p") == "ztunnel-4kq7p"


@pytest.mark.parametrize("name", sorted(WELL_KNOWN_NAMES))
def test_well_known_names_are_kept(name: str) -> None:
    anon = Anonymizer(b"k")
    anon.learn_name(name, "ns")
    assert anon.name(name) == name


def test_enumerations_and_label_keys_are_kept() -> None:
    anon, view = healthy_anonymizer()
    gw = anon.object(view.get("gateways.gateway.networking.k8s.io", "kagenti-system", "mlflow-waypoint"))
    assert gw["apiVersion"] == "gateway.networking.k8s.io/v1" and gw["kind"] == "Gateway"
    assert gw["spec"]["gatewayClassName"] == "istio-waypoint"
    assert gw["spec"]["listeners"][0] == {"name": "mesh", "port": 15008, "protocol": "HBONE"}
    assert gw["metadata"]["labels"] == {"istio.io/waypoint-for": "service"}
    assert [c["reason"] for c in gw["status"]["conditions"]] == ["Accepted", "Programmed"]
    svc = anon.object(view.get("services", "kagenti-system", "mlflow"))
    assert svc["metadata"]["labels"] == {"istio.io/use-waypoint": anon.name("mlflow-waypoint")}
    assert svc["spec"]["selector"] == {"app": anon.name("mlflow")}
    istiod = anon.object(view.get("deployments.apps", "istio-system", "istiod"))
    assert istiod["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/istio/pilot:1.28.1"


def test_anonymised_logs_still_parse_and_agree_with_the_objects() -> None:
    anon, view = healthy_anonymizer()
    for key, text in view.logs.items():
        if not key.pod.startswith("ztunnel"):
            continue
        for line in text.splitlines():
            original, masked = parse_line(line), parse_line(anon.text(line))
            assert original is not None and masked is not None
            assert type(original) is type(masked)
            for attr in ("src_workload", "dst_workload", "dst_service", "src_identity", "dst_identity"):
                if hasattr(original, attr) and getattr(original, attr):
                    assert getattr(masked, attr) == anon.text(getattr(original, attr)), attr


def _names_and_ips(view: ClusterView) -> tuple[set[str], set[str]]:
    names: set[str] = set()
    for kind in ALL_KINDS:
        if kind.key in (
            "gatewayclasses.gateway.networking.k8s.io",
            "configmaps",
            "customresourcedefinitions",
        ):
            continue
        for obj in view.list(kind.key):
            meta = obj.get("metadata") or {}
            spec = obj.get("spec") or {}
            names |= {
                v
                for v in (
                    meta.get("name"),
                    meta.get("namespace"),
                    spec.get("nodeName"),
                    spec.get("serviceAccountName"),
                )
                if isinstance(v, str) and v
            }
    anon = Anonymizer(b"x")
    maskable = {n for n in names if anon._maskable(n) and anon._derived(n) != n}
    ips = set()
    for kind in ALL_KINDS:
        for obj in view.list(kind.key):
            ips |= set(IPV4.findall(json.dumps(obj)))
    for text in view.logs.values():
        ips |= set(IPV4.findall(text))
    return maskable, {ip for ip in ips if not ipaddress.ip_address(ip).is_loopback}


def test_no_name_or_address_leaks_into_the_bundle(tmp_path: Path) -> None:
    view = load_snapshot(HEALTHY)
    names, ips = _names_and_ips(view)
    assert {"mlflow", "kagenti-system", "otel-collector", "kagenti-worker"} <= names
    assert "10.244.1.10" in ips
    out = export_snapshot(view, tmp_path / "a.tar.gz", anonymize=True).path
    with tarfile.open(out) as tar:
        texts = [m.name for m in tar.getmembers()]
        texts += [tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()]  # type: ignore[union-attr]
    runs = {r for t in texts for r in DNS_RUN.findall(t)} | {
        label for t in texts for r in DNS_RUN.findall(t) for label in r.split(".")
    }
    assert not names & runs, names & runs
    blob = "\n".join(texts)
    assert not {ip for ip in ips if ip in IPV4.findall(blob)}
    assert "kind-kagenti" not in blob  # the kubeconfig context


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=1, max_value=32),
)
def test_addresses_keep_their_prefixes(a: int, b: int, bits: int) -> None:
    anon = Anonymizer(b"prefix-key")
    ip_a, ip_b = ipaddress.IPv4Address(a), ipaddress.IPv4Address(b)
    if any(x.is_loopback or x.is_unspecified or x.is_link_local or x.is_multicast for x in (ip_a, ip_b)):
        return
    if int(ip_a) == 0xFFFFFFFF or int(ip_b) == 0xFFFFFFFF:
        return
    ma = ipaddress.IPv4Address(anon.address(str(ip_a)))
    mb = ipaddress.IPv4Address(anon.address(str(ip_b)))
    same_before = (a >> (32 - bits)) == (b >> (32 - bits))
    same_after = (int(ma) >> (32 - bits)) == (int(mb) >> (32 - bits))
    assert same_before == same_after
    assert (ma == mb) == (ip_a == ip_b)
    # CIDR containment survives: the masked address is inside the masked network
    network = ipaddress.ip_network(f"{ip_b}/{bits}", strict=False)
    masked_net = ipaddress.ip_network(anon.text(f"{network.network_address}/{bits}"))
    assert (ip_a in network) == (ma in masked_net)


def test_ipv6_and_special_addresses() -> None:
    anon = Anonymizer(b"k")
    assert anon.text("127.0.0.1:15000 [::1]:15000 0.0.0.0") == "127.0.0.1:15000 [::1]:15000 0.0.0.0"
    masked = anon.text("fd00:10:244::15")
    assert masked != "fd00:10:244::15" and ipaddress.ip_address(masked).version == 6
    assert anon.text("at 10:05:01.102311Z") == "at 10:05:01.102311Z"  # a time is not an address
    assert anon.text("version 1.28.1") == "version 1.28.1"
    assert anon.server("https://10.0.0.1:6443") == f"https://{anon.address('10.0.0.1')}:6443"
    assert anon.server("https://api.prod.acme.corp:443").endswith(".invalid:443")


def _cert(identity: str, *, days: int = 1) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cluster.local")]))
        .public_key(key.public_key())
        .serial_number(0xFA33BBB783553A1704866842586E4C0B)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_certificates_are_reminted_with_masked_identities() -> None:
    identity = "spiffe://cluster.local/ns/kagenti-system/sa/otel-collector"
    pem = _cert(identity)
    capture = json.dumps(
        [
            {
                "identity": identity,
                "state": "Available",
                "certChain": [{"pem": base64.b64encode(pem).decode(), "serialNumber": "1", "validFrom": "x"}],
            }
        ]
    )
    name = "ztunnel-config-certificates.ztunnel-4kq7p.istio-system.json"
    anon, _ = healthy_anonymizer()
    masked = anon.istioctl_output(capture)
    assert base64.b64encode(pem).decode() not in masked
    assert "otel-collector" not in masked and "kagenti-system" not in masked
    before = parse_captures({name: capture}).ztunnel_certificates[0]
    after = parse_captures({name: masked}).ztunnel_certificates[0]
    assert after.identity == anon.text(identity)
    assert after.uri_sans == (anon.text(identity),)
    assert after.san_matches_identity is True and before.san_matches_identity is True
    assert (after.not_before, after.not_after) == (before.not_before, before.not_after)
    assert after.serial_number != before.serial_number
    # PEM text inside free text is re-minted too
    text = "cert:\n" + pem.decode()
    assert pem.decode() not in anon.text(text) and "BEGIN CERTIFICATE" in anon.text(text)


def test_anonymised_view_diagnoses_like_the_original(tmp_path: Path) -> None:
    """A direct look at the facts behind the checks (the statuses are compared for every
    scenario in test_snapshot_write.py)."""
    from waypoint_doctor.mesh.facts import Facts

    view = load_snapshot(HEALTHY)
    anon, _ = healthy_anonymizer()
    masked_view = ClusterView(
        ViewData(
            objects={k.key: [anon.object(o) for o in view.list(k.key)] for k in ALL_KINDS},
            collected=frozenset(k.key for k in ALL_KINDS if view.collected(k.key)),
        )
    )
    f = Facts(view, "kagenti-system", "mlflow")
    g = Facts(masked_view, anon.name("kagenti-system"), anon.name("mlflow"))
    assert g.binding.waypoint_name == anon.name(f.binding.waypoint_name or "")
    assert g.waypoint_identity == anon.text(f.waypoint_identity or "")
    assert sorted(p["metadata"]["name"] for p in g.service_pods) == sorted(
        anon.name(p["metadata"]["name"]) for p in f.service_pods
    )
    assert {anon.name(n) for n in f.relevant_nodes} == g.relevant_nodes


def test_a_custom_trust_domain_is_masked_consistently(tmp_path: Path) -> None:
    from scenariolib import Cluster

    cluster = Cluster(HEALTHY)
    cm = cluster.get("ConfigMap", "istio-system", "istio")
    cm["data"]["mesh"] = cm["data"]["mesh"].replace(
        "trustDomain: cluster.local", "trustDomain: prod.acme.example"
    )
    policy = cluster.get("AuthorizationPolicy", "kagenti-system", "mlflow-api-access")
    for rule in policy["spec"]["rules"]:
        principals = rule["from"][0]["source"]["principals"]
        rule["from"][0]["source"]["principals"] = [
            p.replace("cluster.local", "prod.acme.example") for p in principals
        ]
    for key, text in list(cluster.logs.items()):
        cluster.logs[key] = text.replace("spiffe://cluster.local/", "spiffe://prod.acme.example/")
    src = cluster.write(tmp_path / "src")
    view = load_snapshot(src)
    written = export_snapshot(
        view, tmp_path / "a.tar.gz", anonymize=True, target=Target("kagenti-system", "mlflow")
    )
    assert b"acme" not in gzip.decompress(written.path.read_bytes())
    masked = load_snapshot(written.path)
    assert written.target is not None
    before = check_service(view, Target("kagenti-system", "mlflow"), CheckOptions())
    after = check_service(masked, written.target, CheckOptions())
    assert {c.id: c.status.value for c in after.checks} == {c.id: c.status.value for c in before.checks}
    from waypoint_doctor.mesh.facts import Facts

    td = Facts(masked, written.target.namespace, written.target.name).mesh.trust_domain
    assert td.startswith("td-") and td != "prod.acme.example"
