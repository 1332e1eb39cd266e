"""AuthorizationPolicy objects as frozen dataclasses, parsed from plain API dicts.

``parse_policy`` accepts what the API server (or a snapshot file) holds for
``security.istio.io/v1`` and ``v1beta1`` and never raises: whatever is malformed becomes a
:class:`Problem` on the parsed policy, with a stable code and a JSON-path-like location, and the
parser keeps what it can. Semantics that follow from the shape (``spec: {}`` allows nothing,
``rules: [{}]`` allows everything) are preserved exactly: an absent list stays distinguishable
from an empty one where Istio treats them differently.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

API_GROUP = "security.istio.io"
KNOWN_API_VERSIONS = (f"{API_GROUP}/v1", f"{API_GROUP}/v1beta1")
DRY_RUN_ANNOTATION = "istio.io/dry-run"

# strconv.ParseBool, which istiod uses for the dry-run annotation.
_PARSE_BOOL_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_PARSE_BOOL_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class Action(StrEnum):
    ALLOW = "ALLOW"
    DENY = "DENY"
    AUDIT = "AUDIT"
    CUSTOM = "CUSTOM"


class Severity(StrEnum):
    ERROR = "error"  # istiod's webhook would refuse it, or a proxy skips it
    WARNING = "warning"  # accepted, but it will not do what it seems to say


@dataclass(frozen=True)
class Problem:
    code: str
    location: str
    message: str
    severity: Severity = Severity.ERROR


@dataclass(frozen=True)
class TargetRef:
    kind: str
    name: str
    group: str = ""
    namespace: str | None = None
    location: str = ""

    @property
    def canonical_group(self) -> str:
        """``""`` and ``core`` are the same group (istiod's CanonicalGroup)."""
        return "core" if self.group in ("", "core") else self.group

    def describe(self) -> str:
        """As istiod prints it in status: ``Service.core:ns/name``."""
        return f"{self.kind}.{self.canonical_group}:{self.namespace or ''}/{self.name}"


SOURCE_FIELDS: tuple[tuple[str, str], ...] = (
    ("principals", "principals"),
    ("notPrincipals", "not_principals"),
    ("requestPrincipals", "request_principals"),
    ("notRequestPrincipals", "not_request_principals"),
    ("namespaces", "namespaces"),
    ("notNamespaces", "not_namespaces"),
    ("serviceAccounts", "service_accounts"),
    ("notServiceAccounts", "not_service_accounts"),
    ("ipBlocks", "ip_blocks"),
    ("notIpBlocks", "not_ip_blocks"),
    ("remoteIpBlocks", "remote_ip_blocks"),
    ("notRemoteIpBlocks", "not_remote_ip_blocks"),
    ("trustDomains", "trust_domains"),
    ("notTrustDomains", "not_trust_domains"),
)

OPERATION_FIELDS: tuple[tuple[str, str], ...] = (
    ("hosts", "hosts"),
    ("notHosts", "not_hosts"),
    ("ports", "ports"),
    ("notPorts", "not_ports"),
    ("methods", "methods"),
    ("notMethods", "not_methods"),
    ("paths", "paths"),
    ("notPaths", "not_paths"),
)


@dataclass(frozen=True)
class Source:
    principals: tuple[str, ...] = ()
    not_principals: tuple[str, ...] = ()
    request_principals: tuple[str, ...] = ()
    not_request_principals: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    not_namespaces: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    not_service_accounts: tuple[str, ...] = ()
    ip_blocks: tuple[str, ...] = ()
    not_ip_blocks: tuple[str, ...] = ()
    remote_ip_blocks: tuple[str, ...] = ()
    not_remote_ip_blocks: tuple[str, ...] = ()
    trust_domains: tuple[str, ...] = ()
    not_trust_domains: tuple[str, ...] = ()
    location: str = ""

    def fields(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        """(API field name, values) for every non-empty field, in API order."""
        for api_name, attr in SOURCE_FIELDS:
            values = getattr(self, attr)
            if values:
                yield api_name, values

    @property
    def is_empty(self) -> bool:
        return not any(True for _ in self.fields())


@dataclass(frozen=True)
class Operation:
    hosts: tuple[str, ...] = ()
    not_hosts: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    not_ports: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    not_methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    not_paths: tuple[str, ...] = ()
    location: str = ""

    def fields(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        for api_name, attr in OPERATION_FIELDS:
            values = getattr(self, attr)
            if values:
                yield api_name, values

    @property
    def is_empty(self) -> bool:
        return not any(True for _ in self.fields())


@dataclass(frozen=True)
class Condition:
    key: str
    values: tuple[str, ...] = ()
    not_values: tuple[str, ...] = ()
    location: str = ""


@dataclass(frozen=True)
class Rule:
    """One rule. ``sources``/``operations`` are None when ``from``/``to`` is absent (any).

    ``skipped`` is set when istiod cannot build the rule at all (a null rule, an unknown
    ``when`` key): the proxy then drops it, whatever its action.
    """

    index: int
    sources: tuple[Source, ...] | None = None
    operations: tuple[Operation, ...] | None = None
    conditions: tuple[Condition, ...] = ()
    location: str = ""
    skipped: str | None = None

    @property
    def is_match_all(self) -> bool:
        """``{}``: no from, no to, no when."""
        return not self.sources and not self.operations and not self.conditions and self.skipped is None


@dataclass(frozen=True)
class StatusCondition:
    type: str
    status: str
    reason: str = ""
    message: str = ""
    observed_generation: int | None = None


@dataclass(frozen=True)
class AuthorizationPolicy:
    namespace: str
    name: str
    action: Action | None = Action.ALLOW  # None: a value Istio does not know
    api_version: str = f"{API_GROUP}/v1"
    provider: str | None = None
    selector: tuple[tuple[str, str], ...] | None = None  # matchLabels, sorted; None: no selector
    target_refs: tuple[TargetRef, ...] = ()
    target_ref_field: str | None = None  # "targetRefs" or "targetRef" (the one Istio uses)
    rules: tuple[Rule, ...] = ()
    rules_present: bool = False  # False for an absent `rules` (or `spec: {}`)
    dry_run: bool = False
    dry_run_annotation: str | None = None
    conditions: tuple[StatusCondition, ...] = ()
    generation: int | None = None
    problems: tuple[Problem, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def has_selector(self) -> bool:
        return self.selector is not None

    @property
    def selector_labels(self) -> dict[str, str]:
        return dict(self.selector or ())

    @property
    def is_namespace_wide(self) -> bool:
        """No selector and no targetRef: every workload of the namespace (mesh-wide in root)."""
        return self.selector is None and not self.target_refs

    @property
    def is_allow_nothing(self) -> bool:
        return self.action is Action.ALLOW and not self.rules

    def condition(self, condition_type: str) -> StatusCondition | None:
        for condition in self.conditions:
            if condition.type == condition_type:
                return condition
        return None

    def rule_id(self, index: int) -> str:
        """Envoy's RBAC policy name: what a waypoint's 403 access log carries."""
        return envoy_rule_id(self.namespace, self.name, index)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


def envoy_rule_id(namespace: str, name: str, index: int) -> str:
    return f"ns[{namespace}]-policy[{name}]-rule[{index}]"


def parse_bool(value: str) -> bool | None:
    """Go's strconv.ParseBool: None when the text is not a boolean."""
    if value in _PARSE_BOOL_TRUE:
        return True
    if value in _PARSE_BOOL_FALSE:
        return False
    return None


# ---------------------------------------------------------------------------------------------
# parsing


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, code: str, location: str, message: str, severity: Severity = Severity.ERROR) -> None:
        self.problems.append(Problem(code, location, message, severity))


def _is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


def _string(value: Any, location: str, out: _Collector, *, default: str = "") -> str:
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        out.add("wrong-type", location, f"expected a string, got {type(value).__name__}")
        return default
    out.add("wrong-type", location, f"expected a string, got the number {value!r}")
    return str(value)


def _string_list(value: Any, location: str, out: _Collector) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        out.add(
            "wrong-type", location, "expected a list of strings, got a single string (read as a list of one)"
        )
        return (value,)
    if not isinstance(value, list | tuple):
        out.add("wrong-type", location, f"expected a list of strings, got {type(value).__name__}")
        return ()
    items: list[str] = []
    for index, item in enumerate(value):
        item_location = f"{location}[{index}]"
        if isinstance(item, str):
            items.append(item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            out.add("wrong-type", item_location, f"expected a string, got the number {item!r} (read as text)")
            items.append(str(item))
        else:
            out.add("wrong-type", item_location, f"expected a string, got {type(item).__name__} (ignored)")
    return tuple(items)


def _check_unknown_fields(
    obj: Mapping[str, Any], known: Sequence[str], location: str, out: _Collector
) -> None:
    for key in obj:
        if key not in known:
            out.add(
                "unknown-field",
                f"{location}.{key}" if location else str(key),
                f"unknown field {key!r} (the API server prunes or refuses it; Istio never sees it)",
            )


def _parse_source(raw: Any, location: str, out: _Collector) -> Source:
    if not _is_mapping(raw):
        out.add("wrong-type", location, f"expected an object, got {type(raw).__name__}")
        return Source(location=location)
    _check_unknown_fields(raw, [name for name, _ in SOURCE_FIELDS], location, out)
    values = {attr: _string_list(raw.get(api), f"{location}.{api}", out) for api, attr in SOURCE_FIELDS}
    return Source(**values, location=location)


def _parse_operation(raw: Any, location: str, out: _Collector) -> Operation:
    if not _is_mapping(raw):
        out.add("wrong-type", location, f"expected an object, got {type(raw).__name__}")
        return Operation(location=location)
    _check_unknown_fields(raw, [name for name, _ in OPERATION_FIELDS], location, out)
    values = {attr: _string_list(raw.get(api), f"{location}.{api}", out) for api, attr in OPERATION_FIELDS}
    return Operation(**values, location=location)


def _parse_entries(
    raw: Any, location: str, inner: str, out: _Collector, parse_inner: Any
) -> tuple[Any, ...] | None:
    """``from``/``to``: a list of ``{source: …}`` / ``{operation: …}``."""
    if raw is None:
        return None
    if not isinstance(raw, list | tuple):
        out.add("wrong-type", location, f"expected a list, got {type(raw).__name__}")
        return None
    if not raw:
        name = location.rsplit(".", 1)[-1]
        out.add(f"empty-{name}", location, f"`{name}` must not be empty: leave it out to match any")
        return None
    entries = []
    for index, entry in enumerate(raw):
        entry_location = f"{location}[{index}]"
        inner_location = f"{entry_location}.{inner}"
        if not _is_mapping(entry):
            out.add(
                "wrong-type", entry_location, f"expected an object with `{inner}`, got {type(entry).__name__}"
            )
            entries.append(parse_inner({}, inner_location, _Collector()))
            continue
        _check_unknown_fields(entry, [inner], entry_location, out)
        if entry.get(inner) is None:
            out.add(f"missing-{inner}", entry_location, f"`{inner}` must be set in every entry")
            entries.append(parse_inner({}, inner_location, _Collector()))
            continue
        entries.append(parse_inner(entry[inner], inner_location, out))
    return tuple(entries)


def _parse_condition(raw: Any, location: str, out: _Collector) -> Condition:
    if not _is_mapping(raw):
        out.add("wrong-type", location, f"expected an object with key/values, got {type(raw).__name__}")
        return Condition(key="", location=location)
    _check_unknown_fields(raw, ["key", "values", "notValues"], location, out)
    key = _string(raw.get("key"), f"{location}.key", out)
    return Condition(
        key=key,
        values=_string_list(raw.get("values"), f"{location}.values", out),
        not_values=_string_list(raw.get("notValues"), f"{location}.notValues", out),
        location=location,
    )


def _parse_rule(raw: Any, index: int, out: _Collector) -> Rule:
    location = f"spec.rules[{index}]"
    if raw is None:
        out.add("nil-rule", location, "a null rule is skipped by istiod")
        return Rule(index=index, location=location, skipped="null rule")
    if not _is_mapping(raw):
        out.add("wrong-type", location, f"expected a rule object, got {type(raw).__name__}")
        return Rule(index=index, location=location, skipped="not an object")
    _check_unknown_fields(raw, ["from", "to", "when"], location, out)
    sources = _parse_entries(raw.get("from"), f"{location}.from", "source", out, _parse_source)
    operations = _parse_entries(raw.get("to"), f"{location}.to", "operation", out, _parse_operation)
    conditions: tuple[Condition, ...] = ()
    when = raw.get("when")
    if when is not None:
        if isinstance(when, list | tuple):
            conditions = tuple(_parse_condition(c, f"{location}.when[{i}]", out) for i, c in enumerate(when))
        else:
            out.add("wrong-type", f"{location}.when", f"expected a list, got {type(when).__name__}")
    return Rule(index=index, sources=sources, operations=operations, conditions=conditions, location=location)


def _parse_target_ref(raw: Any, location: str, out: _Collector) -> TargetRef | None:
    if not _is_mapping(raw):
        out.add("wrong-type", location, f"expected a targetRef object, got {type(raw).__name__}")
        return None
    _check_unknown_fields(raw, ["group", "kind", "name", "namespace"], location, out)
    namespace = raw.get("namespace")
    return TargetRef(
        kind=_string(raw.get("kind"), f"{location}.kind", out),
        name=_string(raw.get("name"), f"{location}.name", out),
        group=_string(raw.get("group"), f"{location}.group", out),
        namespace=_string(namespace, f"{location}.namespace", out) if namespace is not None else None,
        location=location,
    )


def _parse_selector(raw: Any, out: _Collector) -> tuple[tuple[str, str], ...] | None:
    if raw is None:
        return None
    if not _is_mapping(raw):
        out.add("wrong-type", "spec.selector", f"expected an object, got {type(raw).__name__}")
        return ()
    _check_unknown_fields(raw, ["matchLabels"], "spec.selector", out)
    labels = raw.get("matchLabels")
    if labels is None:
        return ()
    if not _is_mapping(labels):
        out.add("wrong-type", "spec.selector.matchLabels", f"expected a map, got {type(labels).__name__}")
        return ()
    return tuple(
        sorted((str(k), _string(v, f"spec.selector.matchLabels.{k}", out)) for k, v in labels.items())
    )


def _parse_conditions(status: Any, out: _Collector) -> tuple[StatusCondition, ...]:
    if not _is_mapping(status):
        return ()
    raw = status.get("conditions")
    if not isinstance(raw, list):
        return ()
    parsed = []
    for index, item in enumerate(raw):
        if not _is_mapping(item):
            continue
        generation = item.get("observedGeneration")
        parsed.append(
            StatusCondition(
                type=_string(item.get("type"), f"status.conditions[{index}].type", out),
                status=_string(item.get("status"), f"status.conditions[{index}].status", out),
                reason=_string(item.get("reason"), f"status.conditions[{index}].reason", out),
                message=_string(item.get("message"), f"status.conditions[{index}].message", out),
                observed_generation=generation if isinstance(generation, int) else None,
            )
        )
    return tuple(parsed)


def parse_policy(obj: Any) -> AuthorizationPolicy:
    """Parse one AuthorizationPolicy object; never raises."""
    try:
        return _parse_policy(obj)
    except Exception as exc:  # a parser bug must not take the run down; report it instead
        return AuthorizationPolicy(
            namespace="",
            name="",
            action=None,
            problems=(Problem("parse-failure", "", f"could not parse the policy: {exc!r}"),),
        )


def parse_policies(objects: Sequence[Any]) -> tuple[AuthorizationPolicy, ...]:
    return tuple(parse_policy(obj) for obj in objects)


def _parse_policy(obj: Any) -> AuthorizationPolicy:
    from waypoint_doctor.authz.validate import validate_policy

    out = _Collector()
    if not _is_mapping(obj):
        out.add("not-an-object", "", f"expected an AuthorizationPolicy object, got {type(obj).__name__}")
        return AuthorizationPolicy(namespace="", name="", action=None, problems=tuple(out.problems))

    api_version = _string(obj.get("apiVersion"), "apiVersion", out, default=f"{API_GROUP}/v1")
    if api_version not in KNOWN_API_VERSIONS:
        out.add(
            "unexpected-api-version",
            "apiVersion",
            f"apiVersion {api_version!r} is not one of {', '.join(KNOWN_API_VERSIONS)}",
            Severity.WARNING,
        )
    kind = obj.get("kind")
    if kind is not None and kind != "AuthorizationPolicy":
        out.add("unexpected-kind", "kind", f"kind is {kind!r}, not AuthorizationPolicy", Severity.WARNING)

    metadata = obj.get("metadata")
    if not _is_mapping(metadata):
        out.add("missing-metadata", "metadata", "metadata (name, namespace) is missing")
        metadata = {}
    name = _string(metadata.get("name"), "metadata.name", out)
    namespace = _string(metadata.get("namespace"), "metadata.namespace", out)
    if not name:
        out.add("missing-name", "metadata.name", "the policy has no name")
    if not namespace:
        out.add("missing-namespace", "metadata.namespace", "the policy has no namespace")
    generation = metadata.get("generation")
    annotations = metadata.get("annotations")
    dry_run_annotation: str | None = None
    dry_run = False
    if _is_mapping(annotations) and DRY_RUN_ANNOTATION in annotations:
        dry_run_annotation = _string(
            annotations.get(DRY_RUN_ANNOTATION), f"metadata.annotations.{DRY_RUN_ANNOTATION}", out
        )
        parsed = parse_bool(dry_run_annotation)
        if parsed is None:
            out.add(
                "dry-run-invalid",
                f"metadata.annotations.{DRY_RUN_ANNOTATION}",
                f"{dry_run_annotation!r} is not a boolean; istiod enforces the policy as if it were not dry-run",
                Severity.WARNING,
            )
        dry_run = bool(parsed)

    spec = obj.get("spec")
    if spec is None:
        spec = {}
    if not _is_mapping(spec):
        out.add("wrong-type", "spec", f"expected an object, got {type(spec).__name__}")
        spec = {}
    _check_unknown_fields(
        spec, ["selector", "targetRef", "targetRefs", "rules", "action", "provider"], "spec", out
    )

    raw_action = spec.get("action")
    action: Action | None = Action.ALLOW
    if raw_action is not None:
        text = _string(raw_action, "spec.action", out)
        try:
            action = Action(text)
        except ValueError:
            out.add("invalid-action", "spec.action", f"action {text!r} is not ALLOW, DENY, AUDIT or CUSTOM")
            action = None

    provider: str | None = None
    raw_provider = spec.get("provider")
    if raw_provider is not None:
        if _is_mapping(raw_provider):
            provider = _string(raw_provider.get("name"), "spec.provider.name", out) or None
        else:
            out.add(
                "wrong-type",
                "spec.provider",
                f"expected an object with `name`, got {type(raw_provider).__name__}",
            )

    selector = _parse_selector(spec.get("selector"), out)

    plural: list[TargetRef] = []
    raw_refs = spec.get("targetRefs")
    if raw_refs is not None:
        if isinstance(raw_refs, list | tuple):
            for index, raw_ref in enumerate(raw_refs):
                ref = _parse_target_ref(raw_ref, f"spec.targetRefs[{index}]", out)
                if ref is not None:
                    plural.append(ref)
        else:
            out.add("wrong-type", "spec.targetRefs", f"expected a list, got {type(raw_refs).__name__}")
    singular = (
        _parse_target_ref(spec.get("targetRef"), "spec.targetRef", out)
        if spec.get("targetRef") is not None
        else None
    )
    # model.GetTargetRefs: targetRefs when non-empty, else the legacy singular targetRef.
    target_refs: tuple[TargetRef, ...] = ()
    target_ref_field: str | None = None
    if plural:
        target_refs, target_ref_field = tuple(plural), "targetRefs"
    elif singular is not None:
        target_refs, target_ref_field = (singular,), "targetRef"

    rules: list[Rule] = []
    raw_rules = spec.get("rules")
    rules_present = raw_rules is not None
    if raw_rules is not None:
        if isinstance(raw_rules, list | tuple):
            rules = [_parse_rule(raw_rule, index, out) for index, raw_rule in enumerate(raw_rules)]
        else:
            out.add("wrong-type", "spec.rules", f"expected a list, got {type(raw_rules).__name__}")
            rules_present = False

    policy = AuthorizationPolicy(
        namespace=namespace,
        name=name,
        action=action,
        api_version=api_version,
        provider=provider,
        selector=selector,
        target_refs=target_refs,
        target_ref_field=target_ref_field,
        rules=tuple(rules),
        rules_present=rules_present,
        dry_run=dry_run,
        dry_run_annotation=dry_run_annotation,
        conditions=_parse_conditions(obj.get("status"), out),
        generation=generation if isinstance(generation, int) and not isinstance(generation, bool) else None,
    )
    extra = validate_policy(
        policy,
        selector_and_target=(selector is not None) + bool(plural) + (singular is not None),
    )
    # Rules istiod cannot build (an unknown `when` key) are skipped by the proxy.
    skipped = {p.location.split(".when")[0] for p in extra if p.code == "when-unknown-key"}
    if skipped:
        policy = _with_skipped_rules(policy, skipped)
    return _replace_problems(policy, (*out.problems, *extra))


def _with_skipped_rules(policy: AuthorizationPolicy, locations: set[str]) -> AuthorizationPolicy:
    rules = tuple(
        replace(rule, skipped=rule.skipped or "a `when` key istiod does not know")
        if rule.location in locations
        else rule
        for rule in policy.rules
    )
    return replace(policy, rules=rules)


def _replace_problems(policy: AuthorizationPolicy, problems: Sequence[Problem]) -> AuthorizationPolicy:
    return replace(policy, problems=tuple(problems))
