"""Errors the collectors raise for the CLI to turn into one clear line and an exit code."""


class ClusterUnreachable(Exception):
    """No report is possible: no kubeconfig, unreachable server, or credentials refused (exit 3)."""
