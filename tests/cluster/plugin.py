"""pytest integration for the test cluster: `--cluster=local|kind|existing`.

local (default): the real control plane of localcluster.py, started for the run and torn down after it.
kind: a kind cluster through pytest-kind-ng, for machines with Docker.
existing: the cluster of the current KUBECONFIG.

A cluster that cannot start fails the run: e2e tests never skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .localcluster import LocalCluster, build_binaries

# One cluster per pytest process, so parallel runs on one machine (CI, a developer, a benchmark) never share one.
LOCAL_CLUSTER_NAME = f"tenant-operator-test-{os.getpid()}"


@dataclass(frozen=True)
class ClusterHandle:
    """What a test needs to talk to the cluster: its kubeconfig and the CLIs built for it."""

    kubeconfig: Path
    bin_dir: Path | None

    def tool(self, name: str) -> str:
        if self.bin_dir is not None and (self.bin_dir / name).exists():
            return str(self.bin_dir / name)
        found = shutil.which(name)
        if found is None:
            raise FileNotFoundError(f"{name} is neither built into the cluster cache nor on PATH")
        return found

    def env(self) -> dict[str, str]:
        path = os.environ.get("PATH", "")
        if self.bin_dir is not None:
            path = f"{self.bin_dir}{os.pathsep}{path}"
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path}

    def kubectl(
        self, *args: str, input_text: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [self.tool("kubectl"), *args],
            env=self.env(),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cluster",
        choices=["local", "kind", "existing"],
        default=os.environ.get("TENANT_OPERATOR_TEST_CLUSTER", "local"),
        help="where e2e tests run: the local control plane (default), kind, or the current KUBECONFIG",
    )


def _local_cluster() -> Iterator[ClusterHandle]:
    started = time.monotonic()
    cluster = LocalCluster(LOCAL_CLUSTER_NAME, build_binaries())
    try:
        cluster.create(nodes=2)
    except Exception as error:
        cluster.delete()
        pytest.fail(f"the local test cluster could not start: {error}", pytrace=False)
    print(f"\nlocal cluster ready in {time.monotonic() - started:.1f}s")
    try:
        yield ClusterHandle(cluster.kubeconfig, cluster.bin_dir)
    finally:
        cluster.delete()


def _kind_cluster() -> Iterator[ClusterHandle]:
    try:
        from pytest_kind import KindCluster
    except ImportError:
        pytest.fail("--cluster=kind needs pytest-kind-ng: pip install -e '.[kind]'", pytrace=False)
    cluster = KindCluster("tenant-operator")
    cluster.create()
    try:
        yield ClusterHandle(Path(cluster.kubeconfig_path), None)
    finally:
        cluster.delete()


def _existing_cluster() -> Iterator[ClusterHandle]:
    kubeconfig = Path(os.environ.get("KUBECONFIG", Path.home() / ".kube" / "config"))
    if not kubeconfig.exists():
        pytest.fail(f"--cluster=existing: no kubeconfig at {kubeconfig}", pytrace=False)
    yield ClusterHandle(kubeconfig, None)


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[ClusterHandle]:
    """A real Kubernetes API server for the whole run."""
    kind = request.config.getoption("--cluster")
    factory = {"local": _local_cluster, "kind": _kind_cluster, "existing": _existing_cluster}[kind]
    yield from factory()
