"""kopf daemon for UpdateRollout: one coroutine per unfinished rollout drives it through its phases.

Every decision is written to status before the next step, so a restarted operator resumes from the recorded
phase and never switches traffic twice.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kopf

from .. import kube
from ..api import API_VERSION, GROUP, VERSION
from ..audit import audit
from ..conditions import set_condition
from . import render
from .model import FINISHED_PHASES, UpdateRolloutSpec


class Rollback(Exception):
    """A check failed or the rollout was aborted: traffic goes back to blue."""


def unfinished(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in FINISHED_PHASES


async def newest_replicaset_hash(deployment: dict[str, Any]) -> str | None:
    """pod-template-hash of the Deployment's current ReplicaSet (the one with the highest revision)."""
    namespace = deployment["metadata"]["namespace"]
    selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
    owned = [
        rs for rs in await kube.list_objects("apps/v1", "ReplicaSet", namespace=namespace, label_selector=selector)
        if any(ref.get("uid") == deployment["metadata"]["uid"] for ref in rs["metadata"].get("ownerReferences", []))
    ]
    if not owned:
        return None
    newest = max(owned, key=lambda rs: int(rs["metadata"].get("annotations", {}).get(
        "deployment.kubernetes.io/revision", "0")))
    return newest["metadata"]["labels"].get(render.HASH_LABEL)


class RolloutDriver:
    def __init__(self, name: str, namespace: str, uid: str, spec: UpdateRolloutSpec, status: dict[str, Any],
                 body: kopf.Body) -> None:
        self.name, self.namespace, self.uid, self.spec, self.body = name, namespace, uid, spec, body
        self.state = dict(status)
        self.generation = int(body.metadata.get("generation") or 0)

    async def save(self, **fields: Any) -> None:
        self.state.update(fields)
        await kube.merge_patch_status(API_VERSION, "UpdateRollout", self.name, fields, self.namespace)

    async def enter(self, phase: str, message: str) -> None:
        await self.save(phase=phase, message=message, phaseStartedAt=time.time(), failures=0)

    def elapsed(self) -> float:
        return time.time() - float(self.state.get("phaseStartedAt") or time.time())

    async def deployment(self, name: str) -> dict[str, Any] | None:
        return await kube.get("apps/v1", "Deployment", name, self.namespace)

    async def point_service(self, service: str, pod_hash: str) -> None:
        current = await kube.get("v1", "Service", service, self.namespace)
        if current is None:
            raise kopf.PermanentError(f"Service {service} not found")
        if (current["spec"].get("selector") or {}).get(render.HASH_LABEL) != pod_hash:
            await kube.merge_patch("v1", "Service", service, render.selector_patch(current, pod_hash), self.namespace)

    async def prepare(self) -> None:
        blue = await self.deployment(self.spec.deploymentRef)
        if blue is None:
            raise Rollback(f"Deployment {self.spec.deploymentRef} not found")
        blue_hash = self.state.get("blueHash") or await newest_replicaset_hash(blue)
        if blue_hash is None:
            raise kopf.TemporaryError("blue has no ReplicaSet yet", delay=2)
        await self.point_service(self.spec.activeService, blue_hash)
        owner = {"apiVersion": API_VERSION, "kind": "UpdateRollout", "name": self.name, "uid": self.uid,
                 "controller": True, "blockOwnerDeletion": True}
        green = render.green_deployment(blue, self.spec, self.name, owner)
        await kube.apply(green)
        await self.save(blueHash=blue_hash, activeHash=blue_hash, greenDeployment=green["metadata"]["name"])
        await self.enter("Validation", f"waiting for {green['metadata']['name']} to become available")

    async def green_available(self) -> bool:
        return render.available(await self.deployment(str(self.state["greenDeployment"])))

    async def validate(self) -> None:
        check = self.spec.analysis.availability
        if await self.green_available():
            green = await self.deployment(str(self.state["greenDeployment"]))
            green_hash = await newest_replicaset_hash(green or {})
            if green_hash:
                if self.spec.previewService:
                    await self.point_service(self.spec.previewService, green_hash)
                await self.save(greenHash=green_hash)
                await self.enter("TrafficSwitch", "green is available")
                return
        if self.elapsed() > check.timeoutSeconds:
            raise Rollback(f"availability: green not available within {check.timeoutSeconds}s")

    async def switch(self) -> None:
        await self.point_service(self.spec.activeService, str(self.state["greenHash"]))
        await self.save(activeHash=self.state["greenHash"])
        kopf.info(self.body, reason="TrafficSwitched", message=f"{self.spec.activeService} now selects green")
        await self.enter("Monitoring", "watching green after the switch")

    async def monitor(self) -> None:
        check = self.spec.analysis.availability
        if await self.green_available():
            await self.save(failures=0)
        else:
            failures = int(self.state.get("failures") or 0) + 1
            await self.save(failures=failures)
            if failures >= check.failureThreshold:
                raise Rollback(f"availability: green unavailable in {failures} consecutive checks")
        if self.elapsed() >= self.spec.monitoringSeconds:
            await self.complete()

    async def complete(self) -> None:
        """Blue is scaled down after the delay, then the rollout is Completed (which ends this daemon)."""
        await self.save(message=f"promoted; blue scales down in {self.spec.scaleDownDelaySeconds}s")
        await asyncio.sleep(self.spec.scaleDownDelaySeconds)
        await kube.merge_patch("apps/v1", "Deployment", self.spec.deploymentRef, {"spec": {"replicas": 0}},
                               self.namespace)
        await self.finish("Completed", "Promoted", f"{self.spec.product} {self.spec.version} promoted")
        kopf.info(self.body, reason="RolloutCompleted", message=f"[severity=medium] {self.state['message']}")
        audit("ROLLOUT_COMPLETED", "medium", None, namespace=self.namespace, product=self.spec.product,
              version=self.spec.version)

    async def roll_back(self, reason: str) -> None:
        if self.state.get("blueHash"):
            await self.point_service(self.spec.activeService, str(self.state["blueHash"]))
            await self.save(activeHash=self.state["blueHash"])
        if self.state.get("greenDeployment"):  # kept, scaled down, for inspection
            await kube.merge_patch("apps/v1", "Deployment", str(self.state["greenDeployment"]),
                                   {"spec": {"replicas": 0}}, self.namespace)
        await self.finish("RolledBack", "RolledBack", reason)
        kopf.warn(self.body, reason="RolloutRolledBack", message=f"[severity=high] {reason}")
        audit("ROLLOUT_ROLLED_BACK", "high", None, namespace=self.namespace, product=self.spec.product,
              version=self.spec.version,
              reason=reason)

    async def finish(self, phase: str, reason: str, message: str) -> None:
        conditions = set_condition(list(self.state.get("conditions") or []), "Ready", "True", reason, message,
                                   self.generation)
        await self.save(phase=phase, message=message, conditions=conditions, observedGeneration=self.generation)

    async def step(self) -> None:
        phase = self.state.get("phase") or "Preparation"
        steps = {"Preparation": self.prepare, "Validation": self.validate, "TrafficSwitch": self.switch,
                 "Monitoring": self.monitor}
        await steps[phase]()


@kopf.daemon(GROUP, VERSION, "updaterollouts", when=unfinished, cancellation_timeout=10)
async def drive_rollout(
    name: str, namespace: str, uid: str, spec: kopf.Spec, status: kopf.Status, body: kopf.Body,
    stopped: kopf.DaemonStopped, **_: Any,
) -> None:
    driver = RolloutDriver(name, namespace, uid, UpdateRolloutSpec.model_validate(dict(spec)), dict(status), body)
    interval = driver.spec.analysis.availability.intervalSeconds
    while not stopped and driver.state.get("phase") not in FINISHED_PHASES:
        try:
            if spec.get("abort"):
                raise Rollback("aborted by request (spec.abort)")
            await driver.step()
        except Rollback as rollback:
            await driver.roll_back(str(rollback))
            return
        if driver.state.get("phase") in ("Validation", "Monitoring"):
            await stopped.wait(interval)
