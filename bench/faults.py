"""Fault runs (issue 9): kill -9 the operator every few seconds while N tenants are created, restart the
kube-apiserver and PostgreSQL mid-run, then check that every tenant converged with nothing missing or duplicated,
delete them all (killing the operator a few more times) and check that nothing leaked.

    .venv/bin/python bench/faults.py --tenants 1000 --kill-every 5

Starts the local test cluster (tests/cluster, its own cluster name) with a real PostgreSQL server and runs the
operator as a process with the chart's ServiceAccount (bench/harness.py). N tenants (one in ten with a database,
deletionPolicy Delete) are created in batches of 50 by `kubectl create`; creates the apiserver rejects (the
operator's admission webhook is down while it restarts, or the apiserver itself is) are sent again until every
tenant exists. Meanwhile the operator is killed with SIGKILL after a random 0.5x-1.5x --kill-every seconds of
liveness and started again at once. Once a third of the tenants are Ready the kube-apiserver is killed (SIGKILL)
and started again with the same command line; at two thirds PostgreSQL is stopped for 5 s (during the kills, or
after them if the kills stopped first). The kills stop when every tenant is Ready, after --kill-timeout, or when
no tenant became Ready for --stall seconds once all exist (the operator makes no headway between kills); then
the last operator runs undisturbed until every tenant is Ready or again nothing moves for --stall seconds.

Checks (admin kubeconfig and the PostgreSQL superuser), expected objects rendered by the operator's own pure
code (tenant.render.desired_state) from each Tenant's stored spec and uid:
  converged: every Tenant exists and is Ready=True at its generation; per kind (Namespace, Role, RoleBinding,
    ResourceQuota, LimitRange, NetworkPolicy, ConfigMap, Secret) the labelled objects are exactly the expected
    ones, owned by the tenant's uid; PostgreSQL roles and databases `tenant_*` are exactly the database tenants',
    with the ownership comment and owner; each `tenant-database` Secret logs in to its database as its role;
    each database has exactly the base migrations.
  deleted (`kubectl delete tenants --all --wait=false`, --delete-kills more kills, then undisturbed until no
    Tenant is left or the count stalls; then until the namespaces are gone): no Tenant left (finalizers done), no
    namespace or object with the tenant label, no `tenant_*` role or database.
"missing" is an expected object that is absent, "duplicated" an object beyond the expected ones for an existing
tenant, "leaked" an object for no tenant (or left after deletion), "wrong" an object present but not as
expected (not Ready, wrong owner, comment or password). Figures and verdicts, not assertions: results go to
bench/faults-results.json, a table is printed, and the exit code is 1 when any check fails. The operator's,
PostgreSQL's and the control plane's logs are copied (gzipped) to /tmp/faults-logs/<date>-n<N>/ before cleanup.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import random
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import psycopg
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import Bench, machine, percentile, processes, tenant, tenant_names, wants_database  # noqa: E402
from tests.e2e.operator_process import OperatorProcess, forget_operator_kubeconfig  # noqa: E402
from tenant_operator.api import LABEL_MANAGED_BY, LABEL_OWNER_KIND, LABEL_TENANT, MANAGER  # noqa: E402
from tenant_operator.database.migrations import TABLE as MIGRATIONS_TABLE, base_migrations  # noqa: E402
from tenant_operator.database.naming import database_identifier, ownership_comment  # noqa: E402
from tenant_operator.database.provision import SECRET_NAME  # noqa: E402
from tenant_operator.tenant.database import database_enabled  # noqa: E402
from tenant_operator.tenant.model import TenantSpec  # noqa: E402
from tenant_operator.tenant.render import desired_state  # noqa: E402

RESULTS = REPO / "bench" / "faults-results.json"
LOGS = Path("/tmp/faults-logs")
CLUSTER_NAME = "tenant-operator-bench-faults"  # not fleet.py's: both may run on the machine
PREFIX = "fault"
BATCH = 50
TENANTS_PATH = "/apis/tenancy.io/v1alpha1/tenants"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
EXAMPLES = 20  # names kept per list in the results

# kind -> (kubectl resource, namespaced)
KINDS: dict[str, tuple[str, bool]] = {
    "Namespace": ("namespaces", False),
    "Role": ("roles.rbac.authorization.k8s.io", True),
    "RoleBinding": ("rolebindings.rbac.authorization.k8s.io", True),
    "ResourceQuota": ("resourcequotas", True),
    "LimitRange": ("limitranges", True),
    "NetworkPolicy": ("networkpolicies.networking.k8s.io", True),
    "ConfigMap": ("configmaps", True),
    "Secret": ("secrets", True),
}
OWNED = f"{LABEL_MANAGED_BY}={MANAGER},{LABEL_TENANT},!{LABEL_OWNER_KIND}"  # what Tenants keep (tenant_owned_selector)
LABELLED = LABEL_TENANT  # anything labelled for a tenant, whoever keeps it


class Clock:
    """Seconds since the run started, and a log of what happened when."""

    def __init__(self) -> None:
        self.zero = time.monotonic()
        self.events: list[tuple[float, str]] = []
        self.lock = threading.Lock()

    def now(self) -> float:
        return round(time.monotonic() - self.zero, 2)

    def event(self, what: str) -> None:
        with self.lock:
            self.events.append((self.now(), what))
        print(f"[{self.now():8.1f}s] {what}", flush=True)


class Api:
    """A minimal HTTPS client with the admin kubeconfig: server-side Tables are light enough to poll every few
    seconds with a thousand tenants (kubectl would fetch and decode every full object)."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]

        def resolve(path: str) -> str:
            return str(path if Path(path).is_absolute() else (kubeconfig.parent / path).resolve())

        self.server = cluster["server"]
        self.context = ssl.create_default_context(cafile=resolve(cluster["certificate-authority"]))
        self.context.load_cert_chain(resolve(user["client-certificate"]), resolve(user["client-key"]))

    def get(self, path: str, accept: str = "application/json", timeout: float = 30) -> Any:
        request = urllib.request.Request(self.server + path, headers={"Accept": accept})
        with urllib.request.urlopen(request, context=self.context, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if accept != "text/plain" else body.decode()

    def ready(self) -> bool:
        try:
            return self.get("/readyz", accept="text/plain", timeout=5).strip() == "ok"
        except OSError:
            return False

    def tenants(self) -> dict[str, dict[str, Any]]:
        """name -> {ready, phase, deleting}, from the server's Table of Tenants (paged)."""
        rows: dict[str, dict[str, Any]] = {}
        token = ""
        while True:
            query = "?limit=500" + (f"&continue={urllib.parse.quote(token)}" if token else "")
            page = self.get(TENANTS_PATH + query, accept=TABLE)
            columns = [column["name"] for column in page["columnDefinitions"]]
            for row in page.get("rows") or []:
                cells = dict(zip(columns, row["cells"]))
                metadata = row["object"]["metadata"]
                rows[metadata["name"]] = {
                    "ready": cells.get("Ready") == "True",
                    "phase": cells.get("Phase"),
                    "deleting": "deletionTimestamp" in metadata,
                }
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return rows

    def labelled_namespaces(self) -> list[dict[str, Any]]:
        return self.get(f"/api/v1/namespaces?labelSelector={urllib.parse.quote(LABEL_TENANT)}")["items"]


class Poller(threading.Thread):
    """The Tenants' readiness every few seconds, kept for the chaos loop and the progress curve."""

    def __init__(self, api: Api, clock: Clock, interval: float = 3.0) -> None:
        super().__init__(daemon=True)
        self.api, self.clock, self.interval = api, clock, interval
        self.rows: dict[str, dict[str, Any]] = {}
        self.progress: list[tuple[float, int, int]] = []  # (seconds, tenants, ready)
        self.first_ready: dict[str, float] = {}  # tenant -> seconds when first seen Ready
        self.expected = 0  # tenants to wait for; all_ready_at is when all of them were first seen Ready
        self.all_ready_at: float | None = None
        self.failures = 0
        self.stopped = threading.Event()

    @property
    def ready(self) -> int:
        return sum(1 for row in self.rows.values() if row["ready"])

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                rows = self.api.tenants()
                now = self.clock.now()
                self.rows = rows
                for name, row in rows.items():
                    if row["ready"]:
                        self.first_ready.setdefault(name, now)
                ready = self.ready
                self.progress.append((now, len(rows), ready))
                if self.all_ready_at is None and self.expected and ready == len(rows) == self.expected:
                    self.all_ready_at = now
            except (OSError, ValueError, KeyError):
                self.failures += 1
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()


class Creator(threading.Thread):
    """Creates the tenants in batches, and sends again whatever the apiserver did not take until all exist."""

    def __init__(self, bench: Bench, api: Api, clock: Clock, names: list[str]) -> None:
        super().__init__(daemon=True)
        self.bench, self.api, self.clock, self.names = bench, api, clock, names
        self.index = {name: index for index, name in enumerate(names)}
        self.created = 0
        self.created_at: dict[str, float] = {}  # tenant -> seconds of the create call that made it
        self.rejected = 0  # documents the apiserver refused (webhook or apiserver down), sent again later
        self.already_existed = 0  # sent again after a create whose answer was lost
        self.reasons: Counter[str] = Counter()  # why creates were rejected (numbers and names folded)
        self.rounds = 0
        self.done_at: float | None = None
        self.error: BaseException | None = None

    def submit(self, batch: list[str]) -> None:
        documents = "\n---\n".join(json.dumps(tenant(name, wants_database(self.index[name]))) for name in batch)
        sent = self.clock.now()
        result = subprocess.run(
            [self.bench.handle.tool("kubectl"), "create", "-f", "-"], input=documents, env=self.bench.handle.env(),
            capture_output=True, text=True, timeout=300,
        )
        made = [line.split()[0].split("/")[-1] for line in result.stdout.splitlines() if line.endswith(" created")]
        for name in made:
            self.created_at.setdefault(name, sent)
        created = len(made)
        existed = result.stderr.count("(AlreadyExists)")
        for line in result.stderr.splitlines():
            if line.strip() and "(AlreadyExists)" not in line:
                reason = re.sub(r"https?://\S+", "URL", line.split('"STDIN": ', 1)[-1])
                self.reasons[re.sub(r"\d+", "N", re.sub(rf"{PREFIX}-\d+", "TENANT", reason))[:200]] += 1
        self.created += created
        self.already_existed += existed
        self.rejected += max(0, len(batch) - created - existed)

    def run(self) -> None:
        try:
            pending = list(self.names)
            while pending:
                self.rounds += 1
                for start in range(0, len(pending), BATCH):
                    self.submit(pending[start : start + BATCH])
                while True:
                    try:
                        existing = self.api.tenants()
                        break
                    except (OSError, ValueError, KeyError):
                        time.sleep(2)
                pending = [name for name in self.names if name not in existing]
                if pending:
                    time.sleep(2)
            self.done_at = self.clock.now()
            self.clock.event(f"all {len(self.names)} tenants exist ({self.rounds} round(s), "
                             f"{self.rejected} create(s) rejected and sent again)")
        except BaseException as error:  # reported by the main loop
            self.error = error


class Chaos:
    """The operator (killed with SIGKILL and started again), the kube-apiserver and PostgreSQL of one Bench."""

    def __init__(self, bench: Bench, clock: Clock, rng: random.Random, kill_every: float) -> None:
        self.bench, self.clock, self.rng, self.kill_every = bench, clock, rng, kill_every
        self.operator: OperatorProcess = bench.operator("operator.log")
        self.kills = 0
        self.starts = 0
        self.start_failures = 0
        self.start_seconds: list[float] = []
        self.apiserver_restarts: list[dict[str, Any]] = []
        self.postgres_restarts: list[dict[str, Any]] = []
        self.cluster_dir = bench.cluster.workdir / "clusters" / bench.cluster.name

    # --- the operator

    @property
    def running(self) -> bool:
        return self.operator.process is not None and self.operator.process.poll() is None

    def mark(self, message: str) -> None:
        with self.operator.log_path.open("a") as log:
            log.write(json.dumps({"message": f"=== faults.py: {message}", "faults_seconds": self.clock.now()}) + "\n")

    def start_operator(self) -> None:
        while True:
            started = time.monotonic()
            try:
                self.operator.start(timeout=180)
            except (RuntimeError, TimeoutError) as error:
                self.start_failures += 1
                self.clock.event(f"operator did not come up: {str(error).splitlines()[0]}")
                self.operator.stop(signal.SIGKILL)
                time.sleep(2)
                continue
            self.starts += 1
            self.start_seconds.append(time.monotonic() - started)
            assert self.operator.process is not None
            self.mark(f"operator start {self.starts}: pid {self.operator.process.pid}")
            return

    def kill_operator(self) -> None:
        assert self.operator.process is not None
        pid = self.operator.process.pid
        self.operator.stop(signal.SIGKILL)
        self.kills += 1
        self.mark(f"kill -9 {self.kills}: pid {pid}")

    def live_interval(self) -> float:
        return self.rng.uniform(0.5, 1.5) * self.kill_every

    # --- the kube-apiserver (kwokctl's binary runtime: a plain process with a pid file, no per-component restart)

    def apiserver_pid(self) -> int:
        binary = str(self.cluster_dir / "bin" / "kube-apiserver")
        found = [pid for pid, argv in processes() if argv and argv[0] == binary]
        if len(found) != 1:
            raise RuntimeError(f"expected one kube-apiserver of {self.cluster_dir}, found {found}")
        return found[0]

    def restart_apiserver(self, ready: int, down_seconds: float = 5.0) -> None:
        pid = self.apiserver_pid()
        proc = Path(f"/proc/{pid}")
        argv = [part.decode() for part in (proc / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")]
        cwd = os.readlink(proc / "cwd")
        environ = dict(
            item.decode().split("=", 1) for item in (proc / "environ").read_bytes().split(b"\0") if b"=" in item
        )
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        while proc.exists() and not _zombie(proc):
            time.sleep(0.05)
        self.clock.event(f"kube-apiserver (pid {pid}) killed -9 with {ready} tenants Ready")
        time.sleep(down_seconds)
        with (self.cluster_dir / "logs" / "kube-apiserver.log").open("ab") as log:
            process = subprocess.Popen(argv, cwd=cwd, env=environ, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        # kwokctl stops the cluster's components by their pid files: the new apiserver must be in its file.
        (self.cluster_dir / "pids" / "kube-apiserver.pid").write_text(str(process.pid))
        api = Api(self.bench.cluster.kubeconfig)
        deadline = time.monotonic() + 300
        while not api.ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kube-apiserver did not come back (exit {process.poll()})")
            time.sleep(0.5)
        downtime = time.monotonic() - killed
        self.apiserver_restarts.append({"at_seconds": self.clock.now(), "ready_before": ready,
                                        "downtime_seconds": round(downtime, 2), "signal": "SIGKILL"})
        self.clock.event(f"kube-apiserver back (pid {process.pid}) after {downtime:.1f} s")

    # --- PostgreSQL

    def restart_postgres(self, ready: int, down_seconds: float = 5.0) -> None:
        stopped = time.monotonic()
        self.bench.postgres.stop()
        self.clock.event(f"PostgreSQL stopped (pg_ctl -m fast) with {ready} tenants Ready")
        time.sleep(down_seconds)
        self.bench.postgres.start()
        while not self.bench.postgres.is_running():
            time.sleep(0.2)
        downtime = time.monotonic() - stopped
        self.postgres_restarts.append({"at_seconds": self.clock.now(), "ready_before": ready,
                                       "downtime_seconds": round(downtime, 2), "mode": "fast"})
        self.clock.event(f"PostgreSQL back after {downtime:.1f} s")

    def figures(self) -> dict[str, Any]:
        starts = self.start_seconds or [0.0]
        return {
            "operator_kills": self.kills,
            "operator_starts": self.starts,
            "operator_start_failures": self.start_failures,
            "operator_start_to_live_seconds": {"p50": round(percentile(starts, 0.5), 2),
                                               "max": round(max(starts), 2)},
            "apiserver_restarts": len(self.apiserver_restarts),
            "apiserver_restart_details": self.apiserver_restarts,
            "postgres_restarts": len(self.postgres_restarts),
            "postgres_restart_details": self.postgres_restarts,
        }


def _zombie(proc: Path) -> bool:
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# --- checks


@dataclass
class Check:
    phase: str
    name: str
    expected: int
    found: int = 0
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def passed(self) -> bool:
        return not (self.missing or self.duplicated or self.leaked or self.wrong)

    def to_json(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "phase": self.phase, "check": self.name, "expected": self.expected, "found": self.found,
            "missing": len(self.missing), "duplicated": len(self.duplicated), "leaked": len(self.leaked),
            "wrong": len(self.wrong), "passed": self.passed,
        }
        for key in ("missing", "duplicated", "leaked", "wrong"):
            values = getattr(self, key)
            if values:
                report[f"{key}_examples"] = sorted(values)[:EXAMPLES]
        if self.note:
            report["note"] = self.note
        return report


def kubectl_items(bench: Bench, resource: str, *args: str, attempts: int = 5) -> list[dict[str, Any]]:
    for attempt in range(attempts):
        result = bench.handle.kubectl("get", resource, *args, "-o", "json", check=False, timeout=900)
        if result.returncode == 0:
            return json.loads(result.stdout)["items"]
        time.sleep(2 * (attempt + 1))
    raise RuntimeError(f"kubectl get {resource} failed: {result.stderr}")


def object_key(kind: str, obj: dict[str, Any]) -> str:
    metadata = obj["metadata"]
    return metadata["name"] if kind == "Namespace" else f"{metadata['namespace']}/{metadata['name']}"


def expected_objects(tenants: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """kind -> key -> tenant, from the operator's pure rendering of each stored Tenant (and its database Secret)."""
    expected: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    for name, body in tenants.items():
        spec = TenantSpec.model_validate(dict(body.get("spec") or {}))
        if spec.securityPolicyRef or (spec.notifications and spec.notifications.webhook):
            raise ValueError(f"tenant {name}: the verifier renders tenants without SecurityPolicy or webhook only")
        state = desired_state(name, body["metadata"]["uid"], spec)
        for namespace in state.namespaces:
            expected["Namespace"][namespace["metadata"]["name"]] = name
        for obj in state.rbac + state.quota + state.network + state.settings:
            expected[obj["kind"]][object_key(obj["kind"], obj)] = name
        if database_enabled(spec):
            expected["Secret"][f"{state.namespace_names[0]}/{SECRET_NAME}"] = name
    return expected


def compare_kind(phase: str, kind: str, expected: dict[str, str], actual: list[dict[str, Any]],
                 uids: dict[str, str]) -> Check:
    """Expected keys against the labelled objects found: missing, duplicated (extra for a live tenant), leaked
    (for no tenant), wrong (labelled for another tenant, or not owned by the tenant's uid)."""
    check = Check(phase, f"{kind} objects", expected=len(expected), found=len(actual))
    seen: set[str] = set()
    for obj in actual:
        key = object_key(kind, obj)
        seen.add(key)
        owner = (obj["metadata"].get("labels") or {}).get(LABEL_TENANT, "")
        if key not in expected:
            (check.duplicated if owner in uids else check.leaked).append(f"{key} (tenant {owner})")
            continue
        if owner != expected[key]:
            check.wrong.append(f"{key}: labelled for {owner}, expected {expected[key]}")
            continue
        owner_uids = {reference.get("uid") for reference in obj["metadata"].get("ownerReferences") or []}
        if uids.get(owner) not in owner_uids:
            check.wrong.append(f"{key}: ownerReferences {sorted(map(str, owner_uids))} lack tenant uid")
        if obj["metadata"].get("deletionTimestamp"):
            check.wrong.append(f"{key}: being deleted")
    check.missing = sorted(f"{key} (tenant {tenant_name})" for key, tenant_name in expected.items() if key not in seen)
    return check


def tenant_checks(names: list[str], tenants: dict[str, dict[str, Any]]) -> list[Check]:
    present = Check("converged", "Tenants", expected=len(names), found=len(tenants))
    present.missing = [name for name in names if name not in tenants]
    wanted = set(names)
    present.leaked = [name for name in tenants if name not in wanted]
    ready = Check("converged", "Tenants Ready at their generation", expected=len(names))
    for name, body in tenants.items():
        generation = body["metadata"].get("generation")
        status = body.get("status") or {}
        condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        good = (condition.get("status") == "True" and condition.get("observedGeneration") == generation
                and status.get("observedGeneration") == generation)
        if good:
            ready.found += 1
        else:
            ready.wrong.append(f"{name}: Ready={condition.get('status')} ({condition.get('reason')}: "
                               f"{condition.get('message')}), generation {generation}, observed "
                               f"{status.get('observedGeneration')}/{condition.get('observedGeneration')}")
        if body["metadata"].get("deletionTimestamp"):
            ready.wrong.append(f"{name}: being deleted")
    return [present, ready]


def postgres_rows(bench: Bench) -> tuple[dict[str, tuple[str | None, bool]], dict[str, tuple[str | None, str]]]:
    """`tenant_*` roles (comment, can log in) and databases (comment, owner) on the server."""
    with psycopg.connect(bench.postgres.dsn(), autocommit=True) as admin:
        roles = {name: (comment, login) for name, comment, login in admin.execute(
            "SELECT rolname, shobj_description(oid, 'pg_authid'), rolcanlogin FROM pg_roles "
            "WHERE rolname LIKE 'tenant\\_%'")}
        databases = {name: (comment, owner) for name, comment, owner in admin.execute(
            "SELECT datname, shobj_description(oid, 'pg_database'), pg_get_userbyid(datdba) FROM pg_database "
            "WHERE datname LIKE 'tenant\\_%'")}
    return roles, databases


def database_checks(bench: Bench, tenants: dict[str, dict[str, Any]], secrets: list[dict[str, Any]]) -> list[Check]:
    wanted = {database_identifier(name): name for name, body in tenants.items()
              if database_enabled(TenantSpec.model_validate(dict(body.get("spec") or {})))}
    roles, databases = postgres_rows(bench)
    role_check = Check("converged", "PostgreSQL roles", expected=len(wanted), found=len(roles))
    database_check = Check("converged", "PostgreSQL databases", expected=len(wanted), found=len(databases))
    for check, found in ((role_check, roles), (database_check, databases)):
        check.missing = sorted(f"{identifier} (tenant {slug})" for identifier, slug in wanted.items()
                               if identifier not in found)
        check.leaked = sorted(identifier for identifier in found if identifier not in wanted)
    for identifier, (comment, login) in roles.items():
        if identifier in wanted:
            if comment != ownership_comment(wanted[identifier]):
                role_check.wrong.append(f"{identifier}: comment {comment!r}")
            if not login:
                role_check.wrong.append(f"{identifier}: cannot log in")
    for identifier, (comment, owner) in databases.items():
        if identifier in wanted:
            if comment != ownership_comment(wanted[identifier]):
                database_check.wrong.append(f"{identifier}: comment {comment!r}")
            if owner != identifier:
                database_check.wrong.append(f"{identifier}: owned by {owner}")

    login = Check("converged", "database Secrets log in", expected=len(wanted))
    migrations = Check("converged", "base migrations applied once", expected=len(wanted))
    by_namespace = {s["metadata"]["namespace"]: s for s in secrets if s["metadata"]["name"] == SECRET_NAME}
    base = {(m.source, m.version): m.checksum for m in base_migrations()}
    for identifier, slug in sorted(wanted.items()):
        body = tenants[slug]
        primary = (body.get("status") or {}).get("primaryNamespace") or slug
        secret = by_namespace.get(primary)
        status_database = (body.get("status") or {}).get("database") or {}
        if status_database.get("name") != identifier:
            login.wrong.append(f"{slug}: status.database.name {status_database.get('name')!r}")
        if secret is None:
            login.missing.append(f"{primary}/{SECRET_NAME} (tenant {slug})")
        else:
            values = {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
            problem = secret_login_problem(bench, values, identifier)
            if problem:
                login.wrong.append(f"{slug}: {problem}")
            else:
                login.found += 1
        if identifier in databases:
            applied, problem = applied_migrations(bench, identifier)
            if problem:
                migrations.wrong.append(f"{identifier}: {problem}")
            elif applied != base:
                migrations.wrong.append(f"{identifier}: applied {sorted(applied)} != base {sorted(base)}")
            else:
                migrations.found += 1
        else:
            migrations.missing.append(identifier)
    return [role_check, database_check, login, migrations]


def secret_login_problem(bench: Bench, values: dict[str, str], identifier: str) -> str | None:
    if values.get("PGHOST") != bench.postgres.host or values.get("PGPORT") != str(bench.postgres.port):
        return f"points at {values.get('PGHOST')}:{values.get('PGPORT')}"
    if values.get("PGUSER") != identifier or values.get("PGDATABASE") != identifier:
        return f"user/database {values.get('PGUSER')}/{values.get('PGDATABASE')}"
    try:
        with psycopg.connect(host=values["PGHOST"], port=values["PGPORT"], dbname=values["PGDATABASE"],
                             user=values["PGUSER"], password=values.get("PGPASSWORD", ""), connect_timeout=10,
                             sslmode="disable") as connection:
            row = connection.execute("SELECT current_user, current_database()").fetchone()
    except psycopg.Error as error:
        return f"login failed: {str(error).strip().splitlines()[0]}"
    if row != (identifier, identifier):
        return f"logged in as {row}"
    return None


def applied_migrations(bench: Bench, database: str) -> tuple[dict[tuple[str, int], str], str | None]:
    try:
        with psycopg.connect(bench.postgres.dsn(dbname=database), autocommit=True) as admin:
            rows = admin.execute(f"SELECT source, version, checksum FROM {MIGRATIONS_TABLE}").fetchall()
    except psycopg.Error as error:
        return {}, str(error).strip().splitlines()[0]
    return {(source, version): checksum for source, version, checksum in rows}, None


def verify_converged(bench: Bench, names: list[str]) -> list[Check]:
    tenants = {t["metadata"]["name"]: t for t in kubectl_items(bench, "tenants.tenancy.io")}
    checks = tenant_checks(names, tenants)
    uids = {name: body["metadata"]["uid"] for name, body in tenants.items()}
    expected = expected_objects(tenants)
    secrets: list[dict[str, Any]] = []
    for kind, (resource, namespaced) in KINDS.items():
        actual = kubectl_items(bench, resource, *(["-A"] if namespaced else []), "-l", OWNED)
        if kind == "Secret":
            secrets = actual
        checks.append(compare_kind("converged", kind, expected[kind], actual, uids))
    checks += database_checks(bench, tenants, secrets)
    return checks


def verify_deleted(bench: Bench, tenants_left: dict[str, dict[str, Any]], namespaces_note: str) -> list[Check]:
    checks = []
    remaining = Check("deleted", "Tenants gone (finalizers done)", expected=0, found=len(tenants_left))
    remaining.leaked = [f"{name} (phase {row.get('phase')}, deleting {row.get('deleting')})"
                        for name, row in tenants_left.items()]
    checks.append(remaining)
    for kind, (resource, namespaced) in KINDS.items():
        actual = kubectl_items(bench, resource, *(["-A"] if namespaced else []), "-l", LABELLED)
        check = Check("deleted", f"{kind} objects gone", expected=0, found=len(actual))
        for obj in actual:
            state = "Terminating" if obj["metadata"].get("deletionTimestamp") else "present"
            check.leaked.append(f"{object_key(kind, obj)} (tenant {obj['metadata']['labels'].get(LABEL_TENANT)}, "
                                f"{state})")
        if kind == "Namespace":
            check.note = namespaces_note
        checks.append(check)
    retained = kubectl_items(bench, "namespaces", "-l", "tenancy.io/retained-from")
    retained_check = Check("deleted", "no namespace retained", expected=0, found=len(retained))
    retained_check.leaked = [ns["metadata"]["name"] for ns in retained]
    checks.append(retained_check)
    roles, databases = postgres_rows(bench)
    for label, found in (("PostgreSQL roles gone", roles), ("PostgreSQL databases gone", databases)):
        check = Check("deleted", label, expected=0, found=len(found))
        check.leaked = sorted(found)
        checks.append(check)
    return checks


# --- the run


def copy_logs(bench: Bench, chaos: Chaos | None, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    if chaos is not None:
        sources.append(chaos.operator.log_path)
    if getattr(bench, "postgres", None) is not None:
        sources.append(bench.postgres.data_dir / "server.log")
    logs = bench.cluster.workdir / "clusters" / bench.cluster.name / "logs"
    sources += [logs / f"{component}.log" for component in ("kube-apiserver", "kube-controller-manager", "etcd")]
    for source in sources:
        if source.exists():
            with source.open("rb") as raw, gzip.open(folder / f"{source.name}.gz", "wb") as packed:
                shutil.copyfileobj(raw, packed)


def log_records(path: Path) -> Iterator[dict[str, Any] | None]:
    """The operator's JSON log lines (None for a line that is not JSON)."""
    if not path.exists():
        return
    with path.open(errors="replace") as log:
        for line in log:
            try:
                yield json.loads(line)
            except ValueError:
                yield None


def operator_log_figures(path: Path) -> dict[str, Any]:
    """The operator's warnings and errors over every incarnation, grouped by message (numbers, ports and names
    folded), with the tenants each group names: where to look when a check fails or a tenant was slow."""
    severities: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    objects: dict[str, set[str]] = defaultdict(set)
    for record in log_records(path):
        if record is None:
            severities["unparsed"] += 1
            continue
        if str(record.get("message", "")).startswith("=== faults.py"):
            continue  # this script's own markers between incarnations
        severity = str(record.get("severity") or record.get("levelname") or "?").lower()
        severities[severity] += 1
        if severity not in ("warning", "error", "critical"):
            continue
        message = re.sub(r"https?://\S+", "URL", str(record.get("message", "")))
        message = re.sub(r"\d+", "N", re.sub(rf"{PREFIX}-\d+", "TENANT", message))[:160]
        key = f"{severity}: {message}"
        groups[key] += 1
        name = (record.get("object") or {}).get("name")
        if name:
            objects[key].add(name)
    return {
        "lines_by_severity": dict(severities),
        "warnings_and_errors": [
            {"count": number, "message": key, "tenants": sorted(objects[key])[:EXAMPLES]}
            for key, number in groups.most_common(25)
        ],
    }


class Progress:
    """When a figure (tenants Ready, tenants left) last changed: a phase stops waiting once it stalls."""

    def __init__(self, value: int) -> None:
        self.value, self.changed = value, time.monotonic()

    def update(self, value: int) -> None:
        if value != self.value:
            self.value, self.changed = value, time.monotonic()

    def stalled(self, seconds: float) -> bool:
        return time.monotonic() - self.changed > seconds


def incarnation_figures(path: Path) -> dict[str, Any]:
    """Per operator incarnation (split at kopf's startup activity): seconds from start-up to the first Tenant
    handled (resumed, created or deleted), and how many it handled before it was killed."""
    incarnations: list[dict[str, float]] = []
    for record in log_records(path):
        if record is None:
            continue
        message = str(record.get("message", ""))
        if message.startswith("Activity 'configure' succeeded") and "timestamp" in record:
            incarnations.append({"t0": datetime.fromisoformat(record["timestamp"]).timestamp(), "handled": 0})
        elif incarnations and " is processed: " in message and "timestamp" in record:
            current = incarnations[-1]
            current.setdefault("first", datetime.fromisoformat(record["timestamp"]).timestamp() - current["t0"])
            current["handled"] += 1
    if not incarnations:
        return {}
    firsts = [i["first"] for i in incarnations if "first" in i]
    handled = [i["handled"] for i in incarnations]
    return {
        "incarnations": len(incarnations),
        "handled_nothing": sum(1 for h in handled if h == 0),
        "tenants_handled_per_incarnation": {"p50": percentile(handled, 0.5), "max": max(handled)},
        "last_startup_to_first_tenant_handled_seconds": (
            round(incarnations[-1]["first"], 2) if "first" in incarnations[-1] else None),
        "startup_to_first_tenant_handled_seconds": (
            {"p50": round(percentile(firsts, 0.5), 2), "max": round(max(firsts), 2)} if firsts else None),
        "note": "from kopf's 'configure' start-up activity; 'handled' counts kopf's 'Resuming/Creation/Deletion "
                "is processed' lines (already Ready tenants resumed on every start included)",
    }


def run(arguments: argparse.Namespace) -> dict[str, Any]:
    count = arguments.tenants
    names = tenant_names(PREFIX, count)
    clock = Clock()
    rng = random.Random(arguments.seed)
    bench = Bench(name=CLUSTER_NAME)
    chaos: Chaos | None = None
    poller: Poller | None = None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log_folder = LOGS / f"{stamp}-n{count}"
    report: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
        "tenants": count, "tenants_with_database": sum(wants_database(i) for i in range(count)),
        "kill_every_seconds": arguments.kill_every, "seed": arguments.seed, "logs": str(log_folder),
    }
    timings: dict[str, Any] = {}
    checks: list[Check] = []
    try:
        bench.start()
        clock.event(f"cluster {CLUSTER_NAME} and PostgreSQL up")
        api = Api(bench.cluster.kubeconfig)
        chaos = Chaos(bench, clock, rng, arguments.kill_every)
        chaos.start_operator()
        time.sleep(2)  # watches established, webhooks registered
        poller = Poller(api, clock)
        poller.expected = count
        poller.start()

        # 1-2: create under fire
        creation_started = clock.now()
        creator = Creator(bench, api, clock, names)
        creator.start()
        clock.event(f"creating {count} tenants; killing the operator every ~{arguments.kill_every} s")
        kill_deadline = time.monotonic() + arguments.kill_timeout
        ready_progress = Progress(0)

        def restart_when_due(ready: int) -> None:
            """The kube-apiserver at a third of the tenants Ready, PostgreSQL at two thirds, kills or not."""
            if not chaos.apiserver_restarts and ready >= count / 3:
                chaos.restart_apiserver(ready)
            elif not chaos.postgres_restarts and ready >= 2 * count / 3:
                chaos.restart_postgres(ready)

        def restarts_done() -> bool:
            return bool(chaos.apiserver_restarts and chaos.postgres_restarts)

        while True:
            if not chaos.running:
                chaos.start_operator()
            time.sleep(chaos.live_interval())
            if creator.error is not None:
                raise RuntimeError(f"creating tenants failed: {creator.error!r}")
            ready = poller.ready
            ready_progress.update(ready)
            if creator.done_at is not None and poller.all_ready_at is not None and restarts_done():
                kills_stopped = "all Ready"
                break
            if time.monotonic() > kill_deadline:
                kills_stopped = f"kill timeout ({arguments.kill_timeout:.0f} s)"
                break
            if creator.done_at is not None and ready_progress.stalled(arguments.stall):
                kills_stopped = f"no tenant became Ready in {arguments.stall:.0f} s of kills"
                break
            chaos.kill_operator()
            chaos.start_operator()
            restart_when_due(ready)  # hits an operator that has just come up and works through the backlog
        kills_while_creating = chaos.kills
        kill_phase_end = clock.now()
        ready_when_kills_stopped = poller.ready
        clock.event(f"kills stop ({kills_stopped}) after {chaos.kills} kill(s); {poller.ready}/{count} Ready; "
                    "the operator now runs undisturbed")
        if not chaos.running:
            chaos.start_operator()
        creator.join(arguments.converge_timeout)
        converge_deadline = time.monotonic() + arguments.converge_timeout
        ready_progress = Progress(poller.ready)
        while poller.all_ready_at is None or not restarts_done():
            time.sleep(2)
            ready_progress.update(poller.ready)
            restart_when_due(poller.ready)
            if time.monotonic() > converge_deadline or ready_progress.stalled(arguments.stall):
                break
        all_ready_at = poller.all_ready_at
        not_ready = sorted(name for name in names if not (poller.rows.get(name) or {}).get("ready"))
        clock.event(f"{poller.ready}/{count} Ready" + (
            "" if all_ready_at else f" (no progress for {arguments.stall:.0f} s or timeout); not Ready: "
            + ", ".join(not_ready[:EXAMPLES])))
        report["convergence"] = {
            "kills_stopped_because": kills_stopped, "ready_when_kills_stopped": ready_when_kills_stopped,
            "ready_at_end": poller.ready, "not_ready": not_ready[:EXAMPLES],
        }
        timings.update({
            "all_created_seconds": round(creator.done_at - creation_started, 2) if creator.done_at else None,
            "all_ready_seconds": round(all_ready_at - creation_started, 2) if all_ready_at else None,
            "kill_phase_seconds": round(kill_phase_end - creation_started, 2),
            "all_ready_after_kills_stopped_seconds": (
                round(max(0.0, all_ready_at - kill_phase_end), 2) if all_ready_at else None),
        })
        latencies = {name: poller.first_ready[name] - creator.created_at[name] for name in names
                     if name in poller.first_ready and name in creator.created_at}
        if latencies:
            values = list(latencies.values())
            slowest = sorted(latencies, key=latencies.get, reverse=True)[:10]  # type: ignore[arg-type]
            report["create_to_ready_seconds"] = {
                "p50": round(percentile(values, 0.5), 2), "p95": round(percentile(values, 0.95), 2),
                "p99": round(percentile(values, 0.99), 2), "max": round(max(values), 2),
                "slowest": {name: round(latencies[name], 1) for name in slowest},
                "note": "from the create call that made the tenant to the first poll (every 3 s) that saw it Ready",
            }
        report["creation"] = {"create_rounds": creator.rounds, "creates_rejected_and_resent": creator.rejected,
                              "creates_already_existing_on_resend": creator.already_existed,
                              "rejections_by_reason": dict(creator.reasons.most_common(10))}
        time.sleep(arguments.settle)  # the last status patches land

        # 3: verify
        verify_started = time.monotonic()
        checks += verify_converged(bench, names)
        timings["verify_seconds"] = round(time.monotonic() - verify_started, 2)
        clock.event("converged state verified: " + ", ".join(
            f"{c.name} {'ok' if c.passed else 'FAILED'}" for c in checks))

        # 4-5: delete everything, killing the operator a few more times
        deletion_started = clock.now()
        # kubectl deletes one Tenant after the other (about 25 s for 1000): the kills start with it
        deleter = subprocess.Popen(
            [bench.handle.tool("kubectl"), "delete", "tenants.tenancy.io", "--all", "--wait=false"],
            env=bench.handle.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        clock.event(f"deleting all tenants (--wait=false); {arguments.delete_kills} more kill(s) meanwhile")
        delete_kills = 0
        while delete_kills < arguments.delete_kills:
            if not chaos.running:
                chaos.start_operator()
            time.sleep(chaos.live_interval())
            if not poller.rows and poller.progress[-1][0] > deletion_started and deleter.poll() is not None:
                break
            chaos.kill_operator()
            delete_kills += 1
        _, errors = deleter.communicate()
        if deleter.returncode != 0:
            raise RuntimeError(f"kubectl delete tenants failed: {errors}")
        clock.event(f"kubectl delete done; {len(poller.rows)} Tenant(s) left after {delete_kills} kill(s)")
        if not chaos.running:
            chaos.start_operator()
        left_progress = Progress(len(poller.rows))
        delete_deadline = time.monotonic() + arguments.delete_timeout
        while True:
            left_progress.update(len(poller.rows))
            gone = not poller.rows and poller.progress[-1][0] > deletion_started
            if gone or time.monotonic() > delete_deadline or left_progress.stalled(arguments.stall):
                break
            time.sleep(2)
        timings["tenants_gone_seconds"] = round(clock.now() - deletion_started, 2) if gone else None
        tenants_left = {} if gone else api.tenants()
        clock.event("all Tenants gone" if gone else f"{len(tenants_left)} Tenant(s) left (stalled or timeout): "
                    + ", ".join(sorted(tenants_left)[:EXAMPLES]))
        namespaces_progress = Progress(-1)
        namespaces_deadline = time.monotonic() + arguments.namespace_timeout
        while True:
            try:
                namespaces_left = len(api.labelled_namespaces())
            except (OSError, ValueError, KeyError):
                namespaces_left = -1
            namespaces_progress.update(namespaces_left)
            namespaces_gone = namespaces_left == 0
            if namespaces_gone or time.monotonic() > namespaces_deadline or namespaces_progress.stalled(
                    arguments.stall):
                break
            time.sleep(5)
        timings["namespaces_gone_seconds"] = round(clock.now() - deletion_started, 2) if namespaces_gone else None
        left = [] if namespaces_gone else api.labelled_namespaces()
        terminating = sum(1 for ns in left if ns.get("status", {}).get("phase") == "Terminating")
        note = "" if namespaces_gone else (f"left when the wait ended: {terminating} Terminating, "
                                           f"{len(left) - terminating} Active")
        clock.event("all tenant namespaces gone" if namespaces_gone else f"namespaces left: {note}")
        checks += verify_deleted(bench, tenants_left, note)
        timings["total_seconds"] = clock.now()
        report["faults"] = {**chaos.figures(), "operator_kills_while_creating": kills_while_creating,
                            "operator_kills_while_deleting": delete_kills}
        report["operator_log"] = operator_log_figures(chaos.operator.log_path)
        report["operator_incarnations"] = incarnation_figures(chaos.operator.log_path)
    finally:
        if poller is not None:
            poller.stop()
        if chaos is not None and chaos.running:
            chaos.operator.stop()
        try:
            copy_logs(bench, chaos, log_folder)
        except OSError as error:
            print(f"copying logs failed: {error}", file=sys.stderr)
        if getattr(bench, "handle", None) is not None:
            forget_operator_kubeconfig(bench.handle)
        bench.stop()
    report["timings"] = timings
    report["events"] = clock.events
    report["progress"] = thin(poller.progress if poller else [], 10.0)
    report["checks"] = [check.to_json() for check in checks]
    report["passed"] = all(check.passed for check in checks)
    return report


def thin(progress: list[tuple[float, int, int]], every: float) -> list[list[float]]:
    """One sample per `every` seconds (and the last), for the results file."""
    kept: list[list[float]] = []
    for seconds, tenants, ready in progress:
        if not kept or seconds - kept[-1][0] >= every:
            kept.append([seconds, tenants, ready])
    if progress and kept[-1][0] != progress[-1][0]:
        kept.append(list(progress[-1]))
    return kept


def print_table(report: dict[str, Any], results: Path) -> None:
    faults, timings = report.get("faults", {}), report.get("timings", {})
    print()
    print(f"N={report['tenants']} ({report['tenants_with_database']} with a database), kill -9 every "
          f"~{report['kill_every_seconds']} s: {faults.get('operator_kills_while_creating')} kills while creating, "
          f"{faults.get('operator_kills_while_deleting')} while deleting, "
          f"{faults.get('apiserver_restarts')} kube-apiserver restart(s), "
          f"{faults.get('postgres_restarts')} PostgreSQL restart(s)")
    print(f"all created {timings.get('all_created_seconds')} s, all Ready {timings.get('all_ready_seconds')} s "
          f"({timings.get('all_ready_after_kills_stopped_seconds')} s after the kills stopped), "
          f"Tenants gone {timings.get('tenants_gone_seconds')} s and namespaces "
          f"{timings.get('namespaces_gone_seconds')} s after delete, whole run {timings.get('total_seconds')} s")
    convergence = report.get("convergence") or {}
    incarnations = report.get("operator_incarnations") or {}
    startup = incarnations.get("startup_to_first_tenant_handled_seconds") or {}
    print(f"kills stopped: {convergence.get('kills_stopped_because')} with "
          f"{convergence.get('ready_when_kills_stopped')} Ready; {incarnations.get('incarnations')} operator "
          f"incarnations, {incarnations.get('handled_nothing')} handled no tenant; start-up to first tenant handled: "
          f"p50 {startup.get('p50')} s, max {startup.get('max')} s, last (undisturbed) "
          f"{incarnations.get('last_startup_to_first_tenant_handled_seconds')} s")
    latency = report.get("create_to_ready_seconds") or {}
    severities = (report.get("operator_log") or {}).get("lines_by_severity") or {}
    creation = report.get("creation") or {}
    print(f"create to Ready p50 {latency.get('p50')} s, p95 {latency.get('p95')} s, max {latency.get('max')} s; "
          f"{creation.get('creates_rejected_and_resent')} creates rejected and sent again; operator log: "
          f"{severities.get('error', 0)} errors, {severities.get('warning', 0)} warnings")
    print(f"{'phase':<10} {'check':<36} {'expected':>8} {'found':>8} {'missing':>7} {'dup':>5} {'leaked':>6} "
          f"{'wrong':>5}  verdict")
    for c in report["checks"]:
        print(f"{c['phase']:<10} {c['check']:<36} {c['expected']:>8} {c['found']:>8} {c['missing']:>7} "
              f"{c['duplicated']:>5} {c['leaked']:>6} {c['wrong']:>5}  {'pass' if c['passed'] else 'FAIL'}")
    print(f"verdict: {'PASS' if report['passed'] else 'FAIL'}   (details: {results}, logs: {report['logs']})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--kill-every", type=float, default=5.0, help="mean seconds of operator liveness per kill")
    parser.add_argument("--delete-kills", type=int, default=5, help="kills while the tenants are finalized")
    parser.add_argument("--kill-timeout", type=float, default=1200, help="seconds of killing at most")
    parser.add_argument("--stall", type=float, default=300,
                        help="a phase stops waiting when no tenant became Ready (or went away) for this long")
    parser.add_argument("--converge-timeout", type=float, default=1800)
    parser.add_argument("--delete-timeout", type=float, default=1200)
    parser.add_argument("--namespace-timeout", type=float, default=900)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--results", type=Path, default=RESULTS)
    arguments = parser.parse_args()
    report = run(arguments)
    arguments.results.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report, arguments.results)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
