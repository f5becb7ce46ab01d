"""Leader election between two replicas through kopf's peering: only the highest priority acts; when it dies, the
other takes over once its heartbeat expires."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.plugin import ClusterHandle
from tests.e2e.helpers import apply, delete_tenant, eventually, get_json, tenant_manifest, wait_ready
from tests.e2e.operator_process import OperatorProcess

pytestmark = pytest.mark.e2e

PEERING = "tenant-operator-ha"
LIFETIME = 10


def handled_by(process: OperatorProcess, tenant: str) -> bool:
    """Whether this replica reconciled the tenant (admission webhooks are served by every replica, paused or not,
    so only the reconcile handler tells who acts)."""
    for line in process.logs().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        message = record.get("message", "")
        if (record.get("object") or {}).get("name") == tenant and message.startswith("Handler 'reconcile_tenant'"):
            return True
    return False


@pytest.fixture()
def replicas(cluster: ClusterHandle, operator: OperatorProcess, tmp_path: Path) -> Iterator[list[OperatorProcess]]:
    """Two peered replicas (priority 200 and 100) while the suite's standalone operator is stopped.

    Every replica serves the admission webhooks (paused or not), as behind the chart's Service; here each registers
    its own address, so the last one started (the follower) is the one the apiserver calls."""
    operator.stop()
    cluster.kubectl("apply", "-f", "-", input_text=json.dumps(
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": PEERING}}))
    started = [
        OperatorProcess(cluster, tmp_path / f"replica-{priority}.log", operator.smtp_port,
                        ("--peering", PEERING, "--peering-priority", str(priority),
                         "--peering-lifetime", str(LIFETIME)))
        for priority in (200, 100)
    ]
    try:
        for replica in started:
            replica.start()
        yield started
    finally:
        for replica in started:
            replica.stop()
        cluster.kubectl("delete", "clusterkopfpeering", PEERING, "--ignore-not-found")
        operator.start()


def test_only_the_leader_acts_and_the_follower_takes_over_when_it_dies(
    cluster: ClusterHandle, replicas: list[OperatorProcess]
) -> None:
    leader, follower = replicas
    eventually(lambda: len((get_json(cluster, "clusterkopfpeering", PEERING).get("status") or {})) == 2,
               timeout=30, what="both replicas in the peering object")
    # kopf starts peered replicas paused; the leader resumes once it sees it has the highest priority.
    eventually(lambda: "Resuming operations after the pause" in leader.logs(), timeout=30, what="leader resumed")
    assert "Resuming operations after the pause" not in follower.logs()
    apply(cluster, tenant_manifest("peer-one", "Peer One"))
    wait_ready(cluster, "peer-one")
    assert handled_by(leader, "peer-one") and not handled_by(follower, "peer-one")

    leader.stop(signal.SIGKILL)  # no goodbye: the follower waits for the heartbeat to expire
    eventually(lambda: "Resuming operations after the pause" in follower.logs(), timeout=LIFETIME * 4,
               what="follower resumed")
    apply(cluster, tenant_manifest("peer-two", "Peer Two"))
    wait_ready(cluster, "peer-two")
    assert handled_by(follower, "peer-two")
    for tenant in ("peer-one", "peer-two"):
        delete_tenant(cluster, tenant)
