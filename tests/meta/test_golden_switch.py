"""The `--update-golden` switch: a golden comparison fails on a difference and shows the diff;
with the switch it rewrites the file and passes."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

TEST = """
def test_it(golden):
    golden("sample.txt", "line one\\nline two\\n")
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    text = CONFTEST.read_text(encoding="utf-8").replace('pytest_plugins = ["fakeapi.fixtures"]', "")
    pytester.makeconftest(text)
    pytester.makepyfile(test_sample=TEST)
    return pytester


def test_missing_golden_file_fails_and_says_how_to_create_it(project: pytest.Pytester) -> None:
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no golden file*--update-golden*"])


def test_update_writes_then_compare_passes_then_a_change_fails_with_a_diff(project: pytest.Pytester) -> None:
    project.runpytest("--update-golden").assert_outcomes(passed=1)
    written = project.path / "golden" / "sample.txt"
    assert written.read_text(encoding="utf-8") == "line one\nline two\n"
    project.runpytest().assert_outcomes(passed=1)
    written.write_text("line one\nline 2\n", encoding="utf-8")
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*-line 2", "*+line two"])
