"""Test certificates made on the fly with ``cryptography`` (never committed, no key kept)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOT_BEFORE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class TestCA:
    """A throwaway mesh CA issuing SPIFFE workload certificates like istiod's."""

    __test__ = False  # not a pytest class

    def __init__(self, trust_domain: str = "cluster.local") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOT_BEFORE - timedelta(days=1))
            .not_valid_after(NOT_BEFORE + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, spiffe_id: str, *, hours: int = 24, extra_uris: tuple[str, ...] = ()) -> x509.Certificate:
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        uris = [x509.UniformResourceIdentifier(u) for u in (spiffe_id, *extra_uris) if u]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.cert.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOT_BEFORE)
            .not_valid_after(NOT_BEFORE + timedelta(hours=hours))
        )
        if uris:
            builder = builder.add_extension(x509.SubjectAlternativeName(uris), critical=True)
        return builder.sign(self.key, hashes.SHA256())

    def chain_pem(self, spiffe_id: str, **kwargs) -> str:
        leaf = self.issue(spiffe_id, **kwargs)
        return leaf.public_bytes(serialization.Encoding.PEM).decode() + self.pem


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)
