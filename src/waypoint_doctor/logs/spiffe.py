"""SPIFFE identities as Istio writes them: ``spiffe://<trust-domain>/ns/<namespace>/sa/<sa>``.

Logs and certificates carry the URI form; AuthorizationPolicy principals use the same text
without the ``spiffe://`` scheme (``<trust-domain>/ns/<namespace>/sa/<sa>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["DEFAULT_TRUST_DOMAIN", "SpiffeId", "parse_spiffe"]

DEFAULT_TRUST_DOMAIN = "cluster.local"
_SCHEME = "spiffe://"


@dataclass(frozen=True, slots=True)
class SpiffeId:
    trust_domain: str
    namespace: str
    service_account: str

    @property
    def uri(self) -> str:
        """``spiffe://td/ns/x/sa/y``: the form in certificates and ztunnel logs."""
        return f"{_SCHEME}{self.principal}"

    @property
    def principal(self) -> str:
        """``td/ns/x/sa/y``: the form AuthorizationPolicy ``principals`` use."""
        return f"{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"

    def __str__(self) -> str:
        return self.uri

    @classmethod
    def for_service_account(
        cls, namespace: str, service_account: str, trust_domain: str = DEFAULT_TRUST_DOMAIN
    ) -> SpiffeId:
        return cls(trust_domain or DEFAULT_TRUST_DOMAIN, namespace, service_account or "default")


@lru_cache(maxsize=4096)
def parse_spiffe(value: str | None) -> SpiffeId | None:
    """Parse the URI form or the principal form; anything else gives ``None``."""
    if not value:
        return None
    text = value.strip()
    if text.startswith(_SCHEME):
        text = text[len(_SCHEME) :]
    parts = text.split("/")
    if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa":
        return None
    trust_domain, _, namespace, _, service_account = parts
    if not trust_domain or not namespace or not service_account:
        return None
    return SpiffeId(trust_domain, namespace, service_account)
