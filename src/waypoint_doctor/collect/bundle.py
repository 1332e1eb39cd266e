"""Snapshot bundles (`.tar.gz` of a snapshot directory): extract safely, write reproducibly.

A bundle usually comes from someone else's cluster, attached to a ticket, so extraction treats
it as hostile. Nothing is written outside a fresh temporary directory, which is removed
afterwards; a bundle is refused (``SnapshotError``, exit 2) when it holds:

- a member with an absolute name, a ``..`` component or a NUL byte;
- anything but regular files and directories (symlinks, hard links, devices, FIFOs);
- more members, more bytes, or a higher expansion ratio than the limits allow (a decompression
  bomb); the limits are checked on the bytes actually decompressed, headers included, not only
  on what the headers claim.

Extraction is our own loop over the members (a plain copy of each regular file) with
``tarfile.data_filter`` (Python 3.11.4+) as a second, independent opinion on every member.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from waypoint_doctor.collect.snapshot_dir import SnapshotError

BUNDLE_SUFFIXES = (".tar.gz", ".tgz")
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class BundleLimits:
    """What a bundle may expand to. The defaults are far above any real snapshot."""

    max_total_bytes: int = 1024 * 1024 * 1024  # decompressed, tar headers included
    max_members: int = 100_000
    max_ratio: int = 200  # decompressed / compressed ...
    ratio_floor_bytes: int = 32 * 1024 * 1024  # ... only judged past this many bytes


DEFAULT_LIMITS = BundleLimits()


def is_bundle_name(path: str | Path) -> bool:
    return str(path).endswith(BUNDLE_SUFFIXES)


class _ExpansionGuard(io.RawIOBase):
    """The decompressed stream, counted: refuses to hand out more than the limits allow.

    It sits between gzip and tarfile, so every byte tarfile sees (headers, PAX records,
    padding, file data) is counted before it is buffered anywhere.
    """

    def __init__(self, inner: IO[bytes], compressed_size: int, limits: BundleLimits, name: str) -> None:
        self._inner = inner
        self._compressed = max(compressed_size, 1)
        self._limits = limits
        self._name = name
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = len(buffer)
        if self.count + want > self._limits.max_total_bytes:
            # Read at most one byte past the cap, to tell "exactly at the cap" from "beyond".
            want = max(0, self._limits.max_total_bytes - self.count) + 1
        data = self._inner.read(want)
        n = len(data)
        buffer[:n] = data
        self.count += n
        if self.count > self._limits.max_total_bytes:
            raise SnapshotError(
                f"{self._name}: refusing the bundle: it expands to more than "
                f"{_human(self._limits.max_total_bytes)} (decompression bomb?)"
            )
        if (
            self.count > self._limits.ratio_floor_bytes
            and self.count > self._limits.max_ratio * self._compressed
        ):
            raise SnapshotError(
                f"{self._name}: refusing the bundle: {_human(self._compressed)} expand to more than "
                f"{_human(self.count)}, a ratio above {self._limits.max_ratio}:1 (decompression bomb?)"
            )
        return n


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _safe_relative(member: tarfile.TarInfo, name: str) -> PurePosixPath | None:
    """The member's path inside the extraction root, or a refusal. None: the root itself."""
    raw = member.name
    if "\x00" in raw:
        raise SnapshotError(f"{name}: refusing the bundle: member name {raw!r} contains a NUL byte")
    if raw.startswith(("/", "\\")) or (len(raw) > 1 and raw[1] == ":"):
        raise SnapshotError(f"{name}: refusing the bundle: member {raw!r} has an absolute path")
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise SnapshotError(f"{name}: refusing the bundle: member {raw!r} has a '..' component")
    return PurePosixPath(*parts) if parts else None


def _refuse_special(member: tarfile.TarInfo, name: str) -> None:
    if member.issym():
        raise SnapshotError(
            f"{name}: refusing the bundle: member {member.name!r} is a symbolic link (to {member.linkname!r})"
        )
    if member.islnk():
        raise SnapshotError(
            f"{name}: refusing the bundle: member {member.name!r} is a hard link (to {member.linkname!r})"
        )
    if member.ischr() or member.isblk():
        raise SnapshotError(f"{name}: refusing the bundle: member {member.name!r} is a device file")
    if member.isfifo():
        raise SnapshotError(f"{name}: refusing the bundle: member {member.name!r} is a FIFO")
    if not (member.isreg() or member.isdir()):
        raise SnapshotError(f"{name}: refusing the bundle: member {member.name!r} is not a regular file")


def _second_opinion(member: tarfile.TarInfo, dest: Path, name: str) -> None:
    """tarfile's own `data` filter (3.11.4+) must agree that the member is harmless."""
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is None:
        return
    try:
        data_filter(member, str(dest))
    except tarfile.FilterError as exc:
        raise SnapshotError(f"{name}: refusing the bundle: {exc}") from None


def _open_stream(path: Path) -> IO[bytes]:
    raw = path.open("rb")
    head = raw.read(2)
    raw.seek(0)
    if head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw


def _extract_into(path: Path, dest: Path, limits: BundleLimits) -> None:
    name = str(path)
    compressed_size = path.stat().st_size
    stream = _open_stream(path)
    guard = _ExpansionGuard(stream, compressed_size, limits, name)
    members = 0
    try:
        # "r|": a forward-only stream, so tarfile never seeks and reads nothing we do not count.
        with tarfile.open(fileobj=io.BufferedReader(guard, _CHUNK), mode="r|") as tar:
            for member in tar:
                members += 1
                if members > limits.max_members:
                    raise SnapshotError(
                        f"{name}: refusing the bundle: more than {limits.max_members} members"
                    )
                rel = _safe_relative(member, name)
                _refuse_special(member, name)
                _second_opinion(member, dest, name)
                if member.size > limits.max_total_bytes:
                    raise SnapshotError(
                        f"{name}: refusing the bundle: member {member.name!r} declares "
                        f"{_human(member.size)}, more than {_human(limits.max_total_bytes)}"
                    )
                if rel is None:
                    continue
                target = dest.joinpath(*rel.parts)
                if member.isdir():
                    _make_dirs(dest, target, name)
                    continue
                _make_dirs(dest, target.parent, name)
                if target.is_dir():
                    raise SnapshotError(
                        f"{name}: refusing the bundle: {member.name!r} is both a file and a directory"
                    )
                source = tar.extractfile(member)
                if source is None:  # pragma: no cover - regular files always have a reader
                    continue
                # O_NOFOLLOW: even a path component turned into a link could not redirect us.
                fd = os.open(
                    target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600
                )
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
    except SnapshotError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error, gzip.BadGzipFile) as exc:
        raise SnapshotError(f"{name}: not a readable .tar.gz snapshot bundle: {exc}") from None
    finally:
        stream.close()
    if members == 0:
        raise SnapshotError(f"{name}: the bundle is empty")


def _make_dirs(root: Path, target: Path, name: str) -> None:
    # Only directories we created ourselves can exist below root, but check anyway: a path that
    # resolves outside the root is refused rather than written.
    target.mkdir(parents=True, exist_ok=True)
    resolved_root = root.resolve()
    resolved = target.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise SnapshotError(
            f"{name}: refusing the bundle: {target} would be outside the extraction directory"
        )


def _snapshot_root(extracted: Path) -> Path:
    """A bundle made with `tar czf x.tar.gz dir/` holds one top directory: that is the snapshot."""
    entries = [p for p in extracted.iterdir()]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return extracted


@contextmanager
def extracted(path: str | Path, *, limits: BundleLimits = DEFAULT_LIMITS) -> Iterator[Path]:
    """Extract a bundle into a fresh temporary directory, yield the snapshot root, then remove it."""
    p = Path(path)
    if not p.is_file():
        raise SnapshotError(f"{path}: not a snapshot directory or .tar.gz bundle")
    tmp = Path(tempfile.mkdtemp(prefix="waypoint-doctor-bundle-"))
    try:
        _extract_into(p, tmp, limits)
        yield _snapshot_root(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bundle_dir_name(dest: Path) -> str:
    name = dest.name
    for suffix in BUNDLE_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name or "snapshot"


def write_bundle(src_dir: str | Path, dest: str | Path) -> Path:
    """Pack a snapshot directory into `dest` (.tar.gz), under one top directory named after it.

    Only regular files and directories are packed, owners and modes normalised; the bundle is
    written to a temporary file first and renamed into place, so a failure leaves no half bundle.
    """
    src = Path(src_dir)
    out = Path(dest)
    if not src.is_dir():
        raise SnapshotError(f"{src}: not a directory")
    top = _bundle_dir_name(out)
    mtime = int(time.time())
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            tar.addfile(_dir_info(top, mtime))
            for path in sorted(src.rglob("*")):
                if path.is_symlink():
                    continue
                arcname = f"{top}/{path.relative_to(src).as_posix()}"
                if path.is_dir():
                    tar.addfile(_dir_info(arcname, mtime))
                elif path.is_file():
                    info = tarfile.TarInfo(arcname)
                    info.size = path.stat().st_size
                    info.mode = 0o644
                    info.mtime = mtime
                    with path.open("rb") as fh:
                        tar.addfile(info, fh)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return out


def _dir_info(name: str, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = mtime
    return info
