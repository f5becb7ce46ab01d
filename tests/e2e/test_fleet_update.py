"""FleetUpdate on the real cluster: tenants updated wave by wave through UpdateRollouts within a concurrency limit,
and a stop when a wave's failure rate crosses the threshold."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from tests.cluster.plugin import ClusterHandle
from tests.e2e.helpers import (
    apply,
    audit_lines,
    condition,
    delete_tenant,
    eventually,
    get_json,
    wait_for_event,
)
from tests.e2e.operator_process import OperatorProcess
from tests.e2e.test_update_rollout import make_shop

pytestmark = pytest.mark.e2e

FINISHED = ("Completed", "RolledBack", "Failed")
QUICK = {"intervalSeconds": 1, "failureThreshold": 2, "timeoutSeconds": 20}
FAST_ROLLOUTS = {"monitoringSeconds": 2, "scaleDownDelaySeconds": 1, "analysis": {"availability": QUICK}}


def fleet_update(name: str, **spec: object) -> str:
    spec = {"product": "web", "version": "2.0.0", "image": "example.invalid/web:2.0.0", **FAST_ROLLOUTS, **spec}
    return json.dumps({"apiVersion": "tenancy.io/v1alpha1", "kind": "FleetUpdate", "metadata": {"name": name},
                       "spec": spec})


def fleet_status(cluster: ClusterHandle, name: str) -> dict:
    return (get_json(cluster, "fleetupdate", name) or {}).get("status") or {}


def fleet_rollouts(cluster: ClusterHandle, fleet: str) -> list[dict]:
    listed = get_json(cluster, "updaterollouts", "-A", "-l", f"tenancy.io/fleet-update={fleet}") or {}
    return listed.get("items", [])


def live_versions(cluster: ClusterHandle, namespace: str) -> list[tuple[str, str]]:
    """(version, image) of the product's Deployments that have replicas."""
    listed = get_json(cluster, "deployments", "-n", namespace, "-l", "tenancy.io/product=web") or {}
    return [(d["metadata"]["labels"]["app.kubernetes.io/version"],
             d["spec"]["template"]["spec"]["containers"][0]["image"])
            for d in listed["items"] if d["spec"]["replicas"] > 0]


@pytest.fixture()
def shops(cluster: ClusterHandle, operator: OperatorProcess) -> Iterator[list[str]]:
    """Five tenants, each with a live web 1.0.0 behind a Service."""
    names = [make_shop(cluster) for _ in range(5)]
    yield names
    for name in names:
        delete_tenant(cluster, name)


def delete_fleet(cluster: ClusterHandle, name: str) -> None:
    cluster.kubectl("delete", "fleetupdate", name, "--ignore-not-found", "--wait=false")


def watch_rollouts(cluster: ClusterHandle, fleet: str, until: Callable[[dict], bool], timeout: float) -> int:
    """Polls the fleet's rollouts until its status satisfies `until`; returns the most unfinished at once."""
    most_unfinished = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phases = [(r.get("status") or {}).get("phase") for r in fleet_rollouts(cluster, fleet)]
        most_unfinished = max(most_unfinished, sum(phase not in FINISHED for phase in phases))
        if until(fleet_status(cluster, fleet)):
            return most_unfinished
        time.sleep(0.3)
    raise AssertionError(f"fleet {fleet} not there within {timeout}s: {fleet_status(cluster, fleet)}")


def finished(status: dict) -> bool:
    return status.get("phase") in ("Completed", "Stopped")


def test_a_fleet_update_goes_wave_by_wave_within_its_concurrency_limit_across_a_restart(
    cluster: ClusterHandle, operator: OperatorProcess, shops: list[str]
) -> None:
    canary, *rest, current = shops
    cluster.kubectl("label", "deployment", "web", "-n", current, "app.kubernetes.io/version=2.0.0", "--overwrite")
    apply(cluster, fleet_update("web-2", tenants=shops, maxConcurrent=2, priorities={rest[2]: 10},
                                waves=[{"name": "canary", "tenants": [canary]}, {"name": "rest", "percent": 100}]))
    try:
        in_rest = watch_rollouts(cluster, "web-2", lambda s: (s.get("waves") or [{}])[-1].get("running"), 120)
        operator.stop(signal.SIGKILL)  # mid-wave: the restarted operator resumes from status
        operator.start()
        most_unfinished = max(in_rest, watch_rollouts(cluster, "web-2", finished, timeout=180))
        status = fleet_status(cluster, "web-2")
        assert status["phase"] == "Completed", status
        assert status["totals"] == {"targets": 4, "completed": 4, "failed": 0, "running": 0, "waiting": 0,
                                    "upToDate": 1}
        assert status["progress"] == "4/4 completed, 0 failed, 0 running"
        assert [(w["name"], w["targets"], w["completed"]) for w in status["waves"]] == [("canary", 1, 1),
                                                                                      ("rest", 3, 3)]
        assert [(t["tenant"], t["wave"], t["phase"], t["fromVersion"]) for t in status["targets"]] == [
            (canary, "canary", "Completed", "1.0.0"),
            *[(shop, "rest", "Completed", "1.0.0") for shop in (rest[2], rest[0], rest[1])]]  # priority first
        assert condition({"status": status}, "Ready")["status"] == "True"
        assert condition({"status": status}, "Progressing")["status"] == "False"
        for shop in (canary, *rest):
            assert live_versions(cluster, shop) == [("2.0.0", "example.invalid/web:2.0.0")], shop
        assert live_versions(cluster, current) == [("2.0.0", "example.invalid/web:1.0.0")]  # skipped: no rollout

        rollouts = {r["metadata"]["namespace"]: r for r in fleet_rollouts(cluster, "web-2")}
        assert set(rollouts) == {canary, *rest}
        assert all(r["metadata"]["ownerReferences"][0]["kind"] == "FleetUpdate" for r in rollouts.values())
        canary_finished = rollouts[canary]["status"]["finishedAt"]
        assert all(canary_finished <= rollouts[shop]["metadata"]["creationTimestamp"] for shop in rest)
        first_two = sorted(rollouts[shop]["status"]["finishedAt"] for shop in (rest[2], rest[0]))
        assert first_two[0] <= rollouts[rest[1]]["metadata"]["creationTimestamp"]  # waited for a free slot
        assert most_unfinished <= 2

        for reason, text in (("FleetWaveStarted", "wave canary"), ("FleetWaveStarted", "wave rest"),
                             ("FleetCompleted", "4 of 4 updated to 2.0.0")):
            wait_for_event(cluster, "FleetUpdate", "web-2", reason, text)
        records = [r for r in audit_lines(operator.logs()) if r.get("fleet") == "web-2"]
        assert [r["wave"] for r in records if r["event"] == "FLEET_WAVE_STARTED"] == ["canary", "rest"]
        created = [r["tenant"] for r in records if r["event"] == "FLEET_ROLLOUT_CREATED"]
        assert sorted(created) == sorted([canary, *rest])  # once each, across the restart
        assert any(r["event"] == "FLEET_COMPLETED" for r in records)
    finally:
        delete_fleet(cluster, "web-2")


def test_a_fleet_update_stops_when_a_wave_fails_too_often(
    cluster: ClusterHandle, operator: OperatorProcess, shops: list[str]
) -> None:
    first = shops[:2]
    never_ready = {"podLabels": {"tenancy.io/simulate": "not-ready"},
                   "analysis": {"availability": {**QUICK, "timeoutSeconds": 10}}}
    apply(cluster, fleet_update("web-3", tenants=shops, failureThreshold=30, **never_ready,
                                waves=[{"name": "first", "tenants": first}, {"name": "rest", "percent": 100}]))
    try:
        assert watch_rollouts(cluster, "web-3", finished, timeout=120) <= 2
        status = fleet_status(cluster, "web-3")
        assert status["phase"] == "Stopped" and status["currentWave"] == "first", status
        assert "stopped: wave first:" in status["message"] and "more than the 30% allowed" in status["message"]
        ready = condition({"status": status}, "Ready")
        assert ready["status"] == "False" and ready["reason"] == "FailureThreshold"
        wait_for_event(cluster, "FleetUpdate", "web-3", "FleetStopped", "more than the 30% allowed")

        # The first wave's other rollout finishes on its own; nothing starts for the rest.
        settled = eventually(lambda: (s := fleet_status(cluster, "web-3"))["totals"]["running"] == 0 and s,
                             timeout=60, what="the running rollouts finished")
        assert settled["totals"] == {"targets": 5, "completed": 0, "failed": 2, "running": 0, "waiting": 3,
                                     "upToDate": 0}
        assert [(w["name"], w["failed"], w["waiting"]) for w in settled["waves"]] == [("first", 2, 0),
                                                                                     ("rest", 0, 3)]
        time.sleep(2)
        rollouts = fleet_rollouts(cluster, "web-3")
        assert sorted(r["metadata"]["namespace"] for r in rollouts) == sorted(first)
        assert all(r["status"]["phase"] == "RolledBack" for r in rollouts)
        for shop in shops:
            assert live_versions(cluster, shop) == [("1.0.0", "example.invalid/web:1.0.0")], shop
        records = [r for r in audit_lines(operator.logs()) if r.get("fleet") == "web-3"]
        assert [r["wave"] for r in records if r["event"] == "FLEET_STOPPED"] == ["first"]
    finally:
        delete_fleet(cluster, "web-3")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"waves": [{"name": "w", "tenants": ["a"], "percent": 10}]}, "a wave takes either tenants or percent"),
        ({"waves": [{"name": "w"}]}, "a wave takes either tenants or percent"),
        ({"previewService": "web"}, "previewService must differ from activeService"),
        ({"steps": [{"weight": 50}]}, "steps: weights must increase and end at 100"),
        ({"maxConcurrent": 0}, "spec.maxConcurrent"),
    ],
)
def test_bad_fleet_updates_are_refused_at_admission(
    cluster: ClusterHandle, crds_installed: ClusterHandle, spec: dict, message: str
) -> None:
    result = apply(cluster, fleet_update("bad-fleet", **spec), check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert get_json(cluster, "fleetupdate", "bad-fleet") is None


def test_what_a_fleet_update_does_is_fixed_and_a_paused_one_waits_to_start(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    fixed = {"product": "no-such-product", "tenants": ["nobody"],
             "waves": [{"name": "one", "tenants": ["nobody"]}, {"name": "rest", "percent": 100}]}
    apply(cluster, fleet_update("fixed-fleet", paused=True, **fixed))
    try:
        waiting = eventually(lambda: (s := fleet_status(cluster, "fixed-fleet")).get("phase") == "Pending" and s,
                             timeout=30, what="paused before the start")
        assert condition({"status": waiting}, "Progressing")["reason"] == "Paused" and "targets" not in waiting
        moved = apply(cluster, fleet_update("fixed-fleet", paused=True, **{**fixed, "waves": fixed["waves"][1:]}),
                      check=False)
        assert moved.returncode != 0 and "tenants, waves and priorities are fixed" in moved.stderr
        retargeted = apply(cluster, fleet_update("fixed-fleet", paused=True, **fixed, version="3.0.0"), check=False)
        assert retargeted.returncode != 0 and "product, version and image are immutable" in retargeted.stderr
        apply(cluster, fleet_update("fixed-fleet", paused=False, maxConcurrent=1, **fixed))
        done = eventually(lambda: (s := fleet_status(cluster, "fixed-fleet")).get("phase") == "Completed" and s,
                          timeout=30, what="started and completed once unpaused")
        assert done["message"] == "nothing to update to 2.0.0" and done["totals"]["targets"] == 0
    finally:
        delete_fleet(cluster, "fixed-fleet")
