"""Log forensics: parsers for ztunnel and waypoint (Envoy) access logs, grouping, sanitising.

Everything here is pure: parsers take lines (or any ``logs.lines`` source) and return immutable
records; ``aggregate`` groups records into evidence; ``sanitize`` makes cluster text safe to show.
"""

from waypoint_doctor.logs.sanitize import clean_text, redact_secrets, safe_text
from waypoint_doctor.logs.spiffe import SpiffeId, parse_spiffe

__all__ = ["SpiffeId", "clean_text", "parse_spiffe", "redact_secrets", "safe_text"]
