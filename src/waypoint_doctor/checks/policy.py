"""Checks: policy (being written)."""

from waypoint_doctor.checks.spec import CheckSpec

CHECKS: tuple[CheckSpec, ...] = ()
