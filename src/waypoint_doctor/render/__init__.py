"""Renderers: plug-ins over one report model. Colour lives in the terminal renderer only."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

Renderer = Callable[[Any, IO[str], bool], None]
_RENDERERS: dict[str, str] = {
    "table": "waypoint_doctor.render.table",
    "json": "waypoint_doctor.render.structured",
    "yaml": "waypoint_doctor.render.structured",
    "markdown": "waypoint_doctor.render.markdown",
    "junit": "waypoint_doctor.render.junit",
    "sarif": "waypoint_doctor.render.sarif",
}
FORMATS: tuple[str, ...] = tuple(_RENDERERS)


def get_renderer(fmt: str) -> Renderer:
    """Import only the renderer asked for (rich is slow to import and JSON users do not need it)."""
    import importlib

    module = importlib.import_module(_RENDERERS[fmt])
    return getattr(module, f"render_{fmt}")
