"""Writing snapshots: what is written loads back the same, and nothing secret is ever written.

- Round trip: every scenario, built, loaded, written (directory and .tar.gz, plain and
  anonymised) and loaded again, gives the same check statuses; plain copies also give the same
  objects, logs, istioctl outputs and collected/unreadable facts.
- Redaction: a view with planted secrets (a ServiceAccount token Secret, bearer headers in logs,
  a JWT in an istioctl header dump, credential env vars, last-applied annotations) is written,
  and none of the secret strings appears anywhere in the bytes of the bundle.
- The `snapshot` command: from a snapshot (re-export, anonymise), refusals, exit codes.
"""

from __future__ import annotations

import gzip
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from waypoint_doctor.checks.spec import CheckOptions, Target
from waypoint_doctor.collect.anonymize import WELL_KNOWN_NAMES
from waypoint_doctor.collect.kinds import ALL_KINDS
from waypoint_doctor.collect.snapshot_dir import load_snapshot
from waypoint_doctor.collect.snapshot_write import (
    SnapshotWriteError,
    export_snapshot,
    sanitize_object,
    write_snapshot,
)
from waypoint_doctor.collect.view import ClusterView, LogKey, SourceInfo, Unreadable, ViewData
from waypoint_doctor.engine import check_service
from waypoint_doctor.mesh.facts import Facts

from clihelpers import REPO, run_cli
from scenariolib import Scenario
from scenarios import all_scenarios

SCENARIOS = all_scenarios()
HEALTHY = REPO / "examples" / "kagenti-healthy"


def statuses(view: ClusterView, target: Target) -> dict[str, str]:
    report = check_service(view, target, CheckOptions())
    return {c.id: c.status.value for c in report.checks}


def written_target(dest: Path) -> Target:
    if dest.is_dir():
        meta = yaml.safe_load((dest / "snapshot.yaml").read_text())
    else:
        with tarfile.open(dest) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("/snapshot.yaml"))
            meta = yaml.safe_load(tar.extractfile(member).read())  # type: ignore[union-attr]
    return Target(namespace=meta["target"]["namespace"], name=meta["target"]["name"])


def facts_fingerprint(view: ClusterView, target: Target) -> tuple[Any, ...]:
    """Derived facts that do not depend on names: they must survive anonymisation."""
    f = Facts(view, target.namespace, target.name)
    b = f.binding
    return (
        f.service is not None,
        f.namespace is not None,
        b.source,
        b.bound,
        b.opted_out,
        f.waypoint is not None,
        len(f.service_pods),
        len(f.waypoint_pods),
        len(f.ztunnel_pods),
        len(f.relevant_nodes),
        # a custom trust domain is a name the anonymiser masks; whether it is the default is not
        f.mesh.trust_domain == "cluster.local",
        f.waypoint_identity is not None,
    )


def assert_same_content(a: ClusterView, b: ClusterView) -> None:
    for kind in ALL_KINDS:
        assert sorted(map(repr, a.list(kind.key))) == sorted(map(repr, b.list(kind.key))), kind.key
        assert a.collected(kind.key) == b.collected(kind.key), kind.key
    assert dict(a.logs) == dict(b.logs)
    assert dict(a.istioctl) == dict(b.istioctl)
    assert set(a.unreadable) == set(b.unreadable)
    assert (a.api_groups is None) == (b.api_groups is None)
    if a.api_groups is not None:
        assert dict(a.api_groups) == dict(b.api_groups)  # type: ignore[arg-type]
    assert a.server_version == b.server_version
    assert (a.source.context, a.source.server, a.source.taken_at) == (
        b.source.context,
        b.source.server,
        b.source.taken_at,
    )


VARIANTS = [("dir", False), ("tar.gz", False), ("dir", True), ("tar.gz", True)]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_round_trip_keeps_every_check_status(scenario: Scenario, tmp_path: Path) -> None:
    src = scenario.build(tmp_path / "src")
    original = load_snapshot(src)
    target = Target(*scenario.target)
    expected = statuses(original, target)
    expected_facts = facts_fingerprint(original, target)
    for form, anonymize in VARIANTS:
        dest = tmp_path / (f"out-{anonymize}" + ("" if form == "dir" else ".tar.gz"))
        export_snapshot(original, dest, anonymize=anonymize, target=target)
        again = load_snapshot(dest)
        new_target = written_target(dest)
        if anonymize:
            if not {target.namespace, target.name} <= WELL_KNOWN_NAMES:
                assert new_target != target  # names like `istio` or `waypoint` are kept as they are
        else:
            assert new_target == target
            assert_same_content(original, again)
        assert statuses(again, new_target) == expected, (form, anonymize)
        assert facts_fingerprint(again, new_target) == expected_facts, (form, anonymize)


def test_unreadable_and_collected_semantics_survive(tmp_path: Path) -> None:
    base = load_snapshot(HEALTHY)
    objects = {k.key: list(base.list(k.key)) for k in ALL_KINDS if base.collected(k.key)}
    objects.pop("gateways.gateway.networking.k8s.io")
    unreadable = (
        Unreadable("pods", "Forbidden", verb="get", namespace="istio-system", subresource="log"),
        Unreadable("gateways.gateway.networking.k8s.io", "NotFound"),
        Unreadable("configmaps", "Forbidden", namespace="istio-system", message="configmaps is forbidden"),
        Unreadable(
            "pods", "Timeout", verb="get", namespace="kagenti-system", name="mlflow-x", subresource="log"
        ),
    )
    collected = frozenset(objects) - {"configmaps"}
    view = ClusterView(
        ViewData(
            objects=objects,
            collected=collected,
            unreadable=unreadable,
            logs=dict(base.logs),
            istioctl={"version.json": '{"clientVersion": {"version": "1.28.1"}}\n'},
            source=SourceInfo(kind="live", context="ctx", server="https://10.0.0.1:6443"),
            api_groups=None,
            server_version="v1.30.0",
            notes=("istioctl not found on PATH",),
        )
    )
    dest = write_snapshot(view, tmp_path / "snap")
    again = load_snapshot(dest)
    assert set(again.unreadable) == set(unreadable)
    for kind in ALL_KINDS:
        for ns in (None, "istio-system", "kagenti-system"):
            assert view.missing(kind.key, ns) == again.missing(kind.key, ns), (kind.key, ns)
        assert view.unreadable_for(kind.key, "istio-system", "log") == again.unreadable_for(
            kind.key, "istio-system", "log"
        )
    assert again.api_groups is None
    assert again.source.taken_at is not None  # a live view is stamped when written
    assert dict(again.istioctl) == dict(view.istioctl)
    meta = yaml.safe_load((dest / "snapshot.yaml").read_text())
    assert {
        "verb": "list",
        "resource": "gateways",
        "group": "gateway.networking.k8s.io",
        "reason": "NotFound",
    } in (meta["unreadable"])


def test_a_hand_made_snapshot_without_taken_at_stays_without(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "svc.yaml").write_text((HEALTHY / "kagenti-system.yaml").read_text())
    view = load_snapshot(src)
    again = load_snapshot(write_snapshot(view, tmp_path / "out"))
    assert view.source.taken_at is None and again.source.taken_at is None
    assert again.collected("services") and not again.collected("nodes")


# -- secrets ---------------------------------------------------------------------------------
JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IjFkNGYifQ."
    "eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50OmRlZmF1bHQ6bWxmbG93In0."
    "c2lnbmF0dXJlLWJ5dGVzLW5vdC1yZWFsbHktYS1zaWduYXR1cmU"
)
BEARER = "s3cr3t-b34r3r-t0k3n-9f8e7d6c5b4a"
DB_PASSWORD = "hunter2-but-longer-7731"
API_KEY = "AKIAEXAMPLEKEY0001"
LAST_APPLIED_SECRET = "only-in-last-applied-0042"
SECRET_DATA = "c3VwZXItc2VjcmV0LWRhdGE="  # base64 of "super-secret-data"
COOKIE = "session=abcdef0123456789cookie"
PLANTED = (JWT, BEARER, DB_PASSWORD, API_KEY, LAST_APPLIED_SECRET, SECRET_DATA, "super-secret-data", COOKIE)


def planted_view() -> ClusterView:
    base = load_snapshot(HEALTHY)
    objects: dict[str, list[Any]] = {k.key: [dict(o) for o in base.list(k.key)] for k in ALL_KINDS}
    token_secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "mlflow-token", "namespace": "kagenti-system"},
        "data": {"token": SECRET_DATA, "ca.crt": SECRET_DATA},
    }
    sealed = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "not-really", "namespace": "kagenti-system"},
        "data": {"jwt": f"token is {JWT}"},
    }
    objects["secrets"] = [token_secret]
    objects["configmaps"] = [
        *objects["configmaps"],
        sealed,
        {**token_secret, "metadata": {"name": "smuggled"}},
    ]
    pod = next(p for p in objects["pods"] if p["metadata"]["name"].startswith("mlflow-5f"))
    pod["metadata"] = {
        **pod["metadata"],
        "annotations": {
            **pod["metadata"].get("annotations", {}),
            "kubectl.kubernetes.io/last-applied-configuration": json.dumps({"env": LAST_APPLIED_SECRET}),
            "debug/curl": f"curl -H 'Authorization: Bearer {BEARER}' http://mlflow:5000/",
        },
        "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:metadata": {}}}],
    }
    pod["spec"] = {
        **pod["spec"],
        "containers": [
            {
                **pod["spec"]["containers"][0],
                "env": [
                    {"name": "MLFLOW_DB_PASSWORD", "value": DB_PASSWORD},
                    {"name": "AWS_ACCESS_KEY_ID", "value": API_KEY},
                    {"name": "MLFLOW_TRACKING_URI", "value": "http://localhost:5000"},
                    {
                        "name": "API_TOKEN",
                        "valueFrom": {"secretKeyRef": {"name": "mlflow-token", "key": "token"}},
                    },
                ],
                "args": [
                    "--backend-store-uri",
                    f"postgresql://mlflow:{DB_PASSWORD}@db/mlflow?password={DB_PASSWORD}",
                ],
            }
        ],
    }
    logs = dict(base.logs)
    waypoint_log = LogKey("kagenti-system", "mlflow-waypoint-7c9d8b6f4-lhlwp", "istio-proxy")
    logs[waypoint_log] += (
        f"2026-11-20T10:07:00.000000Z\tdebug\thttp\trequest headers: authorization=Bearer {BEARER} "
        f"cookie: {COOKIE}\n"
        f'[2026-11-20T10:07:01.000Z] "GET /api?access_token={BEARER} HTTP/1.1" 200 - via_upstream\n'
    )
    istioctl = {
        "proxy-config-headers.mlflow-waypoint-7c9d8b6f4-lhlwp.kagenti-system.json": json.dumps(
            {
                "headers": {
                    "Authorization": f"Bearer {JWT}",
                    "x-forwarded-client-cert": f"By=spiffe;Hash={JWT}",
                }
            }
        ),
        "dump.txt": f"-----BEGIN PRIVATE KEY-----\nMIIEvQ{API_KEY}\n-----END PRIVATE KEY-----\nx-jwt: {JWT}\n",
    }
    return ClusterView(
        ViewData(
            objects=objects,
            collected=frozenset(objects),
            logs=logs,
            istioctl=istioctl,
            source=base.source,
            api_groups=base.api_groups,
            server_version=base.server_version,
        )
    )


def all_bytes(path: Path) -> bytes:
    if path.is_dir():
        return b"\n".join(p.read_bytes() + str(p).encode() for p in sorted(path.rglob("*")) if p.is_file())
    raw = gzip.decompress(path.read_bytes())  # the tar stream itself: names, headers and data
    return raw


@pytest.mark.parametrize(("form", "anonymize"), VARIANTS)
def test_planted_secrets_never_reach_the_snapshot(form: str, anonymize: bool, tmp_path: Path) -> None:
    view = planted_view()
    dest = tmp_path / ("snap" if form == "dir" else "snap.tar.gz")
    export_snapshot(view, dest, anonymize=anonymize)
    blob = all_bytes(dest)
    for secret in PLANTED:
        assert secret.encode() not in blob, secret
    assert b"last-applied-configuration" not in blob
    assert b"managedFields" not in blob
    assert b"mlflow-token" not in blob or b"secretKeyRef" in blob  # only the valueFrom reference
    assert b"kind: Secret" not in blob
    again = load_snapshot(dest)
    pods = again.list("pods")
    env = [e for p in pods for c in p["spec"].get("containers", []) for e in c.get("env", [])]
    by_name = {e["name"]: e for e in env}
    assert by_name["MLFLOW_DB_PASSWORD"]["value"] == "<redacted>"
    assert by_name["API_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "token"  # references are fine
    if not anonymize:
        assert by_name["MLFLOW_TRACKING_URI"]["value"] == "http://localhost:5000"


def test_sanitize_object_drops_secret_like_data() -> None:
    assert (
        sanitize_object({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {}}) is None
    )
    sealed = sanitize_object(
        {
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {"name": "x"},
            "data": {"a": "b"},
        }
    )
    assert sealed is not None and "data" not in sealed


# -- the command -----------------------------------------------------------------------------
def test_snapshot_command_re_exports_and_anonymises_a_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "bundle.tar.gz"
    res = run_cli(
        "snapshot",
        "mlflow",
        "-n",
        "kagenti-system",
        "--snapshot",
        str(HEALTHY),
        "-o",
        str(out),
        "--anonymize",
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(out)
    assert "names and addresses masked" in res.stderr
    target = written_target(out)
    assert f"waypoint-doctor check {target.name} -n {target.namespace}" in res.stderr
    original = run_cli("check", "mlflow", "-n", "kagenti-system", "--snapshot", str(HEALTHY), "-o", "json")
    masked = run_cli("check", target.name, "-n", target.namespace, "--snapshot", str(out), "-o", "json")
    assert masked.returncode == original.returncode, masked.stderr
    st = {c["id"]: c["status"] for c in json.loads(original.stdout)["checks"]}
    assert {c["id"]: c["status"] for c in json.loads(masked.stdout)["checks"]} == st
    assert b"kagenti" not in all_bytes(out) and b"mlflow" not in all_bytes(out)


def test_snapshot_command_reports_what_could_not_be_read(tmp_path: Path) -> None:
    src = tmp_path / "src"
    Scenario(
        name="x",
        doc="",
        mutate=lambda c: c.unreadable(
            verb="get", resource="pods", subresource="log", namespace="istio-system", reason="Forbidden"
        ),
        fails=set(),
    ).build(src)
    out = tmp_path / "out"
    res = run_cli("snapshot", "mlflow", "-n", "kagenti-system", "--snapshot", str(src), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "could not read 1 item" in res.stderr
    assert "not permitted to get pods/log in namespace istio-system" in res.stderr
    assert (out / "snapshot.yaml").is_file() and (out / "pods.yaml").is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["snapshot", "mlflow", "-n", "kagenti-system"], "-o DIR"),
        (["snapshot", "-n", "kagenti-system", "-o", "x.tar.gz"], "name a SERVICE"),
        (["snapshot", "MLflow", "-n", "kagenti-system", "-o", "x.tar.gz"], "invalid service name"),
    ],
)
def test_snapshot_command_refuses_bad_input(args: list[str], needle: str, tmp_path: Path) -> None:
    res = run_cli(*args, "--snapshot", str(HEALTHY), cwd=tmp_path)
    assert res.returncode == 2
    assert needle in res.stderr and "Traceback" not in res.stderr


def test_snapshot_command_never_overwrites_a_directory(tmp_path: Path) -> None:
    out = tmp_path / "full"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = run_cli("snapshot", "mlflow", "-n", "kagenti-system", "--snapshot", str(HEALTHY), "-o", str(out))
    assert res.returncode == 2 and "not empty" in res.stderr
    assert (out / "keep.txt").read_text() == "mine" and len(list(out.iterdir())) == 1
    with pytest.raises(SnapshotWriteError):
        write_snapshot(load_snapshot(HEALTHY), out)


def test_written_files_follow_the_format(tmp_path: Path) -> None:
    dest = write_snapshot(load_snapshot(HEALTHY), tmp_path / "snap")
    names = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert "snapshot.yaml" in names and "pods.yaml" in names
    assert "gateways.gateway.networking.k8s.io.yaml" in names
    assert "logs/kagenti-system/mlflow-waypoint-7c9d8b6f4-lhlwp/istio-proxy.log" in names
    doc = yaml.safe_load((dest / "pods.yaml").read_text())
    assert doc["kind"] == "List" and all(i["kind"] == "Pod" for i in doc["items"])
    meta = yaml.safe_load((dest / "snapshot.yaml").read_text())
    assert meta["takenAt"] == "2026-11-20T10:15:00Z"
    assert datetime.fromisoformat(meta["takenAt"].replace("Z", "+00:00")).tzinfo == UTC
    assert meta["collected"] and meta["unreadable"] == [] and meta["anonymized"] is False


# -- live: a snapshot taken from the fake API server diagnoses like the cluster ------------------
LIVE_SCENARIOS = [s for s in SCENARIOS if s.live]


def _live_view(kubeconfig: Path, target: Target) -> ClusterView:
    """What `check` reads from the live (fake) cluster, with the real client and check's scope."""
    from waypoint_doctor.collect.live import LiveCollector
    from waypoint_doctor.collect.scope import CollectScope
    from waypoint_doctor.options import ClusterOptions

    collector = LiveCollector(ClusterOptions(kubeconfig=str(kubeconfig)))
    return collector.collect(CollectScope(namespaces=(target.namespace,), services=(target.name,)))


def _taken_at(bundle: Path) -> datetime:
    with tarfile.open(bundle) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/snapshot.yaml"))
        meta = yaml.safe_load(tar.extractfile(member).read())  # type: ignore[union-attr]
    return datetime.fromisoformat(str(meta["takenAt"]).replace("Z", "+00:00"))


@pytest.mark.parametrize("scenario", LIVE_SCENARIOS, ids=[s.name for s in LIVE_SCENARIOS])
def test_live_round_trip(scenario: Scenario, tmp_path: Path, fake_cluster: Any) -> None:
    from test_scenarios_live import server_overrides

    snap = scenario.build(tmp_path / "scenario")
    server = fake_cluster(snap, **server_overrides(snap))
    target = Target(*scenario.target)
    live = _live_view(server.kubeconfig_path, target)
    # the real CLI, live; then the same view anonymised in-process (the CLI flag is covered above)
    out = tmp_path / "live.tar.gz"
    res = run_cli(
        "snapshot",
        target.name,
        "-n",
        target.namespace,
        "--kubeconfig",
        str(server.kubeconfig_path),
        "-o",
        str(out),
        home=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(out) and "Traceback" not in res.stderr
    masked = export_snapshot(
        live, tmp_path / "masked.tar.gz", anonymize=True, target=target, since_seconds=900
    )
    for bundle, written in ((out, written_target(out)), (masked.path, masked.target)):
        assert written is not None
        # Both read at the instant the snapshot records: the fake server lives at the scenario's
        # takenAt, this machine a week later, and time-based checks (recent restarts, the log
        # window) must compare like with like.
        at = CheckOptions(now=_taken_at(bundle))
        expected = {c.id: c.status.value for c in check_service(live, target, at).checks}
        got = {
            c.id: c.status.value for c in check_service(load_snapshot(bundle), written, CheckOptions()).checks
        }
        assert got == expected, bundle.name
    assert not server.mutations(), "snapshot must be read-only"
