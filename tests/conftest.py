"""Shared fixtures: the fake Kubernetes API server (tests/fakeapi) for every test module, and
golden files (`pytest --update-golden` rewrites them from the current output)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = ["fakeapi.fixtures"]

GOLDEN_DIR = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files (tests/golden, README excerpts) from the current output "
        "instead of comparing with them",
    )


def update_golden_requested(config: pytest.Config) -> bool:
    return bool(config.getoption("--update-golden"))


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """`golden("junit/check.xml", text)`: `text` must equal tests/golden/junit/check.xml.

    With `--update-golden` the file is (re)written instead and the test passes; review the diff
    with `git diff tests/golden` before committing it."""
    update = update_golden_requested(request.config)

    def compare(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
            return
        if not path.exists():
            pytest.fail(f"no golden file {path}: run pytest --update-golden to create it")
        expected = path.read_text(encoding="utf-8")
        if text != expected:
            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    f"golden/{name}",
                    "current output",
                )
            )
            pytest.fail(
                f"output differs from tests/golden/{name} (pytest --update-golden rewrites it):\n{diff}"
            )

    return compare
