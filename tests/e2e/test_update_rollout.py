"""UpdateRollout, first slice: blue/green by Service selector, availability analysis, automatic rollback, abort."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.cluster.plugin import ClusterHandle
from tests.e2e.helpers import (
    apply,
    audit_lines,
    delete_tenant,
    eventually,
    get_json,
    tenant_manifest,
    wait_for_event,
    wait_ready,
)
from tests.e2e.operator_process import OperatorProcess

pytestmark = pytest.mark.e2e

BLUE = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: NAMESPACE}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "example.invalid/web:1.0.0"}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: NAMESPACE}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


def rollout(namespace: str, name: str, version: str, **extra: object) -> str:
    spec = {
        "product": "web", "version": version, "deploymentRef": "web", "image": f"example.invalid/web:{version}",
        "activeService": "web", "monitoringSeconds": 3, "scaleDownDelaySeconds": 1,
        "analysis": {"availability": {"intervalSeconds": 1, "failureThreshold": 2, "timeoutSeconds": 10}},
        **extra,
    }
    return json.dumps({"apiVersion": "tenancy.io/v1alpha1", "kind": "UpdateRollout",
                       "metadata": {"name": name, "namespace": namespace}, "spec": spec})


def selected_hash(cluster: ClusterHandle, namespace: str) -> str | None:
    return get_json(cluster, "service", "web", "-n", namespace)["spec"]["selector"].get("pod-template-hash")


def phase(cluster: ClusterHandle, namespace: str, name: str) -> str | None:
    return ((get_json(cluster, "updaterollout", name, "-n", namespace) or {}).get("status") or {}).get("phase")


SHOPS = iter(range(1, 1000))


@pytest.fixture()
def shop(cluster: ClusterHandle, operator: OperatorProcess) -> Iterator[str]:
    """A tenant of its own per test, with a live (blue) Deployment behind a Service."""
    name = f"shop{next(SHOPS)}"
    apply(cluster, tenant_manifest(name, f"Shop {name}"))
    wait_ready(cluster, name)
    apply(cluster, BLUE.replace("NAMESPACE", name))
    cluster.kubectl("rollout", "status", "deployment/web", "-n", name, "--timeout=90s")
    yield name
    delete_tenant(cluster, name)


def test_a_healthy_green_is_promoted_and_blue_scaled_down(
    cluster: ClusterHandle, operator: OperatorProcess, shop: str
) -> None:
    apply(cluster, rollout(shop, "web-1-1-0", "1.1.0"))
    eventually(lambda: phase(cluster, shop, "web-1-1-0") == "Completed", timeout=90, what="promotion")
    status = get_json(cluster, "updaterollout", "web-1-1-0", "-n", shop)["status"]
    assert status["activeHash"] == status["greenHash"] != status["blueHash"]
    assert selected_hash(cluster, shop) == status["greenHash"]
    green = get_json(cluster, "deployment", "web-1-1-0", "-n", shop)
    assert green["spec"]["template"]["spec"]["containers"][0]["image"] == "example.invalid/web:1.1.0"
    assert green["status"]["readyReplicas"] == 3
    eventually(lambda: get_json(cluster, "deployment", "web", "-n", shop)["spec"]["replicas"] == 0,
               what="blue scaled down after the delay")
    wait_for_event(cluster, "UpdateRollout", "web-1-1-0", "TrafficSwitched", namespace=shop)
    eventually(lambda: any(r["event"] == "ROLLOUT_COMPLETED" for r in audit_lines(operator.logs())),
               what="ROLLOUT_COMPLETED audit line")


def test_an_unavailable_green_rolls_back_to_blue(cluster: ClusterHandle, operator: OperatorProcess, shop: str) -> None:
    apply(cluster, rollout(shop, "web-2-0-0", "2.0.0", podLabels={"tenancy.io/simulate": "not-ready"}))
    eventually(lambda: phase(cluster, shop, "web-2-0-0") == "RolledBack", timeout=90, what="rollback")
    status = get_json(cluster, "updaterollout", "web-2-0-0", "-n", shop)["status"]
    assert "availability: green not available within 10s" in status["message"]
    assert selected_hash(cluster, shop) == status["blueHash"] == status["activeHash"]
    green = get_json(cluster, "deployment", "web-2-0-0", "-n", shop)
    assert green is not None and green["spec"]["replicas"] == 0  # kept for inspection
    assert get_json(cluster, "deployment", "web", "-n", shop)["status"]["readyReplicas"] == 3
    wait_for_event(cluster, "UpdateRollout", "web-2-0-0", "RolloutRolledBack", "green not available",
                   namespace=shop)
    record = eventually(lambda: [r for r in audit_lines(operator.logs()) if r["event"] == "ROLLOUT_ROLLED_BACK"],
                        what="ROLLOUT_ROLLED_BACK audit line")[-1]
    assert record["severity"] == "high" and record["version"] == "2.0.0"


def test_a_manual_abort_sends_traffic_back_to_blue(cluster: ClusterHandle, operator: OperatorProcess, shop: str) -> None:
    apply(cluster, rollout(shop, "web-3-0-0", "3.0.0", monitoringSeconds=300))
    eventually(lambda: phase(cluster, shop, "web-3-0-0") == "Monitoring", timeout=90, what="traffic on green")
    status = get_json(cluster, "updaterollout", "web-3-0-0", "-n", shop)["status"]
    assert selected_hash(cluster, shop) == status["greenHash"]
    cluster.kubectl("patch", "updaterollout", "web-3-0-0", "-n", shop, "--type=merge", "-p",
                    '{"spec":{"abort":true}}')
    eventually(lambda: phase(cluster, shop, "web-3-0-0") == "RolledBack", timeout=30, what="abort")
    assert selected_hash(cluster, shop) == status["blueHash"]
    assert "aborted by request" in get_json(cluster, "updaterollout", "web-3-0-0", "-n", shop)["status"]["message"]


def test_a_restart_mid_rollout_resumes_without_flipping_traffic_twice(
    cluster: ClusterHandle, operator: OperatorProcess, shop: str
) -> None:
    import signal
    import subprocess

    watch = subprocess.Popen(
        [cluster.tool("kubectl"), "get", "service", "web", "-n", shop, "--watch", "-o",
         "jsonpath={.spec.selector.pod-template-hash}{\"\\n\"}"],
        env=cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    apply(cluster, rollout(shop, "web-4-0-0", "4.0.0", monitoringSeconds=8))
    eventually(lambda: phase(cluster, shop, "web-4-0-0") == "Monitoring", timeout=90, what="traffic on green")
    operator.stop(signal.SIGKILL)
    operator.start()
    eventually(lambda: phase(cluster, shop, "web-4-0-0") == "Completed", timeout=90, what="completed after restart")
    status = get_json(cluster, "updaterollout", "web-4-0-0", "-n", shop)["status"]
    watch.terminate()
    hashes = [line for line in watch.communicate(timeout=10)[0].splitlines() if line]
    changes = [h for i, h in enumerate(hashes) if i == 0 or h != hashes[i - 1]]
    assert changes[-2:] == [status["blueHash"], status["greenHash"]]
    assert changes.count(status["greenHash"]) == 1 and changes.count(status["blueHash"]) == 1
