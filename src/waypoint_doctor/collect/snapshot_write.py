"""Write a ClusterView as a snapshot (directory or `.tar.gz`), and the `snapshot` command's core.

The snapshot holds exactly what the view holds, in the format of spec/interface.md, so that
`load_snapshot` gives back a view with the same objects, logs, istioctl outputs, and the same
"collected" and "unreadable" facts (a check that skipped on the cluster skips on the snapshot):

    snapshot.yaml                          takenAt, context, server, versions, collected, unreadable
    <resource>.yaml                        one `kind: List` per resource kind, e.g. pods.yaml
    logs/<namespace>/<pod>/<container>.log
    istioctl/<name>

Nothing secret goes in, anonymised or not: Secret objects are never written, `data`,
`binaryData` and `stringData` of anything Secret-like are dropped, the values of env vars named
like credentials are replaced, `last-applied-configuration` annotations are dropped, and every
string (annotation values, env values, args, ConfigMap data, logs, istioctl outputs) goes through
`logs.sanitize.redact_secrets` (bearer tokens, Authorization/Cookie headers, JWTs, PEM keys).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from waypoint_doctor import __version__
from waypoint_doctor.checks.spec import Target
from waypoint_doctor.collect.anonymize import Anonymizer
from waypoint_doctor.collect.bundle import is_bundle_name, write_bundle
from waypoint_doctor.collect.kinds import ALL_KINDS, BY_KEY, ResourceKind
from waypoint_doctor.collect.snapshot_dir import SNAPSHOT_META
from waypoint_doctor.collect.view import ClusterView, Unreadable, obj_name, obj_namespace
from waypoint_doctor.logs.sanitize import REDACTED, redact_secrets
from waypoint_doctor.options import ClusterOptions

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SECRET_ENV_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|PRIVATE", re.IGNORECASE)
_SECRET_FIELDS = ("data", "binaryData", "stringData")
# Beyond logs.sanitize.redact_secrets: credentials in URLs, and flags whose next argument is one.
_SECRET_FLAG = re.compile(r"(?i)^--?[\w.\-]*(password|passwd|token|secret|api-?key|credential)[\w.\-]*$")
_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=,+@-]*$")
_LINE_TIME = re.compile(r"^\[?(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)", re.MULTILINE)
_CLOCK_SLACK = timedelta(minutes=1)


class SnapshotWriteError(Exception):
    """The snapshot cannot be written where asked (exit code 2)."""


@dataclass(frozen=True)
class WrittenSnapshot:
    """What `export_snapshot` wrote, for the summary a person reads."""

    path: Path
    objects: dict[str, int]  # resource key -> count
    logs: int
    istioctl: int
    unreadable: tuple[Unreadable, ...]
    target: Target | None  # as written (masked when anonymised)
    namespaces: tuple[str, ...] | None  # scope as written (masked when anonymised)
    anonymized: bool
    skipped: tuple[str, ...] = ()  # log/istioctl entries with names unsafe as file names


# -- sanitising --------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A deep, mutable copy made of dicts, lists and scalars (views may hold read-only mappings)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def redact_text(text: str) -> str:
    """`redact_secrets`, plus passwords in URLs (`postgres://user:<redacted>@db`)."""
    return redact_secrets(text)


def _redact_strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redact_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_strings(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _scrub_env(value: Any) -> None:
    """Replace the values of env vars named like credentials, and of `--password x`-style
    arguments, wherever a pod template sits."""
    if isinstance(value, dict):
        for key in ("args", "command"):
            argv = value.get(key)
            if isinstance(argv, list):
                for i in range(len(argv) - 1):
                    if isinstance(argv[i], str) and _SECRET_FLAG.match(argv[i]):
                        argv[i + 1] = REDACTED
        env = value.get("env")
        if isinstance(env, list):
            for var in env:
                if (
                    isinstance(var, dict)
                    and isinstance(var.get("name"), str)
                    and "value" in var
                    and SECRET_ENV_NAME.search(var["name"])
                ):
                    var["value"] = REDACTED
        for child in value.values():
            _scrub_env(child)
    elif isinstance(value, list):
        for child in value:
            _scrub_env(child)


def sanitize_object(obj: Mapping[str, Any], kind: ResourceKind | None = None) -> dict[str, Any] | None:
    """A copy of `obj` fit for a snapshot, or None when it must not be written at all."""
    out = _plain(obj)
    if not isinstance(out, dict):
        return None
    obj_kind = out.get("kind")
    if obj_kind == "Secret" or (kind is not None and kind.kind == "Secret"):
        return None
    if kind is not None:
        # List items from the API carry no apiVersion/kind; the loader needs both.
        if not isinstance(obj_kind, str):
            out["kind"] = obj_kind = kind.kind
        if not isinstance(out.get("apiVersion"), str):
            version = kind.versions[0]
            out["apiVersion"] = f"{kind.group}/{version}" if kind.group else version
    if isinstance(obj_kind, str) and "secret" in obj_kind.lower():
        for key in _SECRET_FIELDS:
            out.pop(key, None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LAST_APPLIED, None)
    _scrub_env(out)
    return _redact_strings(out)


def _sanitize_text(text: str) -> str:
    return redact_text(text)


# -- writing -----------------------------------------------------------------------------------
def _split_resource(key: str) -> tuple[str, str]:
    kind = BY_KEY.get(key)
    if kind is not None:
        return kind.plural, kind.group
    plural, _, group = key.partition(".")
    return plural, group


def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _unreadable_entry(entry: Unreadable, mask: Callable[[str], str]) -> dict[str, Any]:
    resource, group = _split_resource(entry.resource)
    out: dict[str, Any] = {"verb": entry.verb, "resource": resource}
    if group:
        out["group"] = group
    if entry.subresource:
        out["subresource"] = entry.subresource
    if entry.namespace:
        out["namespace"] = mask(entry.namespace)
    if entry.name:
        out["name"] = mask(entry.name)
    out["reason"] = entry.reason
    if entry.message:
        out["message"] = mask(_sanitize_text(entry.message))
    return out


def _identity(value: str) -> str:
    return value


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: several times faster


def _dump(data: Any) -> str:
    return yaml.dump(
        data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=4096, default_flow_style=False
    )


def _sorted_objects(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(objs, key=lambda o: (obj_namespace(o), obj_name(o)))


def _prepare_destination(dest: Path) -> None:
    if is_bundle_name(dest):
        if dest.is_dir():
            raise SnapshotWriteError(f"{dest}: is a directory; name a .tar.gz file or a new directory")
        if not dest.parent.exists():
            raise SnapshotWriteError(f"{dest.parent}: no such directory")
        return
    if dest.exists() and not dest.is_dir():
        raise SnapshotWriteError(
            f"{dest}: exists and is not a directory (use a name ending in .tar.gz for a bundle)"
        )
    if dest.is_dir() and any(dest.iterdir()):
        raise SnapshotWriteError(f"{dest}: directory exists and is not empty; choose a new one")


def _iter_objects(view: ClusterView) -> Iterator[tuple[ResourceKind, Mapping[str, Any]]]:
    for kind in ALL_KINDS:
        for obj in view.list(kind.key):
            yield kind, obj


def export_snapshot(
    view: ClusterView,
    dest: Path | str,
    *,
    anonymize: bool = False,
    target: Target | None = None,
    namespaces: tuple[str, ...] | None = None,
    key: bytes | None = None,
    since_seconds: int | None = None,
) -> WrittenSnapshot:
    """Write the view to `dest` (a new directory, or a file ending in .tar.gz).

    `since_seconds`: the log window the view was collected with (live), used to notice an API
    server whose clock differs from this machine's (see `_taken_at`).
    """
    out = Path(dest)
    _prepare_destination(out)

    objects: dict[str, list[dict[str, Any]]] = {}
    for kind, obj in _iter_objects(view):
        clean = sanitize_object(obj, kind)
        if clean is not None:
            objects.setdefault(kind.key, []).append(clean)

    anon: Anonymizer | None = None
    mask_name: Callable[[str], str] = _identity
    mask_text: Callable[[str], str] = _identity
    if anonymize:
        anon = Anonymizer(key)
        anon.learn(objects)
        if target is not None:
            anon.learn_name(target.namespace, "ns")
            anon.learn_name(target.name, "svc")
        for ns in namespaces or ():
            anon.learn_name(ns, "ns")
        objects = {res: [anon.object(o) for o in objs] for res, objs in objects.items()}
        mask_name, mask_text = anon.name, anon.text

    skipped: list[str] = []
    logs: dict[tuple[str, str, str], str] = {}
    for log_key, text in sorted(
        view.logs.items(), key=lambda kv: (kv[0].namespace, kv[0].pod, kv[0].container)
    ):
        parts = (mask_name(log_key.namespace), mask_name(log_key.pod), mask_name(log_key.container))
        if not all(_SAFE_COMPONENT.match(p) and p not in (".", "..") for p in parts):
            skipped.append(f"log {log_key.namespace}/{log_key.pod}/{log_key.container}")
            continue
        logs[parts] = mask_text(_sanitize_text(text))

    istioctl: dict[str, str] = {}
    for name, text in sorted(view.istioctl.items()):
        file_name = mask_name(name)
        if not _SAFE_COMPONENT.match(file_name) or file_name in (".", ".."):
            skipped.append(f"istioctl output {name!r}")
            continue
        redacted = _sanitize_text(text)
        istioctl[file_name] = anon.istioctl_output(redacted) if anon is not None else redacted

    meta = _meta(view, anon, mask_name, target, namespaces, since_seconds)

    written_target = (
        Target(namespace=mask_name(target.namespace), name=mask_name(target.name)) if target else None
    )
    written_ns = tuple(mask_name(n) for n in namespaces) if namespaces is not None else None

    def write_tree(root: Path) -> None:
        (root / SNAPSHOT_META).write_text(_dump(meta), encoding="utf-8")
        for resource, objs in sorted(objects.items()):
            if not objs:
                continue
            doc = {"apiVersion": "v1", "kind": "List", "items": _sorted_objects(objs)}
            (root / f"{resource}.yaml").write_text(_dump(doc), encoding="utf-8")
        for (ns, pod, container), text in logs.items():
            path = root / "logs" / ns / pod / f"{container}.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if istioctl:
            (root / "istioctl").mkdir()
            for name, text in istioctl.items():
                (root / "istioctl" / name).write_text(text, encoding="utf-8")

    try:
        if is_bundle_name(out):
            with tempfile.TemporaryDirectory(prefix="waypoint-doctor-snapshot-") as tmp:
                write_tree(Path(tmp))
                write_bundle(tmp, out)
        else:
            parent = out.parent if str(out.parent) else Path(".")
            parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
            try:
                write_tree(staging)
                if out.is_dir():
                    out.rmdir()  # empty, checked above
                staging.rename(out)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    except OSError as exc:
        raise SnapshotWriteError(f"cannot write the snapshot to {out}: {exc.strerror or exc}") from None

    return WrittenSnapshot(
        path=out,
        objects={res: len(objs) for res, objs in objects.items() if objs},
        logs=len(logs),
        istioctl=len(istioctl),
        unreadable=tuple(view.unreadable),
        target=written_target,
        namespaces=written_ns,
        anonymized=anonymize,
        skipped=tuple(skipped),
    )


def _meta(
    view: ClusterView,
    anon: Anonymizer | None,
    mask_name: Callable[[str], str],
    target: Target | None,
    namespaces: tuple[str, ...] | None,
    since_seconds: int | None = None,
) -> dict[str, Any]:
    src = view.source
    meta: dict[str, Any] = {}
    taken_at, clock_note = _taken_at(view, since_seconds)
    if taken_at is not None:  # a hand-made snapshot without takenAt stays without one
        meta["takenAt"] = _iso(taken_at)
    context, server = src.context, src.server
    if anon is not None:
        context, server = anon.context(context), anon.server(server)
    if context:
        meta["context"] = context
    if server:
        meta["server"] = server
    meta["toolVersion"] = __version__
    if view.server_version:
        meta["serverVersion"] = view.server_version
    meta["anonymized"] = anon is not None
    if target is not None:
        meta["target"] = {"namespace": mask_name(target.namespace), "name": mask_name(target.name)}
    elif namespaces is not None:
        meta["namespaces"] = [mask_name(n) for n in namespaces]
    if view.api_groups is not None:
        meta["apiGroups"] = {group: list(versions) for group, versions in sorted(view.api_groups.items())}
    meta["collected"] = [kind.key for kind in ALL_KINDS if view.collected(kind.key)]
    incomplete = [kind.key for kind in ALL_KINDS if view.list(kind.key) and not view.collected(kind.key)]
    if incomplete:
        meta["incomplete"] = incomplete
    meta["unreadable"] = [_unreadable_entry(u, mask_name) for u in view.unreadable]
    notes = [*view.notes, *([clock_note] if clock_note else [])]
    if notes:
        mask_text = anon.text if anon is not None else _identity
        meta["notes"] = [mask_text(_sanitize_text(n)) for n in notes]
    return meta


def _newest_log_time(view: ClusterView) -> datetime | None:
    newest: datetime | None = None
    for text in view.logs.values():
        for stamp in _LINE_TIME.findall(text[-65536:]):
            try:
                ts = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            except ValueError:
                continue
            if newest is None or ts > newest:
                newest = ts
    return newest


def _taken_at(view: ClusterView, since_seconds: int | None) -> tuple[datetime | None, str | None]:
    """When the snapshot was taken, on the clock its log window refers to.

    A snapshot's log window counts back from takenAt. Live logs come windowed by the API
    server, on the server's clock; when that clock is clearly not this machine's (the newest
    log line is in our future, or older than the whole window), takenAt is the newest log line,
    so that reading the snapshot keeps the lines the server sent.
    """
    src = view.source
    if src.kind != "live":
        return src.taken_at, None
    now = (src.taken_at or datetime.now(UTC)).replace(microsecond=0)
    newest = _newest_log_time(view)
    if newest is None:
        return now, None
    ahead = newest > now + _CLOCK_SLACK
    behind = since_seconds is not None and newest < now - timedelta(seconds=since_seconds)
    if ahead or behind:
        return newest, (
            f"the API server's clock and this machine's differ (newest log line {_iso(newest)}, "
            f"local time {_iso(now)}): takenAt is the newest log line"
        )
    return now, None


def write_snapshot(view: ClusterView, dest: Path | str, *, anonymize: bool = False) -> Path:
    """Write the view as a snapshot directory, or a bundle when `dest` ends in .tar.gz/.tgz."""
    return export_snapshot(view, dest, anonymize=anonymize).path


# -- the `snapshot` command ----------------------------------------------------------------------
@dataclass(frozen=True)
class SnapshotCommand:
    service: str | None
    namespace: str | None
    all_in_namespace: bool
    all_namespaces: bool
    cluster: ClusterOptions
    dest: str
    anonymize: bool = False
    since_seconds: int = 900
    logs: bool = True
    log_bytes: int = 4 * 1024 * 1024
    istioctl: str | None = None


def run_snapshot(
    cmd: SnapshotCommand, spinner: Callable[[str], AbstractContextManager[Any]]
) -> WrittenSnapshot:
    """Collect what `check` would read (same scope), then write it."""
    from waypoint_doctor.app import check_scope, open_view

    _prepare_destination(Path(cmd.dest))  # fail before spending minutes on a cluster

    view, ns = open_view(cmd.cluster, cmd.namespace, check_scope(cmd), spinner)
    target = Target(namespace=ns, name=cmd.service) if cmd.service else None
    namespaces = None if cmd.all_namespaces else (ns,)
    return export_snapshot(
        view,
        cmd.dest,
        anonymize=cmd.anonymize,
        target=target,
        namespaces=namespaces,
        since_seconds=cmd.since_seconds if cmd.logs else None,
    )


def summary_lines(written: WrittenSnapshot) -> list[str]:
    """What a person reads on stderr after `snapshot`: what is in it, what could not be read."""
    total = sum(written.objects.values())
    lines = [
        f"wrote {written.path}: {total} objects of {len(written.objects)} kinds, "
        f"{written.logs} container logs, {written.istioctl} istioctl outputs"
        + (" (names and addresses masked)" if written.anonymized else "")
    ]
    if written.unreadable:
        lines.append(f"could not read {len(written.unreadable)} item(s); checks that need them will skip:")
        lines += [f"  - {u.describe()}" for u in written.unreadable]
    else:
        lines.append("everything in scope was readable")
    for item in written.skipped:
        lines.append(f"  - left out {item}: its name is not a safe file name")
    if written.anonymized and written.target is not None:
        t = written.target
        lines.append(
            f"the target is {t.name} in namespace {t.namespace}: "
            f"waypoint-doctor check {t.name} -n {t.namespace} --snapshot {written.path}"
        )
    elif written.anonymized and written.namespaces:
        ns = written.namespaces[0]
        lines.append(f"the namespace is {ns}: waypoint-doctor check --all -n {ns} --snapshot {written.path}")
    return lines
