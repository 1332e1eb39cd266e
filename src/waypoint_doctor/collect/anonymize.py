"""Mask the names and addresses of a snapshot so it can leave the company, yet diagnose the same.

What is masked: the names of namespaces, pods, services, service accounts, nodes, gateways,
deployments, daemonsets, policies and service entries, wherever they appear (object names,
label values and selectors, targetRefs, principals ``<td>/ns/<ns>/sa/<sa>``,
``istio.io/use-waypoint`` values, condition messages, log lines, istioctl tables), plus every
IPv4/IPv6 address, a custom trust domain (and its aliases), image repositories, and the
kubeconfig context and API server.

What is kept: well-known names (``istio-system``, ``istiod``, ``ztunnel``, ``istio-waypoint``,
``default``…), label and annotation *keys*, ``apiVersion``/``kind`` and other enumerations
(reasons, protocols, actions), and the vocabulary of the log formats, so every check reads the
same facts.

How it stays consistent: one :class:`Anonymizer` per bundle, keyed with a random 256-bit key
that is never written anywhere. A name maps to ``<prefix>-<hmac hex>`` (a valid DNS label, so
``check svc-1a2b3c4d -n ns-5e6f7a8b`` works on the result); the same name gets the same mask in
every object, log and table of the bundle, and a different one in the next bundle. Derived names
keep their shape: a pod ``mlflow-waypoint-7c9d8b6f4-lhlwp`` becomes ``<mask of
mlflow-waypoint>-7c9d8b6f4-lhlwp``. Addresses are masked prefix-preservingly (Crypto-PAn style:
two addresses sharing an n-bit prefix still do after masking), so CIDR ``ipBlocks`` still contain
the same pods.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# Names that carry no information about the user and that checks compare against.
WELL_KNOWN_NAMES = frozenset(
    {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "istio-system",
        "istiod",
        "istio",
        "ztunnel",
        "istio-cni",
        "istio-cni-node",
        "istio-waypoint",
        "istio-agentgateway-waypoint",
        "istio-east-west",
        "istio-proxy",
        "istio-init",
        "istio-validation",
        "istio-ingressgateway",
        "istio-egressgateway",
        "istio-reader-service-account",
        "discovery",
        "install-cni",
        "waypoint",
        "kubernetes",
        "kube-dns",
        "coredns",
        "kube-proxy",
        "local-path-storage",
    }
)

# Words of the formats and APIs the checks parse; an object that happens to be named like one
# is left unmasked rather than corrupting a log line or an enumeration.
VOCABULARY = frozenset(
    {
        "access",
        "all",
        "allow",
        "allowed",
        "ambient",
        "api",
        "apis",
        "apps",
        "auth",
        "authorization",
        "bearer",
        "but",
        "by",
        "cluster",
        "complete",
        "connection",
        "core",
        "debug",
        "denied",
        "deny",
        "direction",
        "disabled",
        "discovery",
        "dst",
        "enabled",
        "error",
        "exist",
        "explicitly",
        "failed",
        "false",
        "found",
        "gateway",
        "gateways",
        "grpc",
        "hbone",
        "http",
        "http2",
        "https",
        "inbound",
        "info",
        "io",
        "istio",
        "k8s",
        "latest",
        "local",
        "mesh",
        "mismatch",
        "networking",
        "none",
        "not",
        "ns",
        "outbound",
        "pending",
        "pilot",
        "policies",
        "policy",
        "proxy",
        "proxyv2",
        "rbac",
        "rejection",
        "sa",
        "security",
        "service",
        "spiffe",
        "src",
        "status",
        "svc",
        "tcp",
        "tls",
        "true",
        "udp",
        "unknown",
        "upstream",
        "v1",
        "v1alpha3",
        "v1beta1",
        "via",
        "warn",
        "workload",
    }
)

# Image references keep public registries, Istio's own images and every tag (versions matter).
PUBLIC_REGISTRIES = frozenset(
    {
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "ghcr.io",
        "quay.io",
        "gcr.io",
        "registry.k8s.io",
        "k8s.gcr.io",
        "mcr.microsoft.com",
        "public.ecr.aws",
        "cgr.dev",
    }
)
WELL_KNOWN_IMAGE_PARTS = frozenset(
    {"istio", "istio-testing", "library", "pilot", "proxyv2", "ztunnel", "install-cni", "solo-io", "tetrate"}
)

_NAME_PREFIXES = {
    "namespaces": "ns",
    "nodes": "node",
    "services": "svc",
    "gateways.gateway.networking.k8s.io": "gw",
    "serviceaccounts": "sa",
    "deployments.apps": "deploy",
    "daemonsets.apps": "ds",
    "authorizationpolicies.security.istio.io": "ap",
    "peerauthentications.security.istio.io": "pa",
    "serviceentries.networking.istio.io": "se",
    "pods": "pod",
}
# Registration order: a name shared by several objects takes the prefix of the first.
MASKED_RESOURCES: tuple[str, ...] = tuple(_NAME_PREFIXES)

# Field values that are enumerations or API coordinates, never user names.
_KEEP_VALUES_OF = frozenset(
    {
        "apiVersion",
        "kind",
        "group",
        "apiGroup",
        "type",
        "reason",
        "protocol",
        "appProtocol",
        "action",
        "gatewayClassName",
        "controllerName",
        "phase",
        "operator",
        "imagePullPolicy",
        "restartPolicy",
        "dnsPolicy",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "lastTransitionTime",
        "startedAt",
        "finishedAt",
    }
)

_DNS_RUN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?")
_IPV4 = (
    r"(?<![\w.])(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(?![\w.]*\d)"
)
_IPV6 = r"(?<![\w:.])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:)[0-9A-Fa-f:]{2,39}(?![\w:])"
_ADDRESS = re.compile(f"(?P<ip>{_IPV4}|{_IPV6})(?:/(?P<bits>\\d{{1,3}})(?!\\d))?")
_HAS_LETTER = re.compile(r"[a-z]")
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s\\n]*?-----END CERTIFICATE-----\n?")
_BASE64ISH = re.compile(r"^[A-Za-z0-9+/=\s]{200,}$")


def new_key() -> bytes:
    return secrets.token_bytes(32)


class Anonymizer:
    """A consistent, keyed mapping of names and addresses for one bundle."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else new_key()
        self._names: dict[str, str] = {}  # original -> mask
        self._masks: set[str] = set()
        self._originals: set[str] = set()
        self._runs: dict[str, str] = {}
        self._ips: dict[str, str] = {}
        self._serials: dict[int, int] = {}
        self._signing_key: Any = None

    # -- learning the names --------------------------------------------------------------------
    def learn(self, objects_by_resource: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        """Register the names to mask, first the objects' own names, then pods (derived names)."""
        pending: list[tuple[str, str]] = []
        for resource in MASKED_RESOURCES:
            for obj in objects_by_resource.get(resource, ()):
                raw_meta = obj.get("metadata")
                meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
                for value, prefix in (
                    (meta.get("name"), _NAME_PREFIXES[resource]),
                    (meta.get("namespace"), "ns"),
                ):
                    if isinstance(value, str):
                        self._originals.add(value)
                        pending.append((value, prefix))
                if resource == "pods":
                    raw_spec = obj.get("spec")
                    spec: Mapping[str, Any] = raw_spec if isinstance(raw_spec, Mapping) else {}
                    for key, prefix in (("serviceAccountName", "sa"), ("nodeName", "node")):
                        value = spec.get(key)
                        if isinstance(value, str):
                            self._originals.add(value)
                            pending.append((value, prefix))
        for domain in _trust_domains(objects_by_resource.get("configmaps", ())):
            self._originals.add(domain)
            pending.append((domain, "td"))
        # Base names first so that derived names (pods, replica sets) can keep their shape.
        for value, prefix in pending:
            if prefix != "pod":
                self.register(value, prefix)
        for value, prefix in pending:
            if prefix == "pod":
                self.register(value, prefix)

    def learn_name(self, value: str, prefix: str = "name") -> str:
        self._originals.add(value)
        return self.register(value, prefix)

    def register(self, value: str, prefix: str) -> str:
        if value in self._names:
            return self._names[value]
        if not self._maskable(value):
            return value
        # Only pod names are derived (their suffix is a random hash); other names get a fresh mask.
        derived = self._derived(value) if prefix == "pod" else None
        mask = derived if derived is not None else self._fresh(value, prefix)
        self._names[value] = mask
        if mask != value:
            self._masks.add(mask)
        self._runs.clear()
        return mask

    @staticmethod
    def _maskable(value: str) -> bool:
        return (
            bool(value)
            and value not in WELL_KNOWN_NAMES
            and value not in VOCABULARY
            and bool(_HAS_LETTER.search(value))
        )

    def _derived(self, value: str) -> str | None:
        """`<known>-<suffix>` keeps the suffix: `mlflow-5f7d9c8b7d-x2k9q` -> `svc-…-5f7d9c8b7d-x2k9q`.

        A name derived from a well-known one (`ztunnel-4kq7p`) has nothing to hide: it is
        returned unchanged. None: no known base, the name needs a fresh mask.
        """
        cut = len(value)
        while (cut := value.rfind("-", 0, cut)) > 0:
            base = value[:cut]
            if base in WELL_KNOWN_NAMES:
                return value
            mask = self._names.get(base)
            if mask is not None and mask != base:
                candidate = mask + value[cut:]
                if candidate not in self._masks and candidate not in self._originals:
                    return candidate
        return None

    def _fresh(self, value: str, prefix: str) -> str:
        digest = hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()
        for width in range(8, len(digest) + 1, 2):
            mask = f"{prefix}-{digest[:width]}"
            if mask not in self._masks and mask not in self._originals:
                return mask
        raise RuntimeError("no free mask")  # pragma: no cover - 2**-256

    # -- applying the mapping ----------------------------------------------------------------
    def name(self, value: str) -> str:
        """The mask of a whole name (unknown names go through the text rules)."""
        if value in self._names:
            return self._names[value]
        return self.text(value)

    def text(self, text: str) -> str:
        """Mask addresses, then every known name inside free text (certificates are re-minted)."""
        if not text:
            return text
        if "-----BEGIN CERTIFICATE-----" in text:
            return self._text_with_certificates(text)
        text = _ADDRESS.sub(self._address_match, text)
        return _DNS_RUN.sub(self._run_match, text)

    def _text_with_certificates(self, text: str) -> str:
        out: list[str] = []
        last = 0
        for match in _PEM_CERT.finditer(text):
            out.append(self.text(text[last : match.start()]))
            out.append(self.certificate(match.group(0)) or "")
            last = match.end()
        out.append(self.text(text[last:]))
        return "".join(out)

    def _run_match(self, match: re.Match[str]) -> str:
        return self._run(match.group(0))

    def _run(self, run: str) -> str:
        cached = self._runs.get(run)
        if cached is not None:
            return cached
        out = self._names.get(run)
        if out is None:
            if "." in run:
                out = ".".join(self._label(part) for part in run.split("."))
            else:
                out = self._label(run)
        self._runs[run] = out
        return out

    def _label(self, label: str) -> str:
        if not label:
            return label
        mapped = self._names.get(label)
        if mapped is not None:
            return mapped
        derived = self._derived(label) if "-" in label else None
        return derived if derived is not None else label

    # -- addresses ------------------------------------------------------------------------------
    def _address_match(self, match: re.Match[str]) -> str:
        ip_text = match.group("ip")
        bits = match.group("bits")
        try:
            addr = ipaddress.ip_address(ip_text)
        except ValueError:
            return match.group(0)
        if bits is not None:
            prefix = int(bits)
            if prefix > addr.max_prefixlen:
                return self.address(ip_text) + "/" + bits
            if prefix == 0:
                return match.group(0)  # everything stays everything
            # A network is masked through the same prefix-preserving map as its hosts, even when
            # its address is special (0.0.0.0/1): containment of every masked host is preserved.
            masked = _prefix_preserving(self._key, addr)
            network = ipaddress.ip_network(f"{masked}/{prefix}", strict=False)
            if addr == ipaddress.ip_network(f"{addr}/{prefix}", strict=False).network_address:
                return f"{network.network_address}/{prefix}"
            return f"{self.address(ip_text)}/{prefix}"
        return self.address(ip_text)

    def address(self, ip_text: str) -> str:
        cached = self._ips.get(ip_text)
        if cached is not None:
            return cached
        try:
            addr = ipaddress.ip_address(ip_text)
        except ValueError:
            return ip_text
        special = addr.is_loopback or addr.is_unspecified or addr.is_link_local or addr.is_multicast
        broadcast = isinstance(addr, ipaddress.IPv4Address) and int(addr) == 0xFFFFFFFF
        out = ip_text if special or broadcast else str(_prefix_preserving(self._key, addr))
        self._ips[ip_text] = out
        return out

    # -- images ----------------------------------------------------------------------------------
    def image(self, value: str) -> str:
        """`ghcr.io/acme/billing:1.2` -> `ghcr.io/img-…/img-…:1.2`; Istio images stay readable."""
        scheme, sep, ref = value.rpartition("://")
        digest = ""
        if "@" in ref:
            ref, digest = ref.split("@", 1)
            digest = "@" + digest
        tag = ""
        last_slash = ref.rfind("/")
        colon = ref.rfind(":")
        if colon > last_slash:
            ref, tag = ref[:colon], ref[colon:]
        parts = ref.split("/")
        out: list[str] = []
        for i, part in enumerate(parts):
            if i == 0 and len(parts) > 1 and ("." in part or ":" in part or part == "localhost"):
                host = part.split(":")[0]
                out.append(part if host in PUBLIC_REGISTRIES else f"{self._fresh(part, 'registry')}.invalid")
            elif part in WELL_KNOWN_IMAGE_PARTS or part in WELL_KNOWN_NAMES:
                out.append(part)
            else:
                out.append(self._fresh(part, "img"))
        return (scheme + sep if sep else "") + "/".join(out) + tag + digest

    # -- whole documents -----------------------------------------------------------------------
    def object(self, obj: Any) -> Any:
        """A masked deep copy of a Kubernetes object: values only, never keys."""
        return _walk(obj, self)

    def context(self, value: str | None) -> str | None:
        if not value:
            return value
        return self._fresh(value, "context")

    def server(self, value: str | None) -> str | None:
        if not value:
            return value
        try:
            parts = urlsplit(value)
        except ValueError:
            return self._fresh(value, "server")
        host = parts.hostname or ""
        try:
            ipaddress.ip_address(host)
            masked_host = self.address(host)
            if ":" in masked_host:
                masked_host = f"[{masked_host}]"
        except ValueError:
            masked_host = f"{self._fresh(host, 'apiserver')}.invalid" if host else ""
        netloc = masked_host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, "", "", ""))

    # -- istioctl outputs and the certificates inside them -----------------------------------------
    def istioctl_output(self, text: str) -> str:
        """An istioctl capture, masked: JSON values (never keys) and text tables alike.

        Certificates (PEM, or base64 of PEM/DER as ztunnel and Envoy print them) cannot be
        edited, so they are re-minted: same validity and CA flag, masked subject, issuer and SANs
        (the SPIFFE identity the checks compare with policy principals), a masked serial, signed by
        a throwaway per-bundle key. The real certificate never reaches the bundle.
        """
        stripped = text.lstrip()
        if stripped.startswith(("{", "[")):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if data is not None:
                return json.dumps(self._json_value(data), indent=2) + "\n"
        return self.text(text)

    def _json_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._json_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._json_value(v) for v in value]
        if isinstance(value, str):
            if _BASE64ISH.match(value):
                reminted = self.certificate(value)
                if reminted is not None:
                    return reminted
            return self.name(value)
        return value

    def certificate(self, value: str) -> str | None:
        """Re-mint the certificate(s) in `value`, in the same encoding; None if none decodes."""
        from waypoint_doctor.collect.istioctl import decode_certificates

        try:
            certs = decode_certificates(value)
        except ValueError:
            return None
        from cryptography.hazmat.primitives import serialization

        reminted = [self._remint(cert) for cert in certs]
        pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in reminted)
        if "-----BEGIN" in value:
            return pem.decode("ascii")
        try:
            decoded = base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            return pem.decode("ascii")
        if b"-----BEGIN" in decoded:
            return base64.b64encode(pem).decode("ascii")
        return base64.b64encode(reminted[0].public_bytes(serialization.Encoding.DER)).decode("ascii")

    def _remint(self, cert: Any) -> Any:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        if self._signing_key is None:
            self._signing_key = ec.generate_private_key(ec.SECP256R1())
        key = self._signing_key

        def masked_name(name: Any) -> Any:
            attrs = [
                x509.NameAttribute(a.oid, self.text(a.value) if isinstance(a.value, str) else a.value)
                for a in name
            ]
            return x509.Name(attrs)

        try:
            not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        except AttributeError:  # cryptography < 42
            not_before, not_after = cert.not_valid_before, cert.not_valid_after
        builder = (
            x509.CertificateBuilder()
            .subject_name(masked_name(cert.subject))
            .issuer_name(masked_name(cert.issuer))
            .public_key(key.public_key())
            .serial_number(self._serial(cert.serial_number))
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
            builder = builder.add_extension(constraints.value, critical=constraints.critical)
        except x509.ExtensionNotFound:
            pass
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            san = None
        if san is not None:
            names: list[Any] = []
            for general in san.value:
                if isinstance(general, x509.UniformResourceIdentifier):
                    names.append(x509.UniformResourceIdentifier(self.text(general.value)))
                elif isinstance(general, x509.DNSName):
                    names.append(x509.DNSName(self.text(general.value)))
                elif isinstance(general, x509.IPAddress) and not isinstance(
                    general.value, ipaddress.IPv4Network | ipaddress.IPv6Network
                ):
                    names.append(x509.IPAddress(ipaddress.ip_address(self.address(str(general.value)))))
            if names:
                builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=san.critical)
        return builder.sign(key, hashes.SHA256())

    def _serial(self, serial: int) -> int:
        cached = self._serials.get(serial)
        if cached is None:
            raw = serial.to_bytes((serial.bit_length() + 7) // 8 or 1, "big")
            digest = hmac.new(self._key, b"serial:" + raw, hashlib.sha256).digest()
            cached = (int.from_bytes(digest[:19], "big") >> 1) | 1
            self._serials[serial] = cached
        return cached

    @property
    def mapping_size(self) -> int:
        return sum(1 for k, v in self._names.items() if k != v)


def _trust_domains(configmaps: Iterable[Mapping[str, Any]]) -> list[str]:
    """Custom trust domains and aliases from the mesh ConfigMaps (`cluster.local` stays as is)."""
    import yaml

    found: list[str] = []
    for cm in configmaps:
        raw_meta = cm.get("metadata")
        name = raw_meta.get("name") if isinstance(raw_meta, Mapping) else None
        data = cm.get("data")
        raw = data.get("mesh") if isinstance(data, Mapping) else None
        if not (
            isinstance(name, str) and (name == "istio" or name.startswith("istio-")) and isinstance(raw, str)
        ):
            continue
        try:
            mesh = yaml.safe_load(raw)
        except yaml.YAMLError:
            continue
        if not isinstance(mesh, Mapping):
            continue
        values = [mesh.get("trustDomain"), *(mesh.get("trustDomainAliases") or [])]
        found += [v for v in values if isinstance(v, str) and v and v != "cluster.local"]
    return found


def _walk(value: Any, anon: Anonymizer, key: str | None = None) -> Any:
    if isinstance(value, Mapping):
        return {k: _walk(v, anon, k if isinstance(k, str) else None) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v, anon, key) for v in value]
    if isinstance(value, str):
        if key in _KEEP_VALUES_OF:
            return value
        if key in ("image", "imageID"):
            return anon.image(value)
        return anon.name(value)
    return value


@lru_cache(maxsize=65536)
def _pad_bit(key: bytes, version: int, prefix: int, length: int) -> int:
    data = bytes([version, length]) + prefix.to_bytes(16, "big")
    return hmac.new(key, data, hashlib.sha256).digest()[0] >> 7


def _prefix_preserving(key: bytes, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Any:
    """Crypto-PAn: bit i flips by a keyed function of the i leading bits, so prefixes are kept."""
    width = addr.max_prefixlen
    value = int(addr)
    out = 0
    for i in range(width):
        prefix = value >> (width - i) if i else 0
        bit = (value >> (width - 1 - i)) & 1
        out = (out << 1) | (bit ^ _pad_bit(key, addr.version, prefix, i))
    return ipaddress.ip_address(out) if addr.version == 4 else ipaddress.IPv6Address(out)


def masking_function(anon: Anonymizer) -> Callable[[str], str]:
    return anon.text
