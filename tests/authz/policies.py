"""Policy objects shared by the authz tests, as the API returns them (plain dicts)."""

from __future__ import annotations

from typing import Any

TD = "cluster.local"
NS = "kagenti-system"
OTEL = f"{TD}/ns/{NS}/sa/otel-collector"
UI = f"{TD}/ns/{NS}/sa/kagenti-ui"
STRANGER = f"{TD}/ns/default/sa/curl"
WAYPOINT_IDENTITY = f"{TD}/ns/{NS}/sa/mlflow-waypoint"


def policy(
    name: str,
    spec: dict[str, Any] | None,
    *,
    namespace: str = NS,
    api_version: str = "security.istio.io/v1",
    annotations: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    obj: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": "AuthorizationPolicy",
        "metadata": metadata,
        "spec": spec if spec is not None else {},
    }
    if status is not None:
        obj["status"] = status
    return obj


def rule(
    *,
    principals: list[str] | None = None,
    methods: list[str] | None = None,
    paths: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A rule with one `from` entry and one `to` entry built from the keyword arguments."""
    source = {k: v for k, v in {"principals": principals}.items() if v is not None}
    operation = {k: v for k, v in {"methods": methods, "paths": paths}.items() if v is not None}
    for key, value in extra.items():
        if key in (
            "namespaces",
            "notPrincipals",
            "serviceAccounts",
            "ipBlocks",
            "requestPrincipals",
            "trustDomains",
            "notNamespaces",
            "notServiceAccounts",
            "remoteIpBlocks",
            "notIpBlocks",
            "notTrustDomains",
        ):
            source[key] = value
        elif key == "when":
            pass
        else:
            operation[key] = value
    out: dict[str, Any] = {}
    if source:
        out["from"] = [{"source": source}]
    if operation:
        out["to"] = [{"operation": operation}]
    if "when" in extra:
        out["when"] = extra["when"]
    return out


def service_target_ref(name: str = "mlflow") -> list[dict[str, str]]:
    return [{"kind": "Service", "group": "", "name": name}]


# The "Multiple Rules Example" of the kagenti skill (seed/istio-ambient-waypoint-skill.md).
MLFLOW_API_ACCESS = policy(
    "mlflow-api-access",
    {
        "targetRefs": service_target_ref(),
        "action": "ALLOW",
        "rules": [
            {
                "from": [{"source": {"principals": [OTEL]}}],
                "to": [{"operation": {"methods": ["POST"], "paths": ["/v1/traces"]}}],
            },
            {
                "from": [{"source": {"principals": [UI]}}],
                "to": [{"operation": {"methods": ["GET", "POST"], "paths": ["/*"]}}],
            },
        ],
    },
)

ALLOW_NOTHING = policy("allow-nothing", {})
