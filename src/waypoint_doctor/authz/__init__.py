"""The AuthorizationPolicy engine: Istio's semantics, pure (no I/O, no Kubernetes client).

- :mod:`model`: parse policy objects into frozen dataclasses, with problems instead of errors;
- :mod:`validate`: what istiod's webhook refuses and what will silently not match;
- :mod:`attributes`: L4 versus HTTP attributes, per enforcer;
- :mod:`match`: value matchers, per enforcer;
- :mod:`attach`: where each policy is enforced for a Service, and its ztunnel (L4) form;
- :mod:`evaluate`: one request at one enforcer, with trace and nearest miss;
- :mod:`hops`: client -> waypoint -> workload, end to end;
- :mod:`table`: the effective decision table of a Service.
"""

from waypoint_doctor.authz.attach import (
    Attachment,
    Enforcer,
    RuleFate,
    Scope,
    ServiceTarget,
    WaypointRef,
    ZtunnelConversion,
    attach_policies,
    attach_policy,
    convert_for_ztunnel,
)
from waypoint_doctor.authz.evaluate import (
    DecidedBy,
    Decision,
    NearestMiss,
    PolicyTrace,
    Request,
    RuleTrace,
    Verdict,
    evaluate,
)
from waypoint_doctor.authz.hops import Hop, HopsResult, evaluate_hops
from waypoint_doctor.authz.logic import Tri
from waypoint_doctor.authz.model import (
    Action,
    AuthorizationPolicy,
    Problem,
    Severity,
    envoy_rule_id,
    parse_policies,
    parse_policy,
)
from waypoint_doctor.authz.table import DecisionTable, decision_table

__all__ = [
    "Action",
    "Attachment",
    "AuthorizationPolicy",
    "DecidedBy",
    "Decision",
    "DecisionTable",
    "Enforcer",
    "Hop",
    "HopsResult",
    "NearestMiss",
    "PolicyTrace",
    "Problem",
    "Request",
    "RuleFate",
    "RuleTrace",
    "Scope",
    "ServiceTarget",
    "Severity",
    "Tri",
    "Verdict",
    "WaypointRef",
    "ZtunnelConversion",
    "attach_policies",
    "attach_policy",
    "convert_for_ztunnel",
    "decision_table",
    "envoy_rule_id",
    "evaluate",
    "evaluate_hops",
    "parse_policies",
    "parse_policy",
]
