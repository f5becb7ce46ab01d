"""Fleet benchmark: N tenants through the operator, against the same objects applied directly (the floor).

    .venv/bin/python bench/fleet.py --tenants 10 100 1000

Starts the local test cluster (tests/cluster) with an audit log of the operator's requests, runs the operator as a
process with the chart's ServiceAccount, and creates N basic tenants (namespace, Roles and bindings, quota, limit
range, network policy, settings), one in ten with a PostgreSQL database (a real server). It prints for each N:
time for all tenants to become Ready, per-tenant time to Ready (p50, p95, p99), throughput, the operator's peak
RSS and CPU seconds, the API requests it issued per tenant (from the apiserver's audit log), and an idle check
(CPU, memory and requests while nothing changes). The floor is the same objects, namespaces and databases made by
a minimal client with no operator. Results go to bench/results.json. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.operator_process import OperatorProcess  # noqa: E402
from bench.harness import (  # noqa: E402
    DATABASE_NAMESPACE,
    DATABASE_SERVER_SECRET,
    Bench,
    component_pids,
    cpu_seconds,
    machine,
    percentile,
    process_usage,
    tenant,
    tenant_names,
    wants_database,
)

RESULTS = REPO / "bench" / "results.json"


async def watch_ready(kubectl: str, env: dict[str, str], names: set[str], created: dict[str, float]) -> dict[str, float]:
    """Seconds from each tenant's create call to its Ready=True, from a real watch."""
    process = await asyncio.create_subprocess_exec(
        kubectl, "get", "tenants", "--watch", "-o",
        'jsonpath={.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}',
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, limit=2**20,
    )
    ready: dict[str, float] = {}
    assert process.stdout is not None
    while set(ready) != names:
        line = (await process.stdout.readline()).decode().split()
        if len(line) == 2 and line[1] == "True" and line[0] in names and line[0] not in ready:
            ready[line[0]] = time.monotonic() - created[line[0]]
    process.terminate()
    return ready


async def create_all(names: list[str], created: dict[str, float], streams: int, rate: float) -> None:
    """Creates the tenants through `streams` sequential clients (as `kubectl apply -f dir/` runs, times
    `streams`), recording the moment each create request is sent; with `rate`, no faster than that per second."""
    from tenant_operator import kube

    queue = list(enumerate(names))
    started = time.monotonic()

    async def stream() -> None:
        while queue:
            index, name = queue.pop(0)
            if rate:
                await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            created[name] = time.monotonic()
            await kube.create(tenant(name, wants_database(index)))

    await asyncio.gather(*(stream() for _ in range(streams)))
    await kube.close()


async def restart_check(
    bench: Bench, operator: OperatorProcess, prefix: str, profile: bool, settle: float = 10
) -> dict:
    """The operator restarted with every tenant Ready: how soon it serves a new tenant, and what it costs."""
    from tenant_operator import kube

    operator.stop()
    audit = bench.audit
    audit.mark()
    started = time.monotonic()
    operator.start()
    live = time.monotonic() - started
    assert operator.process is not None
    profiler = start_profiler(operator.process.pid, f"{prefix}-restart") if profile else None
    name = f"{prefix}-after-restart"
    created = time.monotonic()
    await kube.create(tenant(name))
    await kube.close()
    waiting = await asyncio.create_subprocess_exec(
        bench.handle.tool("kubectl"), "wait", "--for=condition=Ready", f"tenant/{name}", "--timeout=600s",
        env=bench.handle.env(), stdout=asyncio.subprocess.DEVNULL,
    )
    await waiting.wait()
    new_tenant_ready = time.monotonic() - created
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(30)
    await asyncio.sleep(settle)
    usage = process_usage(operator.process.pid)
    requests = audit.requests()
    return {
        "seconds_to_live": round(live, 2),
        "new_tenant_ready_seconds": round(new_tenant_ready, 2),
        "cpu_seconds_since_start": round(usage.cpu_seconds, 2),
        "api_requests": sum(requests.values()),
        "api_requests_by_kind": dict(requests.most_common(8)),
        "seconds_measured": round(time.monotonic() - started, 1),
    }


def latency(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.50), 2),
        "p95": round(percentile(values, 0.95), 2),
        "p99": round(percentile(values, 0.99), 2),
        "mean": round(statistics.mean(values), 2),
    }


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before.get(name, 0.0), 2) for name in after}


def per_tenant(counts: dict[str, int], tenants: int) -> dict[str, float]:
    return {key: round(value / tenants, 2) for key, value in sorted(counts.items(), key=lambda item: -item[1])}


def start_profiler(pid: int, prefix: str) -> subprocess.Popen:
    """py-spy samples the operator while tenants are created (folded stacks, for flame graphs); optional."""
    profiler = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    output = REPO / "bench" / f"profile-{prefix}.txt"
    return subprocess.Popen([profiler, "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
                             "--output", str(output), "--nonblocking"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


async def operator_run(
    bench: Bench, count: int, prefix: str, idle_seconds: float, streams: int, rate: float, profile: bool = False
) -> dict:
    operator = bench.operator(f"operator-{prefix}.log")
    operator.start()
    await asyncio.sleep(2)  # watches established, webhooks registered
    assert operator.process is not None
    pid = operator.process.pid
    profiler = start_profiler(pid, prefix) if profile else None
    components = component_pids(bench.cluster)
    control_plane_before = cpu_seconds(components)
    operator_before = process_usage(pid)
    audit = bench.audit
    audit.mark()
    names = tenant_names(prefix, count)
    created: dict[str, float] = {}
    env = bench.handle.env()
    kubectl = bench.handle.tool("kubectl")
    watcher = asyncio.create_task(watch_ready(kubectl, env, set(names), created))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    await create_all(names, created, streams, rate)
    ready = await asyncio.wait_for(watcher, timeout=max(300, count * 2))
    total = time.monotonic() - started
    busy = process_usage(pid)
    control_plane = cpu_used(control_plane_before, cpu_seconds(components))
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(30)
    await asyncio.sleep(3)  # the last status patches and events land before requests are counted
    requests = audit.requests()
    audit.mark()
    idle_from = process_usage(pid)
    await asyncio.sleep(idle_seconds)
    idle_to = process_usage(pid)
    idle_requests = audit.requests()
    restarted = await restart_check(bench, operator, prefix, profile)
    operator.stop()
    values = list(ready.values())
    return {
        "tenants": count,
        "tenants_with_database": sum(wants_database(index) for index in range(count)),
        "create_streams": streams,
        "create_rate_per_second": rate or "as fast as the streams go",
        "all_ready_seconds": round(total, 2),
        "per_tenant_ready_seconds": latency(values),
        "per_tenant_ready_seconds_without_database": latency(
            [ready[name] for index, name in enumerate(names) if not wants_database(index)]),
        "per_tenant_ready_seconds_with_database": latency(
            [ready[name] for index, name in enumerate(names) if wants_database(index)]),
        "throughput_tenants_per_second": round(count / total, 2),
        "operator_peak_rss_mb": round(busy.peak_rss_mb, 1),
        "operator_cpu_seconds": round(busy.cpu_seconds - operator_before.cpu_seconds, 2),
        "control_plane_cpu_seconds": control_plane,
        "api_requests_per_tenant": round(sum(requests.values()) / count, 2),
        "api_requests_per_tenant_by_kind": per_tenant(requests, count),
        "idle": {
            "seconds": idle_seconds,
            "cpu_percent": round((idle_to.cpu_seconds - idle_from.cpu_seconds) / idle_seconds * 100, 2),
            "rss_mb": round(idle_to.rss_mb, 1),
            "api_requests": sum(idle_requests.values()),
        },
        "restart": restarted,
    }


async def floor_run(bench: Bench, count: int, prefix: str) -> dict:
    """The same namespaces, objects and databases, rendered by the same pure code and made directly."""
    from tenant_operator import kube
    from tenant_operator.database.provision import ensure_database
    from tenant_operator.database.servers import load_server
    from tenant_operator.tenant.model import TenantSpec
    from tenant_operator.tenant.render import desired_state

    server = await load_server(DATABASE_NAMESPACE, DATABASE_SERVER_SECRET)
    requests = 0

    async def one(index: int, name: str) -> None:
        nonlocal requests
        spec = TenantSpec.model_validate(tenant(name, wants_database(index))["spec"])
        state = desired_state(name, "00000000-0000-0000-0000-000000000000", spec)
        for namespace in state.namespaces:
            namespace["metadata"].pop("ownerReferences")
            await kube.apply(namespace)
        objects = state.rbac + state.quota + state.network + state.settings
        for obj in objects:
            obj["metadata"].pop("ownerReferences")
        await kube.gather_limited(kube.apply(obj) for obj in objects)
        requests += len(state.namespaces) + len(objects)
        if wants_database(index):
            limit = state.config.compute.databaseConnections
            await ensure_database(name, "00000000-0000-0000-0000-000000000000", state.namespace_names[0], server,
                                  limit, {}, False)
            requests += 2  # the Secret: read, then applied

    components = component_pids(bench.cluster)
    before = cpu_seconds(components)
    started = time.monotonic()
    await asyncio.gather(*(one(index, name) for index, name in enumerate(tenant_names(prefix, count))))
    total = time.monotonic() - started
    control_plane = cpu_used(before, cpu_seconds(components))
    await kube.close()
    return {"tenants": count, "all_ready_seconds": round(total, 2), "api_requests_per_tenant": round(requests / count, 2),
            "control_plane_cpu_seconds": control_plane}


async def main(counts: list[int], idle_seconds: float, streams: int, rate: float, profile: bool,
               results_path: Path) -> None:
    bench = Bench()
    bench.start()
    os.environ["KUBECONFIG"] = str(bench.cluster.kubeconfig)  # this process's client: the admin's
    results = []
    try:
        for count in counts:
            measured = await operator_run(bench, count, f"op{count}", idle_seconds, streams, rate, profile)
            floor = await floor_run(bench, count, f"fl{count}")
            measured["floor_all_ready_seconds"] = floor["all_ready_seconds"]
            measured["floor_api_requests_per_tenant"] = floor["api_requests_per_tenant"]
            measured["floor_control_plane_cpu_seconds"] = floor["control_plane_cpu_seconds"]
            measured["ratio_to_floor"] = round(measured["all_ready_seconds"] / floor["all_ready_seconds"], 2)
            results.append(measured)
            print(json.dumps(measured), flush=True)
    finally:
        bench.stop()
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "results": results}
    results_path.write_text(json.dumps(report, indent=2) + "\n")
    print_table(results)


def print_table(results: list[dict]) -> None:
    print(f"{'N':>6} {'all Ready s':>12} {'floor s':>8} {'ratio':>6} {'p50 s':>6} {'p95 s':>6} {'p99 s':>6} "
          f"{'tenants/s':>9} {'RSS MB':>7} {'CPU s':>6} {'req/t':>6} {'idle CPU %':>10}")
    for r in results:
        p = r["per_tenant_ready_seconds"]
        print(f"{r['tenants']:>6} {r['all_ready_seconds']:>12} {r['floor_all_ready_seconds']:>8} "
              f"{r['ratio_to_floor']:>6} {p['p50']:>6} {p['p95']:>6} {p['p99']:>6} "
              f"{r['throughput_tenants_per_second']:>9} {r['operator_peak_rss_mb']:>7} {r['operator_cpu_seconds']:>6} "
              f"{r['api_requests_per_tenant']:>6} {r['idle']['cpu_percent']:>10}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--create-streams", type=int, default=16, help="clients creating tenants concurrently")
    parser.add_argument("--rate", type=float, default=0, help="tenants created per second (0: a burst)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--profile", action="store_true", help="sample the operator with py-spy (bench/profile-*.txt)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.tenants, arguments.idle_seconds, arguments.create_streams, arguments.rate,
                     arguments.profile, arguments.results))
