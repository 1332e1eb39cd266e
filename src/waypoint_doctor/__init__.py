"""waypoint-doctor: diagnose L7 authorization through Istio ambient waypoints."""

__version__ = "0.1.0"
