"""istioctl as an evidence source: run it (live) and read what it printed (live or snapshot).

Two halves that meet at a dict ``{file name: raw output}``, the same names a snapshot keeps in
its ``istioctl/`` directory:

- :func:`capture_istioctl` runs ``istioctl`` as a subprocess: an argument list (never a shell),
  a timeout per command, the run's ``--kubeconfig``/``--context``. A missing binary is "not
  installed", not an error; non-zero exits, hangs and output that is not JSON become one line
  each in ``errors`` (and, one per line, in the ``istioctl-errors.txt`` output, so a snapshot
  keeps them).
- :func:`parse_captures` turns those outputs into :class:`Identities`: the SPIFFE identities each
  ztunnel holds certificates for, the waypoint's own certificate identity, the workloads ztunnel
  knows (service account, trust domain, waypoint) and the Istio versions. Certificate SANs are
  decoded with ``cryptography`` (a well-kept X.509 library rather than hand-written ASN.1).

Output shapes (istio ``istioctl/pkg/writer/ztunnel/configdump``, ztunnel ``src/admin.rs``,
``istioctl/pkg/writer/envoy/configdump``):

- ``ztunnel-config certificates -o json``: ``[{"identity", "state", "certChain": [{"pem",
  "serialNumber", "validFrom", "expirationTime"}]}]``; ``pem`` is base64 of the PEM text.
- ``ztunnel-config workloads -o json``: a list (older: a map) of workloads with ``name``,
  ``namespace``, ``serviceAccount``, ``trustDomain`` (omitted for cluster.local), ``node``,
  ``protocol``, ``waypoint`` ``{"destination": …}``, ``workloadIps``, ``uid``.
- ``proxy-config secret -o json``: Envoy's ``SecretsConfigDump`` in protojson:
  ``dynamicActiveSecrets[].secret.tlsCertificate.certificateChain.inlineBytes`` (base64 PEM);
  raw Envoy dumps use snake_case, accepted too.
- ``version -o json``: ``clientVersion.version``, ``meshVersion[].Info.version``,
  ``dataPlaneVersion[].IstioVersion``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from waypoint_doctor.logs.sanitize import safe_text
from waypoint_doctor.logs.spiffe import DEFAULT_TRUST_DOMAIN, SpiffeId, parse_spiffe

__all__ = [
    "ERRORS_FILE",
    "CaptureProblem",
    "CertificateIdentity",
    "Identities",
    "IstioVersions",
    "IstioctlCapture",
    "WorkloadIdentity",
    "capture_file_name",
    "capture_istioctl",
    "decode_certificates",
    "find_istioctl",
    "parse_captures",
]

ZTUNNEL_CERTS = "ztunnel-config-certificates"
ZTUNNEL_WORKLOADS = "ztunnel-config-workloads"
PROXY_SECRET = "proxy-config-secret"
VERSION = "version"
# The failures of a capture travel with its outputs under this name, so a snapshot remembers why
# an identity is missing (parse_captures reads them back as CaptureProblems).
ERRORS_FILE = "istioctl-errors.txt"
MAX_PARALLEL = 4


def capture_file_name(kind: str, pod: str | None = None, namespace: str | None = None) -> str:
    """``<kind>.<pod>.<namespace>.json`` (``version.json`` has no pod). Namespaces never contain
    dots, so the name splits back unambiguously from the right."""
    if pod is None:
        return f"{kind}.json"
    return f"{kind}.{pod}.{namespace}.json"


def _split_file_name(name: str) -> tuple[str, str | None, str | None, str]:
    """(kind, pod, namespace, extension) from a capture file name."""
    base, dot, ext = name.rpartition(".")
    if not dot:
        base, ext = name, ""
    for kind in (ZTUNNEL_CERTS, ZTUNNEL_WORKLOADS, PROXY_SECRET, VERSION):
        if base == kind:
            return kind, None, None, ext
        if base.startswith(kind + "."):
            rest = base[len(kind) + 1 :]
            pod, _, namespace = rest.rpartition(".")
            return kind, pod or rest, namespace or None, ext
    return base, None, None, ext


# ---------------------------------------------------------------------------------------------
# running istioctl


@dataclass(frozen=True)
class IstioctlCapture:
    """What a live run got from istioctl: raw outputs by file name, and one line per failure."""

    outputs: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    binary: str | None = None  # the istioctl that ran; None: not installed

    @property
    def installed(self) -> bool:
        return self.binary is not None


def find_istioctl(istioctl_path: str | None = None) -> str | None:
    """The istioctl to run: ``istioctl_path`` if given (resolved on PATH when it is a bare name),
    else ``istioctl`` on PATH; None when there is none."""
    if istioctl_path:
        if os.sep in istioctl_path or (os.altsep and os.altsep in istioctl_path):
            return (
                istioctl_path if os.path.isfile(istioctl_path) and os.access(istioctl_path, os.X_OK) else None
            )
        return shutil.which(istioctl_path)
    return shutil.which("istioctl")


def _summarise_stderr(stderr: str, limit: int = 300) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    # istioctl prints "Error: …" last; prefer it, then the first line.
    errors = [ln for ln in lines if ln.lower().startswith("error")]
    picked = errors[-1] if errors else (lines[0] if lines else "no error output")
    return safe_text(picked, max_len=limit)


@dataclass(frozen=True)
class _Result:
    name: str
    output: str | None
    error: str | None


def _run(
    binary: str, args: Sequence[str], global_args: Sequence[str], timeout_s: float
) -> tuple[int | None, str, str, str | None]:
    """(exit code, stdout, stderr, problem) for one istioctl command."""
    argv = [binary, *args, *global_args]
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, "", "", f"timed out after {timeout_s:g}s (istioctl killed)"
    except OSError as exc:
        return None, "", "", f"could not run {binary}: {exc.strerror or exc}"
    return (
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
        None,
    )


def _display(args: Sequence[str]) -> str:
    return "istioctl " + " ".join(args)


def _strip_private_keys(value: Any) -> Any:
    """Drop private-key material from a secret dump before it is kept anywhere (Envoy already
    redacts it; this makes sure no future version or custom proxy leaks one into a snapshot)."""
    if isinstance(value, dict):
        return {
            k: _strip_private_keys(v)
            for k, v in value.items()
            if k not in ("privateKey", "private_key", "privateKeyProvider", "private_key_provider")
        }
    if isinstance(value, list):
        return [_strip_private_keys(v) for v in value]
    return value


def _run_json(
    binary: str,
    name: str,
    args: list[str],
    global_args: list[str],
    timeout_s: float,
    *,
    legacy_x: bool = False,
) -> _Result:
    code, out, err, problem = _run(binary, args, global_args, timeout_s)
    if problem is None and code != 0 and legacy_x and 'unknown command "ztunnel-config"' in err:
        # Istio 1.22 only has `istioctl x ztunnel-config`.
        args = ["x", *args]
        code, out, err, problem = _run(binary, args, global_args, timeout_s)
    if problem is not None:
        return _Result(name, None, f"`{_display(args)}` {problem}")
    if code != 0:
        return _Result(name, None, f"`{_display(args)}` exited {code}: {_summarise_stderr(err)}")
    try:
        parsed = json.loads(out)
    except ValueError:
        first = next((ln for ln in out.splitlines() if ln.strip()), "")
        return _Result(
            name,
            None,
            f"`{_display(args)}` printed output that is not JSON: {safe_text(first, max_len=120)!r}",
        )
    if name.startswith(PROXY_SECRET):
        out = json.dumps(_strip_private_keys(parsed), indent=2) + "\n"
    return _Result(name, out, None)


def capture_istioctl(
    istioctl_path: str | None,
    *,
    kubeconfig: str | None,
    context: str | None,
    ztunnel_pods: Iterable[tuple[str, str]],
    waypoint_pods: Iterable[tuple[str, str]],
    timeout_s: float = 20,
    include_version: bool = True,
) -> IstioctlCapture:
    """Run the istioctl commands the identity checks read.

    ``ztunnel_pods`` and ``waypoint_pods`` are ``(namespace, pod)`` pairs. Commands run a few at
    a time; each has its own ``timeout_s``. A missing istioctl on PATH gives an empty capture
    with ``binary=None`` and no errors; an explicit ``istioctl_path`` that cannot be found is an
    error."""
    binary = find_istioctl(istioctl_path)
    if binary is None:
        errors = [f"istioctl not found at {istioctl_path!r}"] if istioctl_path else []
        return IstioctlCapture({}, errors, None)
    global_args: list[str] = []
    if kubeconfig:
        global_args += ["--kubeconfig", kubeconfig]
    if context:
        global_args += ["--context", context]

    jobs: list[tuple[str, list[str], bool]] = []
    for namespace, pod in dict.fromkeys(ztunnel_pods):
        ref = f"{pod}.{namespace}"
        jobs.append(
            (
                capture_file_name(ZTUNNEL_CERTS, pod, namespace),
                ["ztunnel-config", "certificates", ref, "-o", "json"],
                True,
            )
        )
        jobs.append(
            (
                capture_file_name(ZTUNNEL_WORKLOADS, pod, namespace),
                ["ztunnel-config", "workloads", ref, "-o", "json"],
                True,
            )
        )
    for namespace, pod in dict.fromkeys(waypoint_pods):
        jobs.append(
            (
                capture_file_name(PROXY_SECRET, pod, namespace),
                ["proxy-config", "secret", pod, "-n", namespace, "-o", "json"],
                False,
            )
        )
    if include_version:
        jobs.append((capture_file_name(VERSION), ["version", "-o", "json"], False))

    outputs: dict[str, str] = {}
    errors: list[str] = []
    if not jobs:
        return IstioctlCapture(outputs, errors, binary)
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(jobs))) as pool:
        futures = [
            pool.submit(_run_json, binary, name, args, global_args, timeout_s, legacy_x=legacy)
            for name, args, legacy in jobs
        ]
        for fut in futures:  # in submission order: deterministic output
            result = fut.result()
            if result.output is not None:
                outputs[result.name] = result.output
            if result.error is not None:
                errors.append(result.error)
    if errors:
        outputs[ERRORS_FILE] = "".join(f"{e}\n" for e in errors)
    return IstioctlCapture(outputs, errors, binary)


# ---------------------------------------------------------------------------------------------
# parsing what istioctl printed


@dataclass(frozen=True)
class CaptureProblem:
    source: str  # the capture file name
    message: str


@dataclass(frozen=True)
class CertificateIdentity:
    """A certificate a proxy holds, and the identity it proves."""

    proxy: str  # "<pod>.<namespace>" of the ztunnel or waypoint that holds it
    source: str  # capture file name
    identity: str | None  # the identity the dump names (ztunnel) or the leaf's first SPIFFE SAN
    uri_sans: tuple[str, ...] = ()  # URI SANs of the leaf certificate
    state: str | None = None  # ztunnel: Available / Initializing / Unavailable…; Envoy: ACTIVE / WARMING
    serial_number: str | None = None  # hex
    not_before: datetime | None = None
    not_after: datetime | None = None

    @property
    def spiffe(self) -> SpiffeId | None:
        return parse_spiffe(self.identity)

    @property
    def san_matches_identity(self) -> bool | None:
        """Whether the leaf certificate proves the identity the dump names (None: no cert)."""
        if not self.uri_sans:
            return None
        return self.identity in self.uri_sans

    def valid_at(self, when: datetime) -> bool | None:
        if self.not_before is None or self.not_after is None:
            return None
        return self.not_before <= when <= self.not_after


@dataclass(frozen=True)
class WorkloadIdentity:
    """A workload as ztunnel knows it (``ztunnel-config workloads``)."""

    name: str
    namespace: str
    service_account: str
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    node: str | None = None
    protocol: str | None = None  # HBONE (captured) or TCP
    waypoint: str | None = None  # the waypoint destination ztunnel will use, when set
    addresses: tuple[str, ...] = ()
    uid: str | None = None
    authorization_policies: tuple[str, ...] = ()
    source: str = ""

    @property
    def spiffe(self) -> SpiffeId:
        return SpiffeId(self.trust_domain, self.namespace, self.service_account)


@dataclass(frozen=True)
class IstioVersions:
    client: str | None = None
    control_plane: tuple[tuple[str, str], ...] = ()  # (component, version)
    data_plane: tuple[tuple[str, str], ...] = ()  # (proxy id, version)


@dataclass(frozen=True)
class Identities:
    """Identities and versions read from istioctl outputs; ``errors`` names what could not be read."""

    ztunnel_certificates: tuple[CertificateIdentity, ...] = ()
    waypoint_certificates: tuple[CertificateIdentity, ...] = ()
    workloads: tuple[WorkloadIdentity, ...] = ()
    version: IstioVersions | None = None
    errors: tuple[CaptureProblem, ...] = ()
    sources: tuple[str, ...] = ()  # the capture files read

    @property
    def empty(self) -> bool:
        return not (self.ztunnel_certificates or self.waypoint_certificates or self.workloads)

    def workload(self, namespace: str, pod: str) -> WorkloadIdentity | None:
        for wl in self.workloads:
            if wl.namespace == namespace and wl.name == pod:
                return wl
        return None

    def identity_of_pod(self, namespace: str, pod: str) -> SpiffeId | None:
        wl = self.workload(namespace, pod)
        return wl.spiffe if wl is not None else None

    def waypoint_identity(self, namespace: str, pod: str) -> SpiffeId | None:
        """The identity in the waypoint pod's own certificate (``proxy-config secret``)."""
        proxy = f"{pod}.{namespace}"
        for cert in self.waypoint_certificates:
            if cert.proxy == proxy and cert.spiffe is not None:
                return cert.spiffe
        return None

    @property
    def certificate_identities(self) -> frozenset[str]:
        """Every SPIFFE identity some ztunnel holds an available certificate for."""
        return frozenset(
            c.identity
            for c in self.ztunnel_certificates
            if c.identity and (c.state is None or c.state.startswith("Available"))
        )

    @property
    def trust_domains(self) -> frozenset[str]:
        tds = {wl.trust_domain for wl in self.workloads}
        for cert in (*self.ztunnel_certificates, *self.waypoint_certificates):
            if cert.spiffe is not None:
                tds.add(cert.spiffe.trust_domain)
        return frozenset(tds)


class _Unreadable(ValueError):
    pass


def decode_certificates(value: str | bytes) -> list[Any]:
    """Load X.509 certificates from PEM text, base64 of PEM (ztunnel, Envoy ``inlineBytes``) or
    base64 DER. Raises ValueError when nothing decodes."""
    from cryptography import x509

    raw = value.encode("ascii", "replace") if isinstance(value, str) else bytes(value)
    candidates: list[bytes] = [raw]
    if b"-----BEGIN" not in raw:
        with contextlib.suppress(binascii.Error, ValueError):
            candidates.insert(0, base64.b64decode(b"".join(raw.split()), validate=True))
    for blob in candidates:
        if b"-----BEGIN CERTIFICATE-----" in blob:
            try:
                return list(x509.load_pem_x509_certificates(blob))
            except ValueError:
                continue
        try:
            return [x509.load_der_x509_certificate(blob)]
        except ValueError:
            continue
    raise ValueError("no certificate could be decoded")


def _uri_sans(cert: Any) -> tuple[str, ...]:
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(ext.value.get_values_for_type(x509.UniformResourceIdentifier))


def _validity(cert: Any) -> tuple[datetime | None, datetime | None]:
    try:
        return cert.not_valid_before_utc, cert.not_valid_after_utc
    except AttributeError:  # cryptography < 42
        return cert.not_valid_before.replace(tzinfo=UTC), cert.not_valid_after.replace(tzinfo=UTC)


def _first_spiffe(sans: Sequence[str]) -> str | None:
    return next((s for s in sans if s.startswith("spiffe://")), None)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _Unreadable(f"not JSON ({exc.msg} at line {exc.lineno})") from None


def _ztunnel_certs_json(data: Any, proxy: str, source: str) -> list[CertificateIdentity]:
    if isinstance(data, dict):
        # `ztunnel-config all -o json` or a raw config_dump: the list is under "certificates".
        data = data.get("certificates")
    if not isinstance(data, list):
        raise _Unreadable("expected a list of certificates")
    out: list[CertificateIdentity] = []
    for entry in data:
        if not isinstance(entry, dict):
            continue
        identity = entry.get("identity") if isinstance(entry.get("identity"), str) else None
        chain = entry.get("certChain") or entry.get("cert_chain") or []
        sans: tuple[str, ...] = ()
        serial = None
        not_before = _parse_time(entry.get("validFrom"))
        not_after = _parse_time(entry.get("expirationTime"))
        if isinstance(chain, list) and chain and isinstance(chain[0], dict):
            leaf_entry = chain[0]
            pem = leaf_entry.get("pem")
            if isinstance(pem, str) and pem:
                certs = decode_certificates(pem)
                leaf = certs[0]
                sans = _uri_sans(leaf)
                serial = format(leaf.serial_number, "x")
                not_before, not_after = _validity(leaf)
            else:
                not_before = _parse_time(leaf_entry.get("validFrom"))
                not_after = _parse_time(leaf_entry.get("expirationTime"))
                sn = leaf_entry.get("serialNumber")
                if isinstance(sn, str) and sn.isdigit():
                    serial = format(int(sn), "x")
        state = entry.get("state") if isinstance(entry.get("state"), str) else None
        out.append(
            CertificateIdentity(
                proxy,
                source,
                identity or _first_spiffe(sans),
                sans,
                state,
                serial,
                not_before,
                not_after,
            )
        )
    return out


def _ztunnel_certs_table(text: str, proxy: str, source: str) -> list[CertificateIdentity]:
    """The table form (``istioctl zc certificates`` without ``-o json``), for hand-made snapshots:
    one row per certificate, the identity in the first column, the status in the third."""
    out: dict[str, CertificateIdentity] = {}
    for line in text.splitlines():
        cols = line.split()
        if not cols or not cols[0].startswith("spiffe://"):
            continue
        identity = cols[0]
        # TYPE is one or two words ("Leaf", "CA", "Cert Chain"); STATUS follows it.
        rest = cols[1:]
        if len(rest) >= 2 and rest[0] == "Cert" and rest[1] == "Chain":
            rest = rest[2:]
        elif rest:
            rest = rest[1:]
        state = rest[0] if rest else None
        out.setdefault(identity, CertificateIdentity(proxy, source, identity, (), state))
    if not out:
        raise _Unreadable("no certificate rows found")
    return list(out.values())


def _secret_entries(data: Any) -> list[tuple[dict, str]]:
    """(secret, status) pairs from a SecretsConfigDump, a wrapper or a full config_dump."""
    if isinstance(data, dict) and isinstance(data.get("configs"), list):
        for cfg in data["configs"]:
            if isinstance(cfg, dict) and str(cfg.get("@type", "")).endswith("SecretsConfigDump"):
                data = cfg
                break
    if not isinstance(data, dict):
        raise _Unreadable("expected a SecretsConfigDump object")
    out: list[tuple[dict, str]] = []
    for keys, status in (
        (("dynamicActiveSecrets", "dynamic_active_secrets"), "ACTIVE"),
        (("dynamicWarmingSecrets", "dynamic_warming_secrets"), "WARMING"),
        (("staticSecrets", "static_secrets"), "STATIC"),
    ):
        for key in keys:
            for item in data.get(key) or []:
                if isinstance(item, dict) and isinstance(item.get("secret"), dict):
                    out.append((item["secret"], status))
    if not out and not any(
        k in data
        for k in (
            "dynamicActiveSecrets",
            "dynamic_active_secrets",
            "dynamicWarmingSecrets",
            "dynamic_warming_secrets",
        )
    ):
        raise _Unreadable("no secrets in the dump")
    return out


def _inline(ds: Any) -> str | None:
    if not isinstance(ds, dict):
        return None
    for key in ("inlineBytes", "inline_bytes", "inlineString", "inline_string"):
        value = ds.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _proxy_secret_json(data: Any, proxy: str, source: str) -> list[CertificateIdentity]:
    out: list[CertificateIdentity] = []
    for secret, status in _secret_entries(data):
        tls = secret.get("tlsCertificate") or secret.get("tls_certificate")
        if not isinstance(tls, dict):
            continue  # ROOTCA and friends: trust anchors, not the proxy's identity
        chain = _inline(tls.get("certificateChain") or tls.get("certificate_chain"))
        if chain is None:
            continue
        certs = decode_certificates(chain)
        leaf = certs[0]
        sans = _uri_sans(leaf)
        not_before, not_after = _validity(leaf)
        out.append(
            CertificateIdentity(
                proxy,
                source,
                _first_spiffe(sans),
                sans,
                status,
                format(leaf.serial_number, "x"),
                not_before,
                not_after,
            )
        )
    return out


def _workloads_json(data: Any, source: str) -> list[WorkloadIdentity]:
    if isinstance(data, dict):
        data = data.get("workloads", data)
        if isinstance(data, dict):  # older dumps: a map keyed by "network/ip"
            data = list(data.values())
    if not isinstance(data, list):
        raise _Unreadable("expected a list of workloads")
    out: list[WorkloadIdentity] = []
    for wl in data:
        if not isinstance(wl, dict):
            continue
        name, namespace = wl.get("name"), wl.get("namespace")
        if not isinstance(name, str) or not isinstance(namespace, str):
            continue
        waypoint = wl.get("waypoint")
        waypoint_text = None
        if isinstance(waypoint, dict):
            dest = waypoint.get("destination")
            if isinstance(dest, str) and dest:
                waypoint_text = dest
            elif isinstance(waypoint.get("address"), dict):
                waypoint_text = json.dumps(waypoint["address"], sort_keys=True)
        ips = wl.get("workloadIps") or wl.get("workload_ips") or []
        policies = wl.get("authorizationPolicies") or []
        out.append(
            WorkloadIdentity(
                name=name,
                namespace=namespace,
                service_account=str(wl.get("serviceAccount") or "default"),
                trust_domain=str(wl.get("trustDomain") or DEFAULT_TRUST_DOMAIN),
                node=wl.get("node") if isinstance(wl.get("node"), str) else None,
                protocol=wl.get("protocol") if isinstance(wl.get("protocol"), str) else None,
                waypoint=waypoint_text,
                addresses=tuple(str(ip) for ip in ips if isinstance(ip, str)),
                uid=wl.get("uid") if isinstance(wl.get("uid"), str) else None,
                authorization_policies=tuple(p for p in policies if isinstance(p, str)),
                source=source,
            )
        )
    return out


def _version_json(data: Any) -> IstioVersions:
    if not isinstance(data, dict):
        raise _Unreadable("expected a version object")
    client = data.get("clientVersion")
    client_version = client.get("version") if isinstance(client, dict) else None
    mesh = []
    for item in data.get("meshVersion") or []:
        if isinstance(item, dict) and isinstance(item.get("Info"), dict):
            mesh.append((str(item.get("Component", "")), str(item["Info"].get("version", ""))))
    dataplane = []
    for item in data.get("dataPlaneVersion") or []:
        if isinstance(item, dict):
            dataplane.append((str(item.get("ID", "")), str(item.get("IstioVersion", ""))))
    return IstioVersions(
        client_version if isinstance(client_version, str) else None, tuple(mesh), tuple(dataplane)
    )


def parse_captures(outputs: Mapping[str, str]) -> Identities:
    """Read istioctl outputs (live captures or a snapshot's ``istioctl/`` files) into identities.

    Unknown file names are ignored; a file that cannot be read becomes one ``CaptureProblem``
    and the others are still used."""
    ztunnel_certs: list[CertificateIdentity] = []
    waypoint_certs: list[CertificateIdentity] = []
    workloads: dict[tuple[str, str, str], WorkloadIdentity] = {}
    version: IstioVersions | None = None
    problems: list[CaptureProblem] = []
    sources: list[str] = []
    for name in sorted(outputs):
        if name == ERRORS_FILE:
            for line in (outputs[name] or "").splitlines():
                if line.strip():
                    problems.append(CaptureProblem(name, safe_text(line, max_len=300)))
            continue
        kind, pod, namespace, _ext = _split_file_name(name)
        if kind not in (ZTUNNEL_CERTS, ZTUNNEL_WORKLOADS, PROXY_SECRET, VERSION):
            continue
        text = outputs[name] or ""
        proxy = f"{pod}.{namespace}" if pod else ""
        try:
            stripped = text.lstrip()
            if kind == ZTUNNEL_CERTS:
                if stripped.startswith(("[", "{")):
                    ztunnel_certs += _ztunnel_certs_json(_load_json(text), proxy, name)
                else:
                    ztunnel_certs += _ztunnel_certs_table(text, proxy, name)
            elif kind == ZTUNNEL_WORKLOADS:
                for wl in _workloads_json(_load_json(text), name):
                    workloads.setdefault((wl.namespace, wl.name, wl.uid or ""), wl)
            elif kind == PROXY_SECRET:
                waypoint_certs += _proxy_secret_json(_load_json(text), proxy, name)
            else:
                version = _version_json(_load_json(text))
        except (_Unreadable, ValueError, TypeError, KeyError, AttributeError) as exc:
            problems.append(CaptureProblem(name, safe_text(str(exc) or type(exc).__name__, max_len=200)))
            continue
        sources.append(name)
    return Identities(
        tuple(ztunnel_certs),
        tuple(waypoint_certs),
        tuple(sorted(workloads.values(), key=lambda w: (w.namespace, w.name))),
        version,
        tuple(problems),
        tuple(sources),
    )
