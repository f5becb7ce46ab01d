"""UpdateRollout on the real cluster: weighted steps (Gateway API HTTPRoute and an ingress-nginx canary), HTTP,
Prometheus and availability checks, automatic rollback, abort, approval gates, maintenance windows and blackouts,
queues, a restart mid-shift, and the kubectl plugin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.cluster.plugin import ClusterHandle
from tests.e2e.helpers import (
    apply,
    audit_lines,
    condition,
    delete_tenant,
    eventually,
    get_json,
    tenant_manifest,
    wait_for_event,
    wait_ready,
)
from tests.e2e.operator_process import OperatorProcess
from tests.e2e.prometheus import Exporter, PrometheusServer
from tests.e2e.receivers import HealthEndpoint

pytestmark = pytest.mark.e2e

PRODUCT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: PRODUCT
  namespace: NAMESPACE
  labels: {tenancy.io/product: PRODUCT, app.kubernetes.io/version: "1.0.0"}
spec:
  replicas: 3
  selector: {matchLabels: {app: PRODUCT}}
  template:
    metadata: {labels: {app: PRODUCT, app.kubernetes.io/version: "1.0.0"}}
    spec:
      containers: [{name: PRODUCT, image: "example.invalid/PRODUCT:1.0.0"}]
---
apiVersion: v1
kind: Service
metadata: {name: PRODUCT, namespace: NAMESPACE}
spec: {selector: {app: PRODUCT}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: PRODUCT-preview, namespace: NAMESPACE}
spec: {selector: {app: PRODUCT}, ports: [{port: 80}]}
"""

ROUTES = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: NAMESPACE}
spec:
  parentRefs: [{name: shop-gateway}]
  rules: [{backendRefs: [{name: web, port: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: NAMESPACE}
spec:
  ingressClassName: nginx
  rules:
  - host: shop.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
"""

FINISHED = ("Completed", "RolledBack", "Failed")
QUICK = {"intervalSeconds": 1, "failureThreshold": 2, "timeoutSeconds": 20}
# The route as the user wrote it (the apiserver defaults weight 1), each step, the switch, and back.
ACTIVE_ONLY = {"group": "", "kind": "Service", "name": "web", "port": 80, "weight": 1}
ROUTE_SEQUENCE = ["web=1", "web web-preview=90 10", "web web-preview=50 50", "web web-preview=0 100", "web=1"]
# (kubectl's watch prints a {range} template only for the first object, so names and weights are two lists.)
ROUTE_JSONPATH = 'jsonpath={.spec.rules[0].backendRefs[*].name}={.spec.rules[0].backendRefs[*].weight}{"\\n"}'
WEIGHTED = {"previewService": "web-preview", "trafficRouting": {"httpRoute": {"name": "web"},
                                                                "ingress": {"name": "web"}}}


def rollout(namespace: str, name: str, version: str, product: str = "web", **extra: object) -> str:
    spec = {
        "product": product, "version": version, "image": f"example.invalid/{product}:{version}",
        "activeService": product, "monitoringSeconds": 3, "scaleDownDelaySeconds": 1,
        "analysis": {"availability": QUICK}, **extra,
    }
    return json.dumps({"apiVersion": "tenancy.io/v1alpha1", "kind": "UpdateRollout",
                       "metadata": {"name": name, "namespace": namespace}, "spec": spec})


def http_check(url: str) -> dict[str, object]:
    return {"name": "smoke", "url": url, "intervalSeconds": 1, "failureThreshold": 2, "maxLatencyMs": 2000}


def status_of(cluster: ClusterHandle, namespace: str, name: str) -> dict:
    return (get_json(cluster, "updaterollout", name, "-n", namespace) or {}).get("status") or {}


def phase(cluster: ClusterHandle, namespace: str, name: str) -> str | None:
    return status_of(cluster, namespace, name).get("phase")


def wait_finished(cluster: ClusterHandle, namespace: str, name: str, timeout: float = 120) -> dict:
    """The status once the rollout completed or rolled back (which the caller asserts, seeing the message)."""
    return eventually(lambda: (status := status_of(cluster, namespace, name)).get("phase") in FINISHED and status,
                      timeout=timeout, what=f"{name} finished")


def selected_hash(cluster: ClusterHandle, namespace: str, service: str = "web") -> str | None:
    return get_json(cluster, "service", service, "-n", namespace)["spec"]["selector"].get("pod-template-hash")


def route_refs(cluster: ClusterHandle, namespace: str) -> list[dict]:
    return get_json(cluster, "httproute", "web", "-n", namespace)["spec"]["rules"][0]["backendRefs"]


class FieldWatch:
    """`kubectl get --watch -o jsonpath`: every value a field took, in order, as the apiserver streamed it."""

    def __init__(self, cluster: ClusterHandle, *args: str) -> None:
        self.process = subprocess.Popen([cluster.tool("kubectl"), "get", *args, "--watch"], env=cluster.env(),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def changes(self) -> list[str]:
        self.process.terminate()
        out, err = self.process.communicate(timeout=10)
        if err.strip():
            print("watch stderr:", err)
        lines = [line for line in out.splitlines() if line]
        return [value for i, value in enumerate(lines) if i == 0 or value != lines[i - 1]]


def kubectl_tenant(cluster: ClusterHandle, *args: str, **popen: object) -> subprocess.Popen:
    """`kubectl tenant ...` found by kubectl's plugin discovery (kubectl-tenant next to this Python)."""
    env = {**cluster.env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{cluster.env()['PATH']}"}
    return subprocess.Popen([cluster.tool("kubectl"), "tenant", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def run_kubectl_tenant(cluster: ClusterHandle, *args: str) -> tuple[int, str]:
    process = kubectl_tenant(cluster, *args)
    output, _ = process.communicate(timeout=60)
    return process.returncode, output


SHOPS = iter(range(1, 1000))


def make_shop(cluster: ClusterHandle, extra: str = "", products: tuple[str, ...] = ("web",)) -> str:
    name = f"shop{next(SHOPS)}"
    apply(cluster, tenant_manifest(name, f"Shop {name}", extra))
    wait_ready(cluster, name)
    for product in products:
        apply(cluster, PRODUCT.replace("PRODUCT", product).replace("NAMESPACE", name))
    apply(cluster, ROUTES.replace("NAMESPACE", name))
    for product in products:
        cluster.kubectl("rollout", "status", f"deployment/{product}", "-n", name, "--timeout=90s")
    return name


@pytest.fixture()
def shop(cluster: ClusterHandle, operator: OperatorProcess) -> Iterator[str]:
    """A tenant of its own per test, with a live (blue) Deployment behind a Service, an HTTPRoute and an Ingress."""
    name = make_shop(cluster)
    yield name
    delete_tenant(cluster, name)


def test_a_healthy_green_is_promoted_through_weighted_steps(
    cluster: ClusterHandle, operator: OperatorProcess, shop: str, health_endpoint: HealthEndpoint
) -> None:
    # Another product, which the rollout leaves alone (one replica: the basic plan's quota also has to fit green).
    apply(cluster, PRODUCT.replace("PRODUCT", "api").replace("NAMESPACE", shop).replace("replicas: 3", "replicas: 1"))
    route_watch = FieldWatch(cluster, "httproute", "web", "-n", shop, "-o",
                             ROUTE_JSONPATH)
    canary_watch = FieldWatch(cluster, "ingress", "-n", shop, "-o",
                              'jsonpath={.metadata.name}={.metadata.annotations.nginx\\.ingress\\.kubernetes\\.io'
                              '/canary-weight}{"\\n"}')
    steps = [{"weight": 10, "holdSeconds": 2}, {"weight": 50, "holdSeconds": 2}, {"weight": 100, "holdSeconds": 0}]
    apply(cluster, rollout(shop, "web-1-1-0", "1.1.0", steps=steps, **WEIGHTED,
                           analysis={"availability": QUICK, "http": [http_check(health_endpoint.url)]}))
    live_view = kubectl_tenant(cluster, "rollout", "status", "web-1-1-0", "-n", shop, "--watch", "--interval=0.3")
    finished = wait_finished(cluster, shop, "web-1-1-0")
    assert finished["phase"] == "Completed", finished
    view, _ = live_view.communicate(timeout=30)
    assert live_view.returncode == 0, view
    assert " 10% green" in view and " 50% green" in view and "100% green" in view and "Phase:    Completed" in view
    assert "ok   http/smoke: HTTP 200" in view

    status = status_of(cluster, shop, "web-1-1-0")
    assert status["activeHash"] == status["greenHash"] != status["blueHash"]
    assert selected_hash(cluster, shop) == status["greenHash"]
    assert route_refs(cluster, shop) == [ACTIVE_ONLY]
    assert route_watch.changes() == ROUTE_SEQUENCE
    assert get_json(cluster, "ingress", "web-canary", "-n", shop) is None
    canary = [c for c in canary_watch.changes() if c.startswith("web-canary=")]
    assert [c for i, c in enumerate(canary) if i == 0 or c != canary[i - 1]] == ["web-canary=10", "web-canary=50",
                                                                                "web-canary=100"]
    green = get_json(cluster, "deployment", status["greenDeployment"], "-n", shop)
    assert green["spec"]["template"]["spec"]["containers"][0]["image"] == "example.invalid/web:1.1.0"
    assert not green["metadata"].get("ownerReferences")  # the new blue outlives its rollout
    assert green["metadata"]["labels"]["tenancy.io/product"] == "web"
    eventually(lambda: get_json(cluster, "deployment", "web", "-n", shop)["spec"]["replicas"] == 0,
               what="blue scaled down after the delay")
    assert {c["name"]: c["passed"] for c in status["checks"]} == {"availability": True, "smoke": True}
    for reason in ("RolloutStarted", "TrafficShifted", "TrafficSwitched", "RolloutCompleted"):
        wait_for_event(cluster, "UpdateRollout", "web-1-1-0", reason, namespace=shop)
    metrics = operator.metrics()
    for step in ("Validation", "TrafficSwitch-10", "TrafficSwitch-50", "TrafficSwitch-100", "Monitoring"):
        assert f'tenant_operator_rollout_step_duration_seconds_count{{step="{step}"}}' in metrics
    assert 'tenant_operator_rollouts{phase="Completed"}' in metrics
    api = get_json(cluster, "deployment", "api", "-n", shop)
    assert api["metadata"]["generation"] == 1 and api["spec"]["replicas"] == 1
    assert "pod-template-hash" not in get_json(cluster, "service", "api", "-n", shop)["spec"]["selector"]
    code, history = run_kubectl_tenant(cluster, "rollout", "history", "-n", shop)
    assert code == 0 and "web-1-1-0" in history and "1.0.0" in history and "Completed" in history, history


def test_a_failing_http_check_rolls_back_mid_shift(
    cluster: ClusterHandle, operator: OperatorProcess, shop: str, health_endpoint: HealthEndpoint
) -> None:
    steps = [{"weight": 10, "holdSeconds": 1}, {"weight": 50, "holdSeconds": 60}, {"weight": 100}]
    apply(cluster, rollout(shop, "web-2-0-0", "2.0.0", steps=steps, **WEIGHTED,
                           analysis={"availability": QUICK, "http": [http_check(health_endpoint.url)]}))
    eventually(lambda: status_of(cluster, shop, "web-2-0-0").get("currentWeight") == 50, timeout=90,
               what="50% on green")
    assert get_json(cluster, "ingress", "web-canary", "-n", shop) is not None
    health_endpoint.failing(503)
    eventually(lambda: phase(cluster, shop, "web-2-0-0") == "RolledBack", timeout=30, what="rollback")
    status = status_of(cluster, shop, "web-2-0-0")
    assert status["failedCheck"] == "smoke"
    assert "http check smoke failed 2 times in a row: HTTP 503" in status["message"]
    smoke = next(c for c in status["checks"] if c["name"] == "smoke")
    assert smoke["passed"] is False and smoke["failures"] == 2 and smoke["value"].startswith("HTTP 503")
    assert selected_hash(cluster, shop) == status["blueHash"] == status["activeHash"]
    assert route_refs(cluster, shop) == [ACTIVE_ONLY]
    assert get_json(cluster, "ingress", "web-canary", "-n", shop) is None
    assert get_json(cluster, "deployment", status["greenDeployment"], "-n", shop)["spec"]["replicas"] == 0
    assert get_json(cluster, "deployment", "web", "-n", shop)["status"]["readyReplicas"] == 3
    assert condition({"status": status}, "Ready")["reason"] == "RolledBack"
    wait_for_event(cluster, "UpdateRollout", "web-2-0-0", "RolloutRolledBack", "http check smoke", namespace=shop)
    record = eventually(lambda: [r for r in audit_lines(operator.logs())
                                 if r["event"] == "ROLLOUT_ROLLED_BACK" and r["version"] == "2.0.0"],
                        what="ROLLOUT_ROLLED_BACK audit line")[-1]
    assert record["severity"] == "high" and record["check"] == "smoke" and record["tenant"] == shop
    metrics = operator.metrics()
    assert 'tenant_operator_rollbacks_total{cause="http"}' in metrics
    assert "tenant_operator_rollback_latency_seconds_count" in metrics


def test_a_prometheus_check_rolls_back_after_the_switch(
    cluster: ClusterHandle, operator: OperatorProcess, shop: str, exporter: Exporter, prometheus: PrometheusServer
) -> None:
    exporter.set("tenant_http_error_ratio", 0.01, labels={"tenant": shop})
    eventually(lambda: prometheus.query(f'tenant_http_error_ratio{{tenant="{shop}"}}'), timeout=20, what="scraped")
    error_rate = {"name": "error-rate", "address": prometheus.url, "query": f'tenant_http_error_ratio{{tenant="{shop}"}}',
                  "thresholdRange": {"max": 0.05}, "intervalSeconds": 1, "failureThreshold": 2}
    apply(cluster, rollout(shop, "web-3-0-0", "3.0.0", monitoringSeconds=120,
                           analysis={"availability": QUICK, "prometheus": [error_rate]}))
    eventually(lambda: phase(cluster, shop, "web-3-0-0") == "Monitoring", timeout=90, what="traffic on green")
    status = status_of(cluster, shop, "web-3-0-0")
    assert selected_hash(cluster, shop) == status["greenHash"]
    assert next(c for c in status["checks"] if c["name"] == "error-rate")["value"] == "0.01 (<= 0.05)"
    exporter.set("tenant_http_error_ratio", 0.5, labels={"tenant": shop})
    eventually(lambda: phase(cluster, shop, "web-3-0-0") == "RolledBack", timeout=30, what="rollback")
    status = status_of(cluster, shop, "web-3-0-0")
    assert status["failedCheck"] == "error-rate" and "0.5 (not <= 0.05)" in status["message"]
    assert selected_hash(cluster, shop) == status["blueHash"]
    assert 'tenant_operator_rollbacks_total{cause="prometheus"}' in operator.metrics()


def test_an_unavailable_green_rolls_back_to_blue(cluster: ClusterHandle, operator: OperatorProcess, shop: str) -> None:
    apply(cluster, rollout(shop, "web-4-0-0", "4.0.0", podLabels={"tenancy.io/simulate": "not-ready"},
                           analysis={"availability": {**QUICK, "timeoutSeconds": 10}}))
    eventually(lambda: phase(cluster, shop, "web-4-0-0") == "RolledBack", timeout=90, what="rollback")
    status = status_of(cluster, shop, "web-4-0-0")
    assert "availability: green not available within 10s" in status["message"]
    assert selected_hash(cluster, shop) == status["blueHash"] == status["activeHash"]
    green = get_json(cluster, "deployment", status["greenDeployment"], "-n", shop)
    assert green is not None and green["spec"]["replicas"] == 0  # kept for inspection
    assert get_json(cluster, "deployment", "web", "-n", shop)["status"]["readyReplicas"] == 3
    wait_for_event(cluster, "UpdateRollout", "web-4-0-0", "RolloutRolledBack", "green not available",
                   namespace=shop)


def test_a_manual_abort_from_the_plugin_sends_traffic_back_to_blue(
    cluster: ClusterHandle, operator: OperatorProcess, shop: str
) -> None:
    template = {"metadata": {"labels": {"app": "web"}},  # a pod template of its own instead of blue's
                "spec": {"containers": [{"name": "web", "image": "x", "env": [{"name": "MODE", "value": "v5"}]}]}}
    apply(cluster, rollout(shop, "web-5-0-0", "5.0.0", monitoringSeconds=300, template=template))
    eventually(lambda: phase(cluster, shop, "web-5-0-0") == "Monitoring", timeout=90, what="traffic on green")
    status = status_of(cluster, shop, "web-5-0-0")
    assert selected_hash(cluster, shop) == status["greenHash"]
    container = get_json(cluster, "deployment", status["greenDeployment"], "-n", shop)["spec"]["template"]["spec"][
        "containers"][0]
    assert container["env"] == [{"name": "MODE", "value": "v5"}] and container["image"] == "example.invalid/web:5.0.0"
    code, output = run_kubectl_tenant(cluster, "rollout", "abort", "web-5-0-0", "-n", shop)
    assert code == 0 and "aborted" in output, output
    eventually(lambda: phase(cluster, shop, "web-5-0-0") == "RolledBack", timeout=30, what="abort")
    assert selected_hash(cluster, shop) == status["blueHash"]
    assert "aborted by request" in status_of(cluster, shop, "web-5-0-0")["message"]
    code, output = run_kubectl_tenant(cluster, "rollout", "status", "web-5-0-0", "-n", shop)
    assert code == 1 and "Phase:    RolledBack" in output, output


def test_a_restart_mid_shift_resumes_with_the_same_split_and_never_flips_twice(
    cluster: ClusterHandle, operator: OperatorProcess, shop: str
) -> None:
    selector_watch = FieldWatch(cluster, "service", "web", "-n", shop, "-o",
                                'jsonpath={.spec.selector.pod-template-hash}{"\\n"}')
    route_watch = FieldWatch(cluster, "httproute", "web", "-n", shop, "-o",
                             ROUTE_JSONPATH)
    steps = [{"weight": 10, "holdSeconds": 1}, {"weight": 50, "holdSeconds": 8}, {"weight": 100}]
    apply(cluster, rollout(shop, "web-6-0-0", "6.0.0", steps=steps, **WEIGHTED))
    eventually(lambda: status_of(cluster, shop, "web-6-0-0").get("currentWeight") == 50, timeout=90,
               what="50% on green")
    operator.stop(signal.SIGKILL)
    assert route_refs(cluster, shop)[1] == {"group": "", "kind": "Service", "name": "web-preview", "port": 80,
                                            "weight": 50}
    operator.start()
    assert (done := wait_finished(cluster, shop, "web-6-0-0", 90))["phase"] == "Completed", done
    status = status_of(cluster, shop, "web-6-0-0")
    assert route_watch.changes() == ROUTE_SEQUENCE
    hashes = selector_watch.changes()
    assert hashes[-2:] == [status["blueHash"], status["greenHash"]]
    assert hashes.count(status["greenHash"]) == 1 and hashes.count(status["blueHash"]) == 1


def test_a_major_update_waits_for_approval_and_the_plugin_promotes_it(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    shop = make_shop(cluster, extra="  updates: {approval: majorOnly}\n")
    try:
        apply(cluster, rollout(shop, "web-2-0-0", "2.0.0"))
        eventually(lambda: phase(cluster, shop, "web-2-0-0") == "Paused", timeout=90, what="paused for approval")
        status = status_of(cluster, shop, "web-2-0-0")
        assert condition({"status": status}, "Progressing")["reason"] == "AwaitingApproval"
        assert "kubectl tenant rollout promote web-2-0-0" in status["message"]
        time.sleep(3)
        assert phase(cluster, shop, "web-2-0-0") == "Paused" and selected_hash(cluster, shop) == status["blueHash"]
        code, output = run_kubectl_tenant(cluster, "rollout", "promote", "web-2-0-0", "-n", shop)
        assert code == 0 and "promoted" in output, output
        assert (done := wait_finished(cluster, shop, "web-2-0-0", 60))["phase"] == "Completed", done
        approved = status_of(cluster, shop, "web-2-0-0")["approvedBy"]
        assert approved.startswith("kwok-admin at 20")  # the caller, as the apiserver knows them
        wait_for_event(cluster, "UpdateRollout", "web-2-0-0", "RolloutApproved", namespace=shop)
        apply(cluster, rollout(shop, "web-2-1-0", "2.1.0"))  # a minor update does not wait
        assert (done := wait_finished(cluster, shop, "web-2-1-0", 90))["phase"] == "Completed", done
        assert status_of(cluster, shop, "web-2-1-0")["blueVersion"] == "2.0.0"
    finally:
        delete_tenant(cluster, shop)


def test_a_rollout_waits_for_the_maintenance_window_and_skips_blackouts(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    updates = ("  updates:\n    maintenanceWindows: [{days: [Mon], start: \"02:00\", durationMinutes: 60}]\n"
               "    blackouts: [{start: \"2026-12-21T00:00:00Z\", end: \"2026-12-22T00:00:00Z\", "
               "reason: holiday freeze}]\n")
    shop = make_shop(cluster, extra=updates)
    try:
        operator.set_clock(datetime(2026, 11, 30, 1, 59, 30, tzinfo=UTC))  # a Monday, before the window
        apply(cluster, rollout(shop, "web-1-5-0", "1.5.0"))
        eventually(lambda: condition({"status": status_of(cluster, shop, "web-1-5-0")}, "Progressing"), timeout=30,
                   what="a decision")
        status = status_of(cluster, shop, "web-1-5-0")
        assert status["phase"] == "Pending"
        assert condition({"status": status}, "Progressing")["reason"] == "WaitingForMaintenanceWindow"
        assert "2026-11-30T02:00:00+00:00" in status["message"]
        operator.set_clock(datetime(2026, 12, 21, 2, 10, tzinfo=UTC))  # in the window, but in the blackout
        eventually(lambda: "holiday freeze" in status_of(cluster, shop, "web-1-5-0").get("message", ""),
                   timeout=15, what="blackout")
        assert condition({"status": status_of(cluster, shop, "web-1-5-0")}, "Progressing")["reason"] == "Blackout"
        time.sleep(2)
        assert phase(cluster, shop, "web-1-5-0") == "Pending"
        assert [d["metadata"]["name"] for d in get_json(cluster, "deployments", "-n", shop)["items"]] == ["web"]
        operator.set_clock(datetime(2026, 12, 28, 2, 0, 5, tzinfo=UTC))  # the next Monday's window
        assert (done := wait_finished(cluster, shop, "web-1-5-0", 90))["phase"] == "Completed", done
    finally:
        operator.real_clock()
        delete_tenant(cluster, shop)


def test_one_rollout_per_product_and_the_tenant_concurrency_limit(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    shop = make_shop(cluster, extra="  plan: premium\n  updates: {maxConcurrentRollouts: 1}\n",
                     products=("web", "api"))
    names = ("web-a", "web-b", "api-a")
    try:
        for name, product, version in (("web-a", "web", "1.1.0"), ("web-b", "web", "1.2.0"),
                                       ("api-a", "api", "1.1.0")):
            apply(cluster, rollout(shop, name, version, product=product, monitoringSeconds=4))
            time.sleep(1.1)  # distinct creation timestamps: the queue is oldest first
        eventually(lambda: "queued behind" in status_of(cluster, shop, "web-b").get("message", ""), timeout=30,
                   what="web-b queued behind web-a")
        eventually(lambda: "(limit 1)" in status_of(cluster, shop, "api-a").get("message", ""), timeout=30,
                   what="api-a held by the tenant's limit")
        running_at_once = 0
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # one list per look: a consistent snapshot of the three
            listed = {r["metadata"]["name"]: (r.get("status") or {}).get("phase")
                      for r in get_json(cluster, "updaterollouts", "-n", shop)["items"]}
            phases = [listed.get(name) for name in names]
            running_at_once = max(running_at_once, sum(p not in (None, "Pending", "Completed") for p in phases))
            if all(p == "Completed" for p in phases):
                break
            time.sleep(0.5)
        assert [phase(cluster, shop, name) for name in names] == ["Completed"] * 3, [
            status_of(cluster, shop, name).get("message") for name in names]
        assert running_at_once == 1
        first, second = status_of(cluster, shop, "web-a"), status_of(cluster, shop, "web-b")
        assert second["blueDeployment"] == first["greenDeployment"] and second["blueVersion"] == "1.1.0"
    finally:
        delete_tenant(cluster, shop)


def test_the_example_rollout_completes(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    had_tenant = get_json(cluster, "tenant", "globex") is not None
    cluster.kubectl("apply", "-f", str(examples / "tenant-premium.yaml"))
    wait_ready(cluster, "globex")
    rollout_example = str(examples / "rollouts" / "globex-shop.yaml")
    try:
        cluster.kubectl("apply", "-f", rollout_example)
        assert (done := wait_finished(cluster, "globex-prod", "shop-1-1-0", 120))["phase"] == "Completed", done
        assert status_of(cluster, "globex-prod", "shop-1-1-0")["blueVersion"] == "1.0.0"
    finally:
        cluster.kubectl("delete", "-f", rollout_example, "--wait=false", check=False)
        if not had_tenant:
            delete_tenant(cluster, "globex")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"steps": [{"weight": 50}, {"weight": 10}, {"weight": 100}]}, "steps: weights must increase and end at 100"),
        ({"steps": [{"weight": 10}, {"weight": 50}]}, "steps: weights must increase and end at 100"),
        ({"trafficRouting": {"httpRoute": {"name": "web"}}}, "trafficRouting needs previewService"),
        ({"previewService": "web", "trafficRouting": {"httpRoute": {"name": "web"}}},
         "previewService must differ from activeService"),
        ({"previewService": "web-preview", "trafficRouting": {}}, "trafficRouting needs httpRoute or ingress"),
        ({"analysis": {"prometheus": [{"name": "p", "query": "up", "thresholdRange": {}}]}},
         "thresholdRange needs min or max"),
        ({"analysis": {"http": [{"name": "h", "url": "ftp://x"}]}}, "spec.analysis.http[0].url"),
        ({"approval": "sometimes"}, "spec.approval"),
    ],
)
def test_bad_rollouts_are_refused_at_admission(
    cluster: ClusterHandle, crds_installed: ClusterHandle, extra: dict, message: str
) -> None:
    cluster.kubectl("create", "namespace", "rollout-admission", check=False)
    result = apply(cluster, rollout("rollout-admission", "bad", "9.9.9", **extra), check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert get_json(cluster, "updaterollout", "bad", "-n", "rollout-admission") is None


def test_a_rollout_target_is_immutable_and_bad_update_preferences_are_refused(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    cluster.kubectl("create", "namespace", "rollout-immutable", check=False)
    apply(cluster, rollout("rollout-immutable", "target", "1.0.0", approval="manual"))
    changed = apply(cluster, rollout("rollout-immutable", "target", "2.0.0", approval="manual"), check=False)
    assert changed.returncode != 0 and "immutable: create a new UpdateRollout" in changed.stderr
    cluster.kubectl("delete", "namespace", "rollout-immutable", "--wait=false")
    zone = apply(cluster, tenant_manifest("tzbad", "TZ Bad", "  updates:\n    maintenanceWindows: [{start: \"02:00\", "
                                          "durationMinutes: 60, timeZone: Mars/Olympus}]\n"), check=False)
    assert zone.returncode != 0
    assert "spec.updates.maintenanceWindows.0.timeZone: Value error, unknown time zone 'Mars/Olympus'" in zone.stderr
    backwards = apply(cluster, tenant_manifest("tzbad", "TZ Bad", "  updates:\n    blackouts: [{start: "
                                               "\"2026-12-24T00:00:00Z\", end: \"2026-12-20T00:00:00Z\"}]\n"),
                      check=False)
    assert backwards.returncode != 0 and "a blackout's end must be after its start" in backwards.stderr
    assert get_json(cluster, "tenant", "tzbad") is None
