"""Bundles are hostile input: every unsafe member is refused and nothing lands outside a temp dir.

Each malicious bundle is built here with tarfile, then loaded through `load_snapshot` (the path
`check --snapshot` takes) and through the CLI (one clear line, exit 2, no traceback).
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from waypoint_doctor.collect import bundle
from waypoint_doctor.collect.bundle import BundleLimits, extracted, write_bundle
from waypoint_doctor.collect.snapshot_dir import SnapshotError, load_snapshot

from clihelpers import REPO, run_cli

HEALTHY = REPO / "examples" / "kagenti-healthy"
SNAPSHOT_YAML = (HEALTHY / "snapshot.yaml").read_bytes()


def _file(tar: tarfile.TarFile, name: str, data: bytes = b"x: 1\n") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _make(path: Path, build: Callable[[tarfile.TarFile], None], *, gz: bool = True) -> Path:
    with tarfile.open(path, "w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tar:
        _file(tar, "snap/snapshot.yaml", SNAPSHOT_YAML)
        build(tar)
    return path


def _symlink(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("snap/pods.yaml")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    tar.addfile(info)


def _hardlink(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("snap/pods.yaml")
    info.type = tarfile.LNKTYPE
    info.linkname = "snap/snapshot.yaml"
    tar.addfile(info)


def _device(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("snap/null")
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    tar.addfile(info)


def _fifo(tar: tarfile.TarFile) -> None:
    info = tarfile.TarInfo("snap/pipe")
    info.type = tarfile.FIFOTYPE
    tar.addfile(info)


def _symlink_dir_then_write_through(tar: tarfile.TarFile) -> None:
    # the classic two-step escape: a link to a directory outside, then a file "inside" it
    info = tarfile.TarInfo("snap/logs")
    info.type = tarfile.SYMTYPE
    info.linkname = "../../../../tmp"
    tar.addfile(info)
    _file(tar, "snap/logs/escaped.txt", b"gotcha")


CASES: dict[str, tuple[Callable[[tarfile.TarFile], None], str]] = {
    "absolute-path": (lambda t: _file(t, "/tmp/waypoint-doctor-escape.yaml"), "absolute path"),
    "dotdot": (lambda t: _file(t, "snap/../../waypoint-doctor-escape.yaml"), "'..' component"),
    "dotdot-leading": (lambda t: _file(t, "../waypoint-doctor-escape.yaml"), "'..' component"),
    "symlink": (_symlink, "symbolic link"),
    "hardlink": (_hardlink, "hard link"),
    "device": (_device, "device file"),
    "fifo": (_fifo, "FIFO"),
    "symlink-then-write": (_symlink_dir_then_write_through, "symbolic link"),
}


@pytest.fixture
def isolated_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Extraction temp dirs go under tmp_path/t, so the test can see all that was written."""
    tdir = tmp_path / "t"
    tdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tdir))
    return tdir


def _everything_under(root: Path) -> list[Path]:
    return sorted(root.rglob("*"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_unsafe_member_is_refused(case: str, tmp_path: Path, isolated_tmp: Path) -> None:
    build, needle = CASES[case]
    path = _make(tmp_path / f"{case}.tar.gz", build)
    outside_before = _everything_under(tmp_path.parent)
    with pytest.raises(SnapshotError, match=needle) as info:
        load_snapshot(path)
    assert str(path) in str(info.value)
    # the extraction directory is gone, and nothing was written anywhere else
    assert _everything_under(isolated_tmp) == []
    assert not Path("/tmp/waypoint-doctor-escape.yaml").exists()
    assert not (tmp_path.parent / "waypoint-doctor-escape.yaml").exists()
    assert _everything_under(tmp_path.parent) == outside_before


def test_unsafe_bundle_is_one_clear_line_through_the_cli(tmp_path: Path) -> None:
    path = _make(tmp_path / "evil.tar.gz", _symlink)
    res = run_cli("check", "mlflow", "-n", "kagenti-system", "--snapshot", str(path))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "refusing the bundle" in res.stderr and "symbolic link" in res.stderr


class _Zeros(io.RawIOBase):
    """`size` zero bytes, produced on demand (a bomb without holding it in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self.left)
        buffer[:n] = b"\0" * n
        self.left -= n
        return n


def _bomb(path: Path, size: int, members: int = 1) -> Path:
    with gzip.open(path, "wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for i in range(members):
            info = tarfile.TarInfo(f"snap/logs/ns/pod/c{i}.log")
            info.size = size
            tar.addfile(info, io.BufferedReader(_Zeros(size)))
    return path


def test_decompression_bomb_is_refused_by_ratio(tmp_path: Path, isolated_tmp: Path) -> None:
    path = _bomb(tmp_path / "bomb.tar.gz", 64 * 1024 * 1024)  # 64 MiB of zeros: ~64 KiB compressed
    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(SnapshotError, match="decompression bomb"):
        load_snapshot(path)
    assert _everything_under(isolated_tmp) == []


def test_decompression_bomb_is_refused_by_total_size(tmp_path: Path, isolated_tmp: Path) -> None:
    # each member is under the cap, together they are not: the bytes actually decompressed count
    path = _bomb(tmp_path / "bomb.tar.gz", 256 * 1024, members=8)
    limits = BundleLimits(max_total_bytes=1024 * 1024, max_ratio=10**9)
    with pytest.raises(SnapshotError, match="expands to more than"), extracted(path, limits=limits):
        pass
    assert _everything_under(isolated_tmp) == []


def test_member_declaring_a_huge_size_is_refused_before_reading(tmp_path: Path) -> None:
    path = _make(tmp_path / "huge.tar.gz", lambda t: _file(t, "snap/a.yaml", b"a: 1\n"))
    limits = BundleLimits(max_total_bytes=64 * 1024)
    big = tmp_path / "big.tar.gz"
    _bomb(big, 128 * 1024)
    with pytest.raises(SnapshotError), extracted(big, limits=limits):
        pass
    with extracted(path, limits=limits) as root:  # a small bundle is fine under the same limits
        assert (root / "a.yaml").is_file()


def test_too_many_members_is_refused(tmp_path: Path) -> None:
    def many(tar: tarfile.TarFile) -> None:
        for i in range(50):
            _file(tar, f"snap/f{i}.yaml")

    path = _make(tmp_path / "many.tar.gz", many)
    with (
        pytest.raises(SnapshotError, match="more than 20 members"),
        extracted(path, limits=BundleLimits(max_members=20)),
    ):
        pass


def test_garbage_and_truncated_bundles_are_clear_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b\x08\x00not really gzip at all")
    with pytest.raises(SnapshotError, match="not a readable"):
        load_snapshot(junk)
    good = _make(tmp_path / "good.tar.gz", lambda t: None)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:-40])
    with pytest.raises(SnapshotError):
        load_snapshot(cut)


def test_write_bundle_round_trips_the_healthy_example(tmp_path: Path, isolated_tmp: Path) -> None:
    out = write_bundle(HEALTHY, tmp_path / "healthy.tar.gz")
    with tarfile.open(out) as tar:
        members = tar.getmembers()
    assert all(m.isfile() or m.isdir() for m in members)
    assert all(m.name.startswith("healthy/") or m.name == "healthy" for m in members)
    assert all(m.uid == 0 and m.uname == "" for m in members)
    direct = load_snapshot(HEALTHY)
    via_bundle = load_snapshot(out)
    for key in ("pods", "services", "gateways.gateway.networking.k8s.io"):
        assert sorted(map(repr, direct.list(key))) == sorted(map(repr, via_bundle.list(key)))
    assert direct.logs == via_bundle.logs
    assert via_bundle.source.taken_at == direct.source.taken_at
    assert _everything_under(isolated_tmp) == []  # the extraction dir was removed


def test_a_flat_bundle_and_an_uncompressed_tar_load_too(tmp_path: Path) -> None:
    flat = tmp_path / "flat.tar.gz"
    with tarfile.open(flat, "w:gz") as tar:
        for path in sorted(HEALTHY.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(HEALTHY)), recursive=False)
    assert load_snapshot(flat).get("services", "kagenti-system", "mlflow") is not None
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(HEALTHY, arcname="snap")
    assert load_snapshot(plain).get("services", "kagenti-system", "mlflow") is not None


def test_extraction_never_follows_a_preexisting_link(tmp_path: Path) -> None:
    # Belt and braces: even if a link appeared inside the extraction dir, O_NOFOLLOW refuses it.
    target = tmp_path / "victim"
    target.write_text("keep")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(target, root / "a.yaml")
    with pytest.raises(OSError):
        os.open(root / "a.yaml", os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
    assert target.read_text() == "keep"
    assert bundle.is_bundle_name("x.tgz") and bundle.is_bundle_name("x.tar.gz")
