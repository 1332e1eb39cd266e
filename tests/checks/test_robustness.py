"""Malformed objects never crash a WD1xx-WD3xx check: any field of the healthy example replaced by
a value of the wrong type still ends in pass/warn/fail/skip/info, never `error`."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.checks.viewkit import healthy_objects, run_check, view_of

from waypoint_doctor.checks import binding, controlplane, enrollment

MINE = [spec.id for spec in (*controlplane.CHECKS, *enrollment.CHECKS, *binding.CHECKS)]
BASE = healthy_objects()

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=70000),
    st.text(max_size=8),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=3)), max_size=3),
    st.dictionaries(
        st.text(max_size=4), st.one_of(st.none(), st.integers(), st.text(max_size=3)), max_size=3
    ),
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


PATHS = [(i, p) for i, obj in enumerate(BASE) for p in _paths(obj) if p[0] not in ("apiVersion", "kind")]


def _replace(objects: list[dict], index: int, path: tuple, value: Any) -> None:
    node: Any = objects[index]
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.sampled_from(PATHS), junk), min_size=1, max_size=4))
def test_malformed_objects_never_crash(edits: list) -> None:
    import copy

    objects = copy.deepcopy(BASE)
    for (index, path), value in edits:
        try:
            _replace(objects, index, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed the path
    view = view_of(objects)
    for check_id in MINE:
        result = run_check(check_id, view)
        assert result.status != "error", f"{check_id}: {result.message} after {edits}"
        assert "\n" not in result.message, f"{check_id}: message spans lines"
