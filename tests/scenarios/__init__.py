"""Every scenario, by family. Each module lists its scenarios in `SCENARIOS`."""

from __future__ import annotations

import importlib

from scenariolib import Scenario, no_change

HEALTHY = Scenario(name="healthy", doc="the how-to's MLflow setup, working", mutate=no_change, fails=set())

_MODULES = ("wd1", "wd2", "wd3", "wd4", "wd5", "general")


def all_scenarios() -> list[Scenario]:
    out = [HEALTHY]
    for name in _MODULES:
        try:
            module = importlib.import_module(f"scenarios.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"scenarios.{name}":
                continue
            raise
        out.extend(module.SCENARIOS)
    names = [s.name for s in out]
    dupes = {n for n in names if names.count(n) > 1}
    assert not dupes, f"duplicate scenario names: {dupes}"
    return out
