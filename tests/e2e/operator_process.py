"""The operator as a real process against the test cluster, as a user runs it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.gateway_api import gateway_api_crd_files
from tests.cluster.localcluster import free_port
from tests.cluster.postgres import SUPERUSER, PostgresServer, create_server
from tenant_operator.clock import set_simulated
from tests.e2e.processes import stop_process
from tests.e2e.receivers import HealthEndpoint, MailSink, WebhookSink, running
from tests.cluster.plugin import ClusterHandle

REPO = Path(__file__).resolve().parents[2]
DATABASE_NAMESPACE = "tenant-operator-system"
DATABASE_SERVER_SECRET = "postgres"


class OperatorProcess:
    def __init__(self, cluster: ClusterHandle, log_path: Path, smtp_port: int = 0) -> None:
        self.cluster = cluster
        self.smtp_port = smtp_port
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.liveness_port = 0
        self.metrics_port = 0
        self.archive_dir = log_path.parent / "archives"
        self.clock_file = log_path.parent / "clock"  # absent: real time

    def set_clock(self, instant: datetime) -> None:
        """The operator's calendar (windows, schedules) reads `instant` now and runs on from it."""
        set_simulated(self.clock_file, instant)

    def real_clock(self) -> None:
        self.clock_file.unlink(missing_ok=True)

    def start(self, timeout: float = 60) -> None:
        self.liveness_port, self.metrics_port = free_port(), free_port()
        self.webhook_port = free_port()
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "tenant_operator.cli", "run",
                "--bind", "127.0.0.1",
                "--liveness-port", str(self.liveness_port),
                "--metrics-port", str(self.metrics_port),
                "--webhook-port", str(self.webhook_port),
                "--webhook-host", "127.0.0.1",
                "--webhook-cert-dir", str(self.log_path.parent / "webhook-certs"),
                "--database-namespace", DATABASE_NAMESPACE,
                "--database-server", DATABASE_SERVER_SECRET,
                "--database-archive-dir", str(self.archive_dir),
                "--smtp-host", "127.0.0.1",
                "--smtp-port", str(self.smtp_port),
                "--clock-file", str(self.clock_file),
                "--json-logs",
            ],
            env=self.cluster.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        self.wait_live(timeout)

    def wait_live(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"operator exited with {self.process.returncode}:\n{self.logs()[-4000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"operator not live after {timeout}s:\n{self.logs()[-4000:]}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return response.read().decode()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        stop_process(self.process, sig, timeout)
        self.process = None

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def crds_installed(cluster: ClusterHandle) -> ClusterHandle:
    cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
    # Gateway API (standard channel) at GATEWAY_API_VERSION, straight from the Go module cache.
    gateway_api = [arg for path in gateway_api_crd_files() for arg in ("-f", str(path))]
    cluster.kubectl("apply", "--server-side", *gateway_api)
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return cluster


@pytest.fixture(scope="session")
def operator(
    crds_installed: ClusterHandle, tmp_path_factory: pytest.TempPathFactory, smtp_server: MailSink
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(crds_installed, tmp_path_factory.mktemp("operator") / "operator.log", smtp_server.port)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        if os.environ.get("TENANT_OPERATOR_SHOW_LOGS"):
            print(process.logs()[-20000:])


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the run; a missing server fails, never skips."""
    # Not under pytest's tmp_path: that is private to root, and the server runs as the postgres user.
    base = Path(tempfile.mkdtemp(prefix="tenant-operator-pg-"))
    server = create_server(base)
    try:
        yield server
    finally:
        if server.is_running():
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def database_server(crds_installed: ClusterHandle, postgres: PostgresServer) -> PostgresServer:
    """The server's admin connection, given to the operator as a labelled Secret (as the Helm values do)."""
    crds_installed.kubectl("create", "namespace", DATABASE_NAMESPACE, check=False)
    secret = crds_installed.kubectl(
        "create", "secret", "generic", DATABASE_SERVER_SECRET, "-n", DATABASE_NAMESPACE,
        f"--from-literal=host={postgres.host}", f"--from-literal=port={postgres.port}",
        f"--from-literal=user={SUPERUSER}", f"--from-literal=password={postgres.password}",
        "--from-literal=sslmode=disable", "--dry-run=client", "-o", "yaml",
    ).stdout
    crds_installed.kubectl("apply", "-f", "-", input_text=secret)
    crds_installed.kubectl(
        "label", "secret", DATABASE_SERVER_SECRET, "-n", DATABASE_NAMESPACE, "tenancy.io/database-server=true",
        "--overwrite",
    )
    return postgres


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[MailSink]:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""
    yield from running(MailSink())


@pytest.fixture(scope="session")
def webhook_receiver() -> Iterator[WebhookSink]:
    """A local HTTP endpoint that keeps the webhook POSTs it receives."""
    yield from running(WebhookSink())


@pytest.fixture()
def health_endpoint() -> Iterator[HealthEndpoint]:
    yield from running(HealthEndpoint())
