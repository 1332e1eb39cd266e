"""Meta-tests over the check registry: every catalog check implemented once, documented, declared."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from waypoint_doctor.checks.registry import ALL_CHECKS

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO.parent / "shared" / "spec" / "checks.md"
ID = re.compile(r"^WD[1-5]\d\d$")
FAMILY_CATEGORY = {"1": "control-plane", "2": "enrollment", "3": "waypoint", "4": "policy", "5": "evidence"}


def catalog_ids() -> set[str]:
    if not CATALOG.exists():
        pytest.skip("shared/spec/checks.md is not beside this checkout")
    return set(re.findall(r"^\| (WD\d{3}) \|", CATALOG.read_text(), flags=re.M))


def test_ids_unique_and_well_formed() -> None:
    ids = [c.id for c in ALL_CHECKS]
    assert len(ids) == len(set(ids))
    assert all(ID.match(i) for i in ids)
    assert ids == sorted(ids)


def test_every_catalog_check_is_implemented() -> None:
    implemented = {c.id for c in ALL_CHECKS}
    missing = catalog_ids() - implemented
    assert not missing, f"catalog checks not implemented: {sorted(missing)}"


@pytest.mark.parametrize("spec", ALL_CHECKS, ids=[c.id for c in ALL_CHECKS])
def test_check_is_declared_and_documented(spec) -> None:
    assert spec.title and spec.summary, spec.id
    assert spec.category == FAMILY_CATEGORY[spec.id[2]], spec.id
    doc = REPO / spec.doc
    assert doc.exists(), f"{spec.doc} missing"
    text = doc.read_text()
    assert spec.id in text.splitlines()[0], f"{spec.doc} should start with its ID"
    for heading in ("## What it checks", "## Why it matters", "## Example", "## How to fix"):
        assert heading in text, f"{spec.doc} lacks '{heading}'"


def test_scope_of_control_plane_checks() -> None:
    for spec in ALL_CHECKS:
        if spec.id.startswith("WD1") and spec.id != "WD105":
            assert spec.scope == "cluster", spec.id
