"""What the benchmarks share: the local cluster with an audit log, the operator as the chart's ServiceAccount,
a real PostgreSQL server, tenant documents, process usage from /proc and API requests counted from the audit log.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from tests.cluster.localcluster import LocalCluster, build_binaries  # noqa: E402
from tests.cluster.plugin import ClusterHandle  # noqa: E402
from tests.cluster.postgres import PostgresServer, create_server  # noqa: E402
from tests.e2e.operator_process import (  # noqa: E402
    DATABASE_NAMESPACE,
    DATABASE_SERVER_SECRET,
    OPERATOR_USER,
    OperatorProcess,
    operator_kubeconfig,
)

DATABASE_EVERY = 10  # one tenant in ten asks for a database

# Only the operator's requests are recorded: the benchmark's own client, kubectl and the controllers are not.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata", "users": [OPERATOR_USER]}, {"level": "None"}],
}


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.machine(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return (f"{model}, {os.cpu_count()} cores, {memory_kb / 1024 / 1024:.0f} GiB, {platform.system()} "
            f"{platform.release()}, {platform.python_implementation()} {platform.python_version()}")


def wants_database(index: int) -> bool:
    return index % DATABASE_EVERY == 0


def tenant(name: str, database: bool = False) -> dict:
    spec: dict = {"displayName": f"Bench {name}", "plan": "basic"}
    if database:
        spec["database"] = {"enabled": True, "deletionPolicy": "Delete"}
    return {"apiVersion": "tenancy.io/v1alpha1", "kind": "Tenant", "metadata": {"name": name}, "spec": spec}


def tenant_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{index:04d}" for index in range(count)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


@dataclass(frozen=True)
class Usage:
    peak_rss_mb: float
    rss_mb: float
    cpu_seconds: float


def process_usage(pid: int) -> Usage:
    """Peak and current RSS and CPU seconds of a running process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    kilobytes = {line.split(":")[0]: int(line.split()[1]) for line in status if line.startswith(("VmHWM", "VmRSS"))}
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return Usage(kilobytes["VmHWM"] / 1024, kilobytes["VmRSS"] / 1024, (int(fields[11]) + int(fields[12])) / ticks)


@dataclass
class AuditLog:
    """Counts the operator's API requests from the apiserver's audit log, from a mark onwards."""

    path: Path
    offset: int = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def requests(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        with self.path.open("rb") as log:
            log.seek(self.offset)
            for line in log:
                counts.update(_request_key(json.loads(line)))
        return counts


def _request_key(event: dict) -> Iterable[str]:
    """One key per request: watches count when they start, everything else when its response completes."""
    verb = event.get("verb", "")
    stage = event.get("stage")
    if (verb == "watch") != (stage == "ResponseStarted"):
        return ()
    reference = event.get("objectRef") or {}
    resource = reference.get("resource", event.get("requestURI", "?"))
    if reference.get("subresource"):
        resource += "/" + reference["subresource"]
    return (f"{verb} {resource}",)


@dataclass
class Bench:
    """A local cluster with the CRDs, the chart's RBAC, a PostgreSQL server and its Secret."""

    name: str = field(default_factory=lambda: f"tenant-operator-bench-{os.getpid()}")
    cluster: LocalCluster = field(init=False)
    handle: ClusterHandle = field(init=False)
    postgres: PostgresServer = field(init=False)
    scratch: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tenant-operator-bench-")))

    def __post_init__(self) -> None:
        self.cluster = LocalCluster(self.name, build_binaries())

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.cluster.audit_log)

    def start(self) -> None:
        policy = self.scratch / "audit-policy.json"
        policy.write_text(json.dumps(AUDIT_POLICY))
        self.cluster.create(nodes=1, audit_policy=policy)
        self.handle = ClusterHandle(self.cluster.kubeconfig, self.cluster.bin_dir)
        self.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        self.kubectl("wait", "--for=condition=Established", "crd", "--all")
        operator_kubeconfig(self.handle)
        self.scratch.chmod(0o755)  # the server runs as the postgres user
        self.postgres = create_server(self.scratch / "postgres")
        self.install_server_secret()

    def install_server_secret(self) -> None:
        secret = self.kubectl(
            "create", "secret", "generic", DATABASE_SERVER_SECRET, "-n", DATABASE_NAMESPACE,
            f"--from-literal=host={self.postgres.host}", f"--from-literal=port={self.postgres.port}",
            "--from-literal=user=postgres", f"--from-literal=password={self.postgres.password}",
            "--from-literal=sslmode=disable", "--dry-run=client", "-o", "json",
        )
        document = json.loads(secret)
        document["metadata"]["labels"] = {"tenancy.io/database-server": "true"}
        self.kubectl("apply", "-f", "-", input_text=json.dumps(document))

    def kubectl(self, *args: str, input_text: str | None = None) -> str:
        return self.handle.kubectl(*args, input_text=input_text, timeout=600).stdout

    def operator(self, log_name: str, extra_args: tuple[str, ...] = ()) -> OperatorProcess:
        return OperatorProcess(self.handle, self.scratch / log_name, extra_args=extra_args)

    def stop(self) -> None:
        try:
            if getattr(self, "postgres", None) is not None and self.postgres.is_running():
                self.postgres.stop()
        finally:
            self.cluster.delete()
            for log in self.scratch.glob("operator-*.log"):  # kept for a look afterwards (git-ignored)
                shutil.copy(log, REPO / "bench" / log.name)
            shutil.rmtree(self.scratch, ignore_errors=True)


def processes() -> Iterator[tuple[int, list[str]]]:
    """(pid, argv) of every process that can be read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        yield int(entry.name), [part.decode(errors="replace") for part in argv if part]


def component_pids(cluster: LocalCluster) -> dict[str, int]:
    """The control plane's processes of this cluster (kwokctl's binary runtime runs each as a plain process)."""
    marker = f"{cluster.workdir / 'clusters' / cluster.name}/"
    return {Path(argv[0]).name: pid for pid, argv in processes() if argv and any(marker in part for part in argv)}


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    usage: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            usage[name] = process_usage(pid).cpu_seconds
        except (OSError, KeyError):
            continue
    return usage
