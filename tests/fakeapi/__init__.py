"""A fake Kubernetes API server for waypoint-doctor's end-to-end tests; see README.md."""

from .server import ApiError, FakeApiConfig, FakeApiServer, ForbidRule, RequestRecord

__all__ = ["ApiError", "FakeApiConfig", "FakeApiServer", "ForbidRule", "RequestRecord"]
