"""The one explicit list of checks, sorted by ID. Adding a check means adding it to its module's
`CHECKS` tuple; adding a module means naming it here."""

from __future__ import annotations

from waypoint_doctor.checks import binding, controlplane, enrollment, evidence, policy, traversal
from waypoint_doctor.checks.spec import CheckSpec

ALL_CHECKS: tuple[CheckSpec, ...] = tuple(
    sorted(
        (
            *controlplane.CHECKS,
            *enrollment.CHECKS,
            *binding.CHECKS,
            *policy.CHECKS,
            *evidence.CHECKS,
            *traversal.CHECKS,
        ),
        key=lambda spec: spec.id,
    )
)
BY_ID: dict[str, CheckSpec] = {spec.id: spec for spec in ALL_CHECKS}
