"""Fleet benchmark: N tenants through the operator, against the same objects applied directly (the floor).

    .venv/bin/python bench/fleet.py --tenants 10 100

Starts the local test cluster (tests/cluster), runs the operator as a process, and prints for each N: time for
all tenants to become Ready, per-tenant time to Ready (p50, p95, p99), throughput, the operator's peak RSS and CPU
seconds, and the floor: the same objects applied by a minimal client with server-side apply, no operator.
Results go to bench/results.json as well. Figures, not assertions: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.cluster.localcluster import LocalCluster, build_binaries, free_port  # noqa: E402

RESULTS = REPO / "bench" / "results.json"


def tenant(name: str) -> dict:
    return {
        "apiVersion": "tenancy.io/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": {"displayName": f"Bench {name}", "plan": "basic"},
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def process_usage(pid: int) -> tuple[float, float]:
    """(peak RSS in MB, CPU seconds) of a running process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return peak_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks


async def watch_ready(kubectl: str, env: dict[str, str], names: set[str], created: dict[str, float]) -> dict[str, float]:
    """Seconds from each tenant's create call to its Ready=True, from a real watch."""
    process = await asyncio.create_subprocess_exec(
        kubectl, "get", "tenants", "--watch", "-o",
        'jsonpath={.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}',
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    ready: dict[str, float] = {}
    assert process.stdout is not None
    while set(ready) != names:
        line = (await process.stdout.readline()).decode().split()
        if len(line) == 2 and line[1] == "True" and line[0] in names and line[0] not in ready:
            ready[line[0]] = time.monotonic() - created[line[0]]
    process.terminate()
    return ready


async def create_all(kubectl: str, env: dict[str, str], names: list[str], created: dict[str, float]) -> None:
    """Creates tenants in batches of 50 per kubectl call, recording when each batch was sent."""
    for start in range(0, len(names), 50):
        batch = names[start : start + 50]
        documents = "\n---\n".join(json.dumps(tenant(name)) for name in batch)
        now = time.monotonic()
        for name in batch:
            created[name] = now
        process = await asyncio.create_subprocess_exec(
            kubectl, "create", "-f", "-", env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL
        )
        await process.communicate(documents.encode())


async def operator_run(cluster: LocalCluster, count: int, prefix: str) -> dict:
    env = cluster.env()
    log = open(REPO / "bench" / f"operator-{prefix}.log", "w")
    operator = subprocess.Popen(
        [sys.executable, "-m", "tenant_operator.cli", "run", "--bind", "127.0.0.1", "--liveness-port", "0",
         "--metrics-port", "0", "--webhook-port", str(free_port()), "--webhook-cert-dir",
         str(REPO / "bench" / ".webhook-certs"), "--json-logs"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
    )
    await asyncio.sleep(4)  # kopf start-up and webhook registration
    names = [f"{prefix}-{index:04d}" for index in range(count)]
    created: dict[str, float] = {}
    started = time.monotonic()
    watcher = asyncio.create_task(watch_ready(str(cluster.kubectl), env, set(names), created))
    await asyncio.sleep(0.5)
    await create_all(str(cluster.kubectl), env, names, created)
    ready = await asyncio.wait_for(watcher, timeout=max(300, count * 2))
    total = time.monotonic() - started
    rss, cpu = process_usage(operator.pid)
    await asyncio.sleep(10)
    _, cpu_after_idle = process_usage(operator.pid)
    operator.terminate()
    operator.wait(30)
    values = list(ready.values())
    return {
        "tenants": count,
        "all_ready_seconds": round(total, 2),
        "per_tenant_ready_seconds": {
            "p50": round(percentile(values, 0.50), 2),
            "p95": round(percentile(values, 0.95), 2),
            "p99": round(percentile(values, 0.99), 2),
            "mean": round(statistics.mean(values), 2),
        },
        "throughput_tenants_per_second": round(count / total, 2),
        "operator_peak_rss_mb": round(rss, 1),
        "operator_cpu_seconds": round(cpu, 2),
        "operator_idle_cpu_percent_after": round((cpu_after_idle - cpu) / 10 * 100, 2),
    }


async def floor_run(cluster: LocalCluster, count: int, prefix: str) -> dict:
    """The same namespaces and objects, rendered by the same pure code and applied directly: no operator."""
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    from tenant_operator import kube
    from tenant_operator.tenant.model import TenantSpec
    from tenant_operator.tenant.render import desired_state

    spec = TenantSpec.model_validate(tenant("x")["spec"])
    started = time.monotonic()

    async def one(name: str) -> None:
        state = desired_state(name, "00000000-0000-0000-0000-000000000000", spec)
        for namespace in state.namespaces:
            namespace["metadata"].pop("ownerReferences")
            await kube.apply(namespace)
        objects = state.rbac + state.quota + state.network + state.settings
        for obj in objects:
            obj["metadata"].pop("ownerReferences")
        await kube.gather_limited(kube.apply(obj) for obj in objects)

    await asyncio.gather(*(one(f"{prefix}-{index:04d}") for index in range(count)))
    total = time.monotonic() - started
    await kube.close()
    return {"tenants": count, "all_ready_seconds": round(total, 2)}


async def main(counts: list[int]) -> None:
    cluster = LocalCluster("tenant-operator-bench", build_binaries())
    cluster.create(nodes=1)
    results = []
    try:
        cluster.run_kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        cluster.run_kubectl("wait", "--for=condition=Established", "crd", "--all")
        for count in counts:
            measured = await operator_run(cluster, count, f"op{count}")
            floor = await floor_run(cluster, count, f"fl{count}")
            measured["floor_all_ready_seconds"] = floor["all_ready_seconds"]
            measured["ratio_to_floor"] = round(measured["all_ready_seconds"] / floor["all_ready_seconds"], 2)
            results.append(measured)
            print(json.dumps(measured), flush=True)
    finally:
        cluster.delete()
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "results": results,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print_table(results)


def print_table(results: list[dict]) -> None:
    print(f"{'N':>6} {'all Ready s':>12} {'floor s':>8} {'ratio':>6} {'p50 s':>6} {'p95 s':>6} {'p99 s':>6} "
          f"{'tenants/s':>9} {'RSS MB':>7} {'CPU s':>6}")
    for r in results:
        p = r["per_tenant_ready_seconds"]
        print(f"{r['tenants']:>6} {r['all_ready_seconds']:>12} {r['floor_all_ready_seconds']:>8} "
              f"{r['ratio_to_floor']:>6} {p['p50']:>6} {p['p95']:>6} {p['p99']:>6} "
              f"{r['throughput_tenants_per_second']:>9} {r['operator_peak_rss_mb']:>7} {r['operator_cpu_seconds']:>6}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, nargs="+", default=[10, 100])
    asyncio.run(main(parser.parse_args().tenants))
