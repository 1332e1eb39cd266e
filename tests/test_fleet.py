"""Fleet scans (`check --all -n NS`, `check -A`): one report per service, cluster checks once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from clihelpers import REPO, run_cli
from scenariolib import HEALTHY, Cluster

SCHEMAS = REPO / "src/waypoint_doctor/schema"


def fleet_validator() -> jsonschema.Draft202012Validator:
    report = json.loads((SCHEMAS / "report.schema.json").read_text())
    fleet = json.loads((SCHEMAS / "fleet.schema.json").read_text())
    registry = Registry().with_resource(report["$id"], Resource.from_contents(report))
    return jsonschema.Draft202012Validator(fleet, registry=registry)


def two_services(tmp_path: Path) -> Path:
    """The healthy setup plus a second bound service whose policy names a spiffe:// principal."""
    c = Cluster(HEALTHY)
    c.add(
        """
apiVersion: v1
kind: Service
metadata:
  name: tracker
  namespace: kagenti-system
  labels: {istio.io/use-waypoint: mlflow-waypoint}
spec:
  selector: {app: tracker}
  ports: [{port: 8080}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tracker-l7, namespace: kagenti-system}
spec:
  targetRefs: [{kind: Service, group: "", name: tracker}]
  rules:
  - from: [{source: {principals: ["spiffe://cluster.local/ns/kagenti-system/sa/kagenti-ui"]}}]
    to: [{operation: {methods: ["GET"]}}]
"""
    )
    return c.write(tmp_path / "fleet")


def check_fleet_doc(doc: dict[str, Any]) -> None:
    fleet_validator().validate(doc)
    names = [s["target"]["name"] for s in doc["services"]]
    assert sorted(names) == ["mlflow", "tracker"]
    assert names[0] == "tracker", "worst first"
    assert all(c["id"].startswith("WD1") for c in doc["cluster_checks"])
    for svc in doc["services"]:
        assert not any(c["id"].startswith("WD1") and c["id"] != "WD105" for c in svc["checks"])


def test_fleet_offline(tmp_path: Path) -> None:
    snap = two_services(tmp_path)
    res = run_cli("check", "--all", "-n", "kagenti-system", "--snapshot", str(snap), "-o", "json")
    assert res.returncode == 1, res.stderr
    check_fleet_doc(json.loads(res.stdout))
    table = run_cli("check", "-A", "--snapshot", str(snap))
    assert table.returncode == 1 and "2 services" in table.stdout


def test_fleet_live_costs_one_list_per_kind(tmp_path: Path, fake_cluster: Any) -> None:
    server = fake_cluster(two_services(tmp_path))
    res = run_cli("check", "-A", "--kubeconfig", str(server.kubeconfig_path), "-o", "json", home=tmp_path)
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    check_fleet_doc(doc)
    assert doc["scope"] == {"namespaces": "all"}
    lists = [r for r in server.requests if r.verb == "list"]
    kinds = [r.path for r in lists]
    assert len(kinds) == len(set(kinds)) or all(
        "labelSelector" in r.query or "fieldSelector" in r.query for r in lists if kinds.count(r.path) > 1
    )
    assert not [r for r in server.requests if r.verb == "get" and not r.path.endswith("/log")]
