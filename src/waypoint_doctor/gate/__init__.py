"""CI gates: --fail-on, --select/--ignore, suppressions (flags, annotations, .waypoint-doctor.yaml)."""
