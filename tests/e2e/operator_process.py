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
import yaml

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

# The operator runs as the chart's ServiceAccount, with the chart's RBAC, so the suite proves that RBAC is enough.
# Rendered under its own release name: test_chart.py installs and uninstalls the `tenant-operator` release in the
# same namespace, and its `helm uninstall` must not take these objects away.
CHART = REPO / "charts" / "tenant-operator"
OPERATOR_NAMESPACE = DATABASE_NAMESPACE
OPERATOR_RELEASE = "tenant-operator-e2e"
OPERATOR_SERVICE_ACCOUNT = OPERATOR_RELEASE  # the chart's fullname: the release name already holds the chart's
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
_operator_kubeconfigs: dict[Path, Path] = {}  # admin kubeconfig -> the ServiceAccount's


def chart_rbac(cluster: ClusterHandle) -> list[dict]:
    """The chart's ServiceAccount, (Cluster)Roles and bindings, rendered by the real helm."""
    rendered = subprocess.run(
        [cluster.tool("helm"), "template", OPERATOR_RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE],
        env=cluster.env(), capture_output=True, text=True,
    )
    if rendered.returncode != 0:
        raise AssertionError(f"helm template failed:\n{rendered.stderr}")
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc and doc.get("kind") in RBAC_KINDS]


def install_chart_rbac(cluster: ClusterHandle) -> list[dict]:
    objects = chart_rbac(cluster)
    cluster.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)  # present already is fine
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input_text=yaml.safe_dump_all(objects))
    return objects


def service_account_kubeconfig(cluster: ClusterHandle, token: str, path: Path) -> Path:
    """The admin kubeconfig's server and CA, with the ServiceAccount's token as the user."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    context_name = admin.get("current-context") or admin["contexts"][0]["name"]
    context = next(c["context"] for c in admin["contexts"] if c["name"] == context_name)
    server = dict(next(c["cluster"] for c in admin["clusters"] if c["name"] == context["cluster"]))
    authority = server.get("certificate-authority")
    if authority and not Path(authority).is_absolute():
        server["certificate-authority"] = str((cluster.kubeconfig.parent / authority).resolve())
    user = OPERATOR_USER
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": server}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "cluster", "user": user}}],
        "current-context": "operator",
    }))
    path.chmod(0o600)
    return path


def operator_kubeconfig(cluster: ClusterHandle) -> Path:
    """The kubeconfig every OperatorProcess runs with: the chart's ServiceAccount, its RBAC installed once."""
    if cluster.kubeconfig not in _operator_kubeconfigs:
        install_chart_rbac(cluster)
        token = cluster.kubectl(
            "create", "token", OPERATOR_SERVICE_ACCOUNT, "-n", OPERATOR_NAMESPACE, "--duration=24h"
        ).stdout.strip()
        folder = Path(tempfile.mkdtemp(prefix="tenant-operator-sa-"))
        _operator_kubeconfigs[cluster.kubeconfig] = service_account_kubeconfig(cluster, token, folder / "kubeconfig")
    return _operator_kubeconfigs[cluster.kubeconfig]


def forget_operator_kubeconfig(cluster: ClusterHandle) -> None:
    path = _operator_kubeconfigs.pop(cluster.kubeconfig, None)
    if path is not None:
        shutil.rmtree(path.parent, ignore_errors=True)


class OperatorProcess:
    def __init__(self, cluster: ClusterHandle, log_path: Path, smtp_port: int = 0,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.cluster = cluster
        self.extra_args = extra_args
        self.smtp_port = smtp_port
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.liveness_port = 0
        self.metrics_port = 0
        self.archive_dir = log_path.parent / "archives"
        self.clock_file = log_path.parent / "clock"  # absent: real time
        # Not the admin's: the chart's ServiceAccount (tests keep the admin kubeconfig of cluster.env()).
        self.kubeconfig = operator_kubeconfig(cluster)

    def set_clock(self, instant: datetime) -> None:
        """The operator's calendar (windows, schedules) reads `instant` now and runs on from it."""
        set_simulated(self.clock_file, instant)

    def real_clock(self) -> None:
        self.clock_file.unlink(missing_ok=True)

    def start(self, timeout: float = 60, attempts: int = 3) -> None:
        """Starts the operator; a port taken by another process between free_port() and bind means new ports."""
        for attempt in range(attempts):
            logged = len(self.logs())
            self._spawn()
            try:
                self.wait_live(timeout)
                return
            except RuntimeError:
                if attempt + 1 == attempts or "address already in use" not in self.logs()[logged:]:
                    raise

    def _spawn(self) -> None:
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
                *self.extra_args,
            ],
            env={**self.cluster.env(), "KUBECONFIG": str(self.kubeconfig)},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )

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
    operator_kubeconfig(crds_installed)  # the chart's ServiceAccount and RBAC, applied for real, once
    process = OperatorProcess(crds_installed, tmp_path_factory.mktemp("operator") / "operator.log", smtp_server.port)
    process.start()
    try:
        yield process
    finally:
        process.stop()
        forget_operator_kubeconfig(crds_installed)
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
