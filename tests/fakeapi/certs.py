"""Throwaway TLS material for the fake API server: a CA and a server certificate for 127.0.0.1.

Built with `cryptography` rather than by shelling out to openssl, so it works offline and the
same way everywhere. Keys are ECDSA P-256: generating them takes a millisecond, where RSA 2048
would cost tens, and both Go's crypto/tls (kubectl) and Python's ssl accept them.
"""

from __future__ import annotations

import atexit
import datetime as dt
import ipaddress
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsBundle:
    """Paths of PEM files in `directory`, plus the CA certificate itself for kubeconfigs."""

    directory: Path
    ca_cert_path: Path
    cert_path: Path
    key_path: Path
    ca_cert_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "waypoint-doctor fakeapi"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def generate_tls_bundle(
    directory: str | Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> TlsBundle:
    """Write `ca.crt`, `server.crt` and `server.key` into `directory` and return their paths.

    The server certificate names every host as a SAN, as an IP address when it parses as one and
    as a DNS name otherwise: Go refuses certificates that only carry a common name.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    not_before, not_after = now - dt.timedelta(hours=1), now + dt.timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("fakeapi test CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("fakeapi"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    bundle = TlsBundle(
        directory=directory,
        ca_cert_path=directory / "ca.crt",
        cert_path=directory / "server.crt",
        key_path=directory / "server.key",
        ca_cert_pem=ca_pem,
    )
    bundle.ca_cert_path.write_bytes(ca_pem)
    # The chain file carries the CA too, so clients that only trust the CA still build the path.
    bundle.cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
    bundle.key_path.write_bytes(_pem_key(server_key))
    bundle.key_path.chmod(0o600)
    return bundle


_shared_lock = threading.Lock()
_shared_bundle: TlsBundle | None = None


def shared_tls_bundle() -> TlsBundle:
    """One bundle per test process, in a temp dir removed at exit, so each server starts fast."""
    global _shared_bundle
    with _shared_lock:
        if _shared_bundle is None:
            directory = Path(tempfile.mkdtemp(prefix="fakeapi-tls-"))
            atexit.register(shutil.rmtree, directory, True)
            _shared_bundle = generate_tls_bundle(directory)
        return _shared_bundle
