"""Shared fixtures: the fake Kubernetes API server (tests/fakeapi) for every test module."""

pytest_plugins = ["fakeapi.fixtures"]
