"""The fake API server enforces RBAC objects as the Kubernetes RBAC authorizer does, and its
access reviews agree with what it enforces.

The least-privilege proof of deploy/rbac.yaml (tests/test_rbac.py) is only as good as this
enforcement, so it is checked rule form by rule form, then end to end with the official client
and the real kubectl.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from test_fakeapi import api_client_for, raw_get, ssar

from fakeapi.fixtures import BASIC_SCENARIO
from fakeapi.rbac import Attributes, PolicyRule, Rbac
from fakeapi.server import FakeApiServer

USER = "system:serviceaccount:waypoint-doctor:waypoint-doctor"
GROUPS = ("system:serviceaccounts", "system:serviceaccounts:waypoint-doctor", "system:authenticated")


def rule(**raw: Any) -> PolicyRule:
    return PolicyRule.from_mapping(raw)


def cluster_role(name: str, *rules: dict[str, Any], labels: dict[str, str] | None = None) -> dict:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": meta,
        "rules": list(rules),
    }


def role(namespace: str, name: str, *rules: dict[str, Any]) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": list(rules),
    }


def binding(
    kind: str, name: str, ref_kind: str, ref_name: str, subject: dict[str, str], namespace: str = ""
) -> dict:
    meta = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": ref_name},
        "subjects": [subject],
    }


SA = {"kind": "ServiceAccount", "name": "waypoint-doctor", "namespace": "waypoint-doctor"}


# ---------------------------------------------------------------------------------------------
# rule forms


@pytest.mark.parametrize(
    ("raw", "attrs", "expected"),
    [
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, Attributes("get", "", "pods"), True),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, Attributes("list", "", "pods"), False),
        ({"verbs": ["*"], "apiGroups": [""], "resources": ["pods"]}, Attributes("list", "", "pods"), True),
        (
            {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods"]},
            Attributes("get", "", "pods"),
            False,
        ),
        (
            {"verbs": ["get"], "apiGroups": ["*"], "resources": ["pods"]},
            Attributes("get", "x.io", "pods"),
            True,
        ),
        # a resource does not grant its subresources, nor the other way round
        (
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
            Attributes("get", "", "pods", "log"),
            False,
        ),
        (
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]},
            Attributes("get", "", "pods"),
            False,
        ),
        (
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]},
            Attributes("get", "", "pods", "log"),
            True,
        ),
        (
            {"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]},
            Attributes("get", "", "pods", "log"),
            True,
        ),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]}, Attributes("get", "", "pods"), False),
        (
            {"verbs": ["get"], "apiGroups": [""], "resources": ["*"]},
            Attributes("get", "", "pods", "log"),
            True,
        ),
        # resourceNames: only requests that name one; a list never does
        (
            {
                "verbs": ["get", "list"],
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": ["istio"],
            },
            Attributes("get", "", "configmaps", namespace="istio-system", name="istio"),
            True,
        ),
        (
            {
                "verbs": ["get", "list"],
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": ["istio"],
            },
            Attributes("get", "", "configmaps", namespace="istio-system", name="other"),
            False,
        ),
        (
            {
                "verbs": ["get", "list"],
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": ["istio"],
            },
            Attributes("list", "", "configmaps", namespace="istio-system"),
            False,
        ),
    ],
)
def test_rule_forms(raw: dict[str, Any], attrs: Attributes, expected: bool) -> None:
    assert rule(**raw).covers(attrs) is expected


def test_role_bindings_grant_in_their_namespace_only() -> None:
    rbac = Rbac(
        [
            role(
                "app",
                "reader",
                {"verbs": ["list", "get"], "apiGroups": [""], "resources": ["pods", "namespaces"]},
            ),
            binding("RoleBinding", "reader", "Role", "reader", SA, namespace="app"),
            cluster_role("logs", {"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}),
            binding("RoleBinding", "logs", "ClusterRole", "logs", SA, namespace="istio-system"),
        ]
    )

    def allowed(**kw: Any) -> bool:
        return rbac.authorize(USER, GROUPS, Attributes(**kw))[0]

    assert allowed(verb="list", group="", resource="pods", namespace="app")
    assert not allowed(verb="list", group="", resource="pods", namespace="other")
    assert not allowed(verb="list", group="", resource="pods")  # all namespaces: not by a RoleBinding
    # a ClusterRole bound by a RoleBinding grants in that namespace only
    assert allowed(verb="get", group="", resource="pods", subresource="log", namespace="istio-system")
    assert not allowed(verb="get", group="", resource="pods", subresource="log", namespace="app")
    # the Namespace object itself is in its own namespace (what the server passes for GET ns/app)
    assert allowed(verb="get", group="", resource="namespaces", namespace="app", name="app")
    assert not allowed(verb="list", group="", resource="namespaces")


def test_subjects_users_groups_and_service_accounts() -> None:
    grant = cluster_role("r", {"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]})
    attrs = Attributes("get", "", "nodes", name="n1")
    for subject, expected in [
        ({"kind": "User", "name": USER}, True),
        ({"kind": "User", "name": "alice"}, False),
        ({"kind": "Group", "name": "system:serviceaccounts:waypoint-doctor"}, True),
        ({"kind": "Group", "name": "admins"}, False),
        ({"kind": "ServiceAccount", "name": "waypoint-doctor", "namespace": "waypoint-doctor"}, True),
        ({"kind": "ServiceAccount", "name": "waypoint-doctor", "namespace": "default"}, False),
    ]:
        rbac = Rbac([grant, binding("ClusterRoleBinding", "b", "ClusterRole", "r", subject)])
        assert rbac.authorize(USER, GROUPS, attrs)[0] is expected, subject
    # a ServiceAccount subject without a namespace is the binding's namespace
    rbac = Rbac(
        [
            grant,
            binding(
                "RoleBinding",
                "b",
                "ClusterRole",
                "r",
                {"kind": "ServiceAccount", "name": "waypoint-doctor"},
                "waypoint-doctor",
            ),
        ]
    )
    assert (
        rbac.authorize(USER, GROUPS, Attributes("get", "", "pods", namespace="waypoint-doctor"))[0] is False
    )
    assert rbac.grants(USER, GROUPS)  # bound, even though nodes are cluster-scoped


def test_missing_roles_grant_nothing_and_aggregation_gathers_rules() -> None:
    rbac = Rbac(
        [
            binding("ClusterRoleBinding", "dangling", "ClusterRole", "absent", SA),
            binding("RoleBinding", "wrong-ns", "Role", "reader", SA, namespace="app"),
            role("elsewhere", "reader", {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}),
            cluster_role("view-all", labels={}),
            cluster_role(
                "pods-view",
                {"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]},
                labels={"agg": "yes"},
            ),
        ]
    )
    assert not rbac.authorize(USER, GROUPS, Attributes("list", "", "pods", namespace="app"))[0]
    aggregated = cluster_role("view-all")
    aggregated["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"agg": "yes"}}]}
    rbac = Rbac(
        [
            aggregated,
            cluster_role(
                "pods-view",
                {"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]},
                labels={"agg": "yes"},
            ),
            binding("ClusterRoleBinding", "b", "ClusterRole", "view-all", SA),
        ]
    )
    assert rbac.authorize(USER, GROUPS, Attributes("list", "", "pods"))[0]


def test_malformed_rbac_objects_are_refused() -> None:
    with pytest.raises(ValueError, match="not an RBAC object"):
        Rbac([{"kind": "Pod"}])
    with pytest.raises(ValueError, match="list of strings"):
        Rbac([cluster_role("r", {"verbs": "get", "apiGroups": [""], "resources": ["pods"]})])


# ---------------------------------------------------------------------------------------------
# end to end: the server enforces, and its access reviews say the same


RBAC_OBJECTS = [
    cluster_role(
        "reader",
        {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "services"]},
        {"verbs": ["list"], "apiGroups": ["security.istio.io"], "resources": ["authorizationpolicies"]},
    ),
    binding("ClusterRoleBinding", "reader", "ClusterRole", "reader", SA),
    role("istio-system", "logs", {"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}),
    binding("RoleBinding", "logs", "Role", "logs", SA, namespace="istio-system"),
    role("bookinfo", "ns", {"verbs": ["get"], "apiGroups": [""], "resources": ["namespaces"]}),
    binding("RoleBinding", "ns", "Role", "ns", SA, namespace="bookinfo"),
]

# (verb, group, resource, subresource, namespace, name) -> the path that request is
REQUESTS = [
    ("list", "", "pods", "", "bookinfo", "", "/api/v1/namespaces/bookinfo/pods"),
    ("list", "", "pods", "", "", "", "/api/v1/pods"),
    (
        "get",
        "",
        "pods",
        "",
        "istio-system",
        "ztunnel-7xk2p",
        "/api/v1/namespaces/istio-system/pods/ztunnel-7xk2p",
    ),
    ("list", "", "services", "", "", "", "/api/v1/services"),
    ("list", "", "configmaps", "", "istio-system", "", "/api/v1/namespaces/istio-system/configmaps"),
    ("list", "", "namespaces", "", "", "", "/api/v1/namespaces"),
    ("get", "", "namespaces", "", "", "bookinfo", "/api/v1/namespaces/bookinfo"),
    ("get", "", "namespaces", "", "", "istio-system", "/api/v1/namespaces/istio-system"),
    (
        "get",
        "",
        "pods",
        "log",
        "istio-system",
        "ztunnel-7xk2p",
        "/api/v1/namespaces/istio-system/pods/ztunnel-7xk2p/log",
    ),
    (
        "get",
        "",
        "pods",
        "log",
        "bookinfo",
        "ratings-v1-85c74b6cb4-2hrbq",
        "/api/v1/namespaces/bookinfo/pods/ratings-v1-85c74b6cb4-2hrbq/log",
    ),
    (
        "list",
        "security.istio.io",
        "authorizationpolicies",
        "",
        "",
        "",
        "/apis/security.istio.io/v1/authorizationpolicies",
    ),
    (
        "list",
        "gateway.networking.k8s.io",
        "gateways",
        "",
        "",
        "",
        "/apis/gateway.networking.k8s.io/v1/gateways",
    ),
    ("list", "", "nodes", "", "", "", "/api/v1/nodes"),
]
EXPECTED = [True, True, True, True, False, False, True, False, True, False, True, False, False]


def status_of(api: client.ApiClient, path: str) -> int:
    try:
        return raw_get(api, path)[0]
    except ApiException as exc:
        return exc.status


def test_enforcement_and_access_reviews_agree(fake_cluster) -> None:
    server = fake_cluster(BASIC_SCENARIO, rbac=RBAC_OBJECTS)
    api = api_client_for(server)
    for (verb, group, resource, sub, ns, name, path), expected in zip(REQUESTS, EXPECTED, strict=True):
        code = status_of(api, path)
        assert (code != 403) is expected, (path, code)
        extra = {"group": group} if group else {}
        if sub:
            extra["subresource"] = sub
        if name:
            extra["name"] = name
        review = ssar(api, verb, resource, ns, **extra)
        assert review.allowed is expected, (verb, resource, sub, ns, name, review)
        if expected:
            assert "RBAC: allowed by" in review.reason
    assert not server.mutations()


def test_forbidden_message_is_the_apiservers(fake_cluster) -> None:
    server = fake_cluster(BASIC_SCENARIO, rbac=RBAC_OBJECTS)
    core = client.CoreV1Api(api_client_for(server))
    with pytest.raises(ApiException) as info:
        core.list_namespaced_config_map("istio-system")
    assert info.value.status == 403
    assert (
        f'configmaps is forbidden: User "{USER}" cannot list resource "configmaps" in API group "" '
        'in the namespace "istio-system"'
    ) == json.loads(info.value.body)["message"]


def test_rules_review_lists_what_is_granted_there(fake_cluster) -> None:
    server = fake_cluster(BASIC_SCENARIO, rbac=RBAC_OBJECTS)
    authz = client.AuthorizationV1Api(api_client_for(server))

    def rules(namespace: str) -> set[tuple[str, str, str]]:
        review = client.V1SelfSubjectRulesReview(
            spec=client.V1SelfSubjectRulesReviewSpec(namespace=namespace)
        )
        status = authz.create_self_subject_rules_review(review).status
        assert status.incomplete is False
        return {
            (verb, group, resource)
            for r in status.resource_rules
            for verb, group, resource in itertools.product(r.verbs, r.api_groups or [""], r.resources or [])
        }

    in_istio = rules("istio-system")
    assert ("get", "", "pods/log") in in_istio and ("list", "", "pods") in in_istio
    assert ("create", "authorization.k8s.io", "selfsubjectaccessreviews") in in_istio
    in_bookinfo = rules("bookinfo")
    assert ("get", "", "pods/log") not in in_bookinfo and ("get", "", "namespaces") in in_bookinfo


def test_forbid_rules_still_deny_on_top_of_rbac(fake_cluster) -> None:
    server = fake_cluster(
        BASIC_SCENARIO,
        rbac=RBAC_OBJECTS,
        forbid=[{"verb": "list", "resource": "pods", "namespace": "bookinfo"}],
    )
    api = api_client_for(server)
    assert status_of(api, "/api/v1/namespaces/bookinfo/pods") == 403
    assert status_of(api, "/api/v1/namespaces/istio-system/pods") == 200
    review = client.V1SelfSubjectRulesReview(spec=client.V1SelfSubjectRulesReviewSpec(namespace="bookinfo"))
    assert client.AuthorizationV1Api(api).create_self_subject_rules_review(review).status.incomplete is True


def test_rbac_from_a_file_next_to_the_scenario(tmp_path, fake_cluster) -> None:
    import shutil

    import yaml

    scenario = tmp_path / "scenario"
    shutil.copytree(BASIC_SCENARIO, scenario)
    (scenario / "rbac").mkdir()
    (scenario / "rbac" / "objects.yaml").write_text(yaml.safe_dump_all(RBAC_OBJECTS))
    config = yaml.safe_load((scenario / "fakeapi.yaml").read_text()) or {}
    config["rbac"] = "rbac/objects.yaml"
    (scenario / "fakeapi.yaml").write_text(yaml.safe_dump(config))
    server = fake_cluster(scenario, forbid=[])
    api = api_client_for(server)
    assert status_of(api, "/api/v1/nodes") == 403
    assert status_of(api, "/api/v1/pods") == 200
    # like a real cluster's, the RBAC objects are also objects it serves (to whom may read them)
    assert status_of(api, "/apis/rbac.authorization.k8s.io/v1/rolebindings") == 403


def test_kubectl_auth_can_i_agrees(fake_cluster, kubectl) -> None:
    server = fake_cluster(BASIC_SCENARIO, rbac=RBAC_OBJECTS)
    yes = kubectl(server, "auth", "can-i", "get", "pods", "--subresource=log", "-n", "istio-system")
    no = kubectl(server, "auth", "can-i", "get", "pods", "--subresource=log", "-n", "bookinfo")
    assert (yes.returncode, yes.stdout.strip()) == (0, "yes")
    assert (no.returncode, no.stdout.strip()) == (1, "no")
    denied = kubectl(server, "get", "nodes")
    assert "Error from server (Forbidden)" in denied.stderr


def test_no_rbac_objects_means_no_rbac(fake_cluster) -> None:
    server: FakeApiServer = fake_cluster(BASIC_SCENARIO)
    assert server.config.rbac is None
    assert status_of(api_client_for(server), "/api/v1/nodes") == 200
