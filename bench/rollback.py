"""Rollback latency: from the first failing health check to traffic back on blue, over N rollouts.

    .venv/bin/python bench/rollback.py --rollouts 20

Starts the local test cluster with the Gateway API CRDs and the operator as a process. For each rollout: a blue
Deployment with a Service, a preview Service and an HTTPRoute; an UpdateRollout weighted through the route whose
HTTP check probes an endpoint this script serves. Once 10% of the route's traffic is on green, the endpoint starts
answering 503; the figure is the time from the first 503 it served to the moment a `kubectl get --watch` on the
HTTPRoute sees every backendRef back on the active (blue) Service. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import machine  # noqa: E402
from tests.cluster.gateway_api import gateway_api_crd_files  # noqa: E402
from tests.cluster.localcluster import LocalCluster, build_binaries, free_port  # noqa: E402
from tests.e2e.receivers import HealthEndpoint  # noqa: E402

RESULTS = REPO / "bench" / "rollback-results.json"
NAMESPACE = "bench-rollouts"
INTERVAL_SECONDS = 1
FAILURE_THRESHOLD = 1


def product_manifests(product: str) -> list[dict]:
    labels = {"app": product}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": product, "namespace": NAMESPACE,
                      "labels": {"tenancy.io/product": product, "app.kubernetes.io/version": "1.0.0"}},
         "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1.0.0"}]}}}},
        *({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE},
           "spec": {"selector": labels, "ports": [{"port": 80}]}} for name in (product, f"{product}-preview")),
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
         "metadata": {"name": product, "namespace": NAMESPACE},
         "spec": {"parentRefs": [{"name": "gateway"}], "rules": [{"backendRefs": [{"name": product, "port": 80}]}]}},
    ]


def rollout_manifest(product: str, url: str) -> dict:
    return {
        "apiVersion": "tenancy.io/v1alpha1", "kind": "UpdateRollout",
        "metadata": {"name": f"{product}-2", "namespace": NAMESPACE},
        "spec": {
            "product": product, "version": "2.0.0", "image": "example.invalid/app:2.0.0",
            "activeService": product, "previewService": f"{product}-preview",
            "trafficRouting": {"httpRoute": {"name": product}},
            "steps": [{"weight": 10, "holdSeconds": 3600}, {"weight": 100}],
            "analysis": {"availability": {"intervalSeconds": INTERVAL_SECONDS, "failureThreshold": 3},
                         "http": [{"name": "health", "url": url, "intervalSeconds": INTERVAL_SECONDS,
                                   "failureThreshold": FAILURE_THRESHOLD}]},
        },
    }


class RouteWatch:
    """Timestamps of every state of one HTTPRoute's backendRefs, from a real watch."""

    def __init__(self, cluster: LocalCluster, product: str) -> None:
        self.seen: list[tuple[float, str]] = []
        self.process = subprocess.Popen(
            [str(cluster.kubectl), "get", "httproute", product, "-n", NAMESPACE, "--watch", "-o",
             'jsonpath={.spec.rules[0].backendRefs[*].name}={.spec.rules[0].backendRefs[*].weight}{"\\n"}'],
            env=cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.seen.append((time.time(), line.strip()))

    def first_after(self, since: float, state: str) -> float | None:
        return next((at for at, seen in self.seen if at >= since and seen == state), None)

    def stop(self) -> None:
        self.process.terminate()


def rollout_field(cluster: LocalCluster, product: str, path: str) -> str:
    return cluster.run_kubectl("get", "updaterollout", f"{product}-2", "-n", NAMESPACE, "-o",
                               f"jsonpath={{{path}}}").strip()


def wait_for(probe, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.2)
    raise TimeoutError(what)


def one_rollback(cluster: LocalCluster, endpoint: HealthEndpoint, index: int) -> dict:
    product = f"app{index:02d}"
    endpoint.healthy()
    for manifest in product_manifests(product):
        cluster.run_kubectl("apply", "--server-side", "-f", "-", input_text=json.dumps(manifest))
    cluster.run_kubectl("rollout", "status", f"deployment/{product}", "-n", NAMESPACE, "--timeout=120s")
    watch = RouteWatch(cluster, product)
    cluster.run_kubectl("apply", "--server-side", "-f", "-", input_text=json.dumps(rollout_manifest(product,
                                                                                                      endpoint.url)))
    wait_for(lambda: rollout_field(cluster, product, ".status.currentWeight") == "10", 120, "10% on green")
    endpoint.failing(503)
    wait_for(lambda: rollout_field(cluster, product, ".status.phase") == "RolledBack", 60, "rollback")
    time.sleep(0.5)  # let the watch deliver the last event
    watch.stop()
    failed_at = endpoint.first_failure_at or 0.0
    back_on_blue = watch.first_after(failed_at, f"{product}=1")
    return {"rollout": product, "seconds": round(back_on_blue - failed_at, 3) if back_on_blue else None}


def main(count: int) -> None:
    cluster = LocalCluster("tenant-operator-bench-rollback", build_binaries())
    cluster.create(nodes=1)
    endpoint = HealthEndpoint()
    endpoint.start()
    operator = None
    try:
        cluster.run_kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        for crd in gateway_api_crd_files():
            cluster.run_kubectl("apply", "--server-side", "-f", str(crd))
        cluster.run_kubectl("wait", "--for=condition=Established", "crd", "--all")
        cluster.run_kubectl("create", "namespace", NAMESPACE)
        log = open(REPO / "bench" / "operator-rollback.log", "w")
        operator = subprocess.Popen(
            [sys.executable, "-m", "tenant_operator.cli", "run", "--bind", "127.0.0.1", "--liveness-port", "0",
             "--metrics-port", "0", "--webhook-port", str(free_port()), "--webhook-cert-dir",
             str(REPO / "bench" / ".webhook-certs"), "--json-logs"],
            env=cluster.env(), stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        )
        time.sleep(4)
        samples = []
        for index in range(count):
            sample = one_rollback(cluster, endpoint, index)
            samples.append(sample)
            print(json.dumps(sample), flush=True)
    finally:
        if operator is not None:
            operator.terminate()
            operator.wait(30)
        endpoint.stop()
        cluster.delete()
    seconds = [s["seconds"] for s in samples if s["seconds"] is not None]
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "check_interval_seconds": INTERVAL_SECONDS, "failure_threshold": FAILURE_THRESHOLD,
        "rollouts": count, "measured": len(seconds),
        "first_failure_to_blue_seconds": {"p50": round(statistics.median(seconds), 3), "max": round(max(seconds), 3),
                                          "min": round(min(seconds), 3)},
        "samples": samples,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    figures = report["first_failure_to_blue_seconds"]
    print(f"rollback latency over {len(seconds)} rollouts (check interval {INTERVAL_SECONDS}s, threshold "
          f"{FAILURE_THRESHOLD}): p50 {figures['p50']}s, max {figures['max']}s, min {figures['min']}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rollouts", type=int, default=20)
    main(parser.parse_args().rollouts)
