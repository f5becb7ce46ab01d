"""Drives one UpdateRollout through its phases. Every decision is written to status before the next step, so a
restarted operator resumes from the recorded phase and step and never switches traffic twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import kopf

from .. import kube
from ..api import ANNOTATION_PROMOTE, API_VERSION, LABEL_PRODUCT, workload_version
from ..audit import audit
from ..clock import CLOCK
from ..conditions import now_rfc3339, set_condition
from ..options import ROLLOUTS
from ..schedule import needs_approval
from . import checks, gates, metrics, render
from .model import CHECKED_PHASES, FINISHED_PHASES, TrafficStep, UpdateRolloutSpec

PENDING_RECHECK_SECONDS = 5.0
WINDOW_RECHECK_SECONDS = 30.0
STATUS_REFRESH_SECONDS = 10.0


class Rollback(Exception):
    """A check failed or the rollout was aborted: traffic goes back to blue."""

    def __init__(self, message: str, cause: str, check: str | None = None, first_failure_at: float | None = None):
        super().__init__(message)
        self.cause, self.check, self.first_failure_at = cause, check, first_failure_at


@dataclass
class CheckRunner:
    name: str
    kind: str
    interval: float
    threshold: int
    measure: Callable[[], Awaitable[checks.Measurement]]
    due: float = 0.0


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
                 body: kopf.Body, index: Mapping[str, Any]) -> None:
        self.name, self.namespace, self.uid, self.spec, self.body, self.index = name, namespace, uid, spec, body, index
        self.state = dict(status)
        self.generation = int(body.metadata.get("generation") or 0)
        self.session: aiohttp.ClientSession | None = None
        self.runners = self.check_runners()
        self.results = {entry["name"]: dict(entry) for entry in status.get("checks") or []}
        self.results_saved_at = 0.0
        self.scope: gates.TenantScope | None = None

    # --- status -------------------------------------------------------------------------------------------
    async def save(self, **fields: Any) -> None:
        self.state.update(fields)
        await kube.merge_patch_status(API_VERSION, "UpdateRollout", self.name, fields, self.namespace)

    async def enter(self, phase: str, message: str, **fields: Any) -> None:
        previous, started = self.state.get("phase"), self.state.get("phaseStartedAt")
        if previous and started:
            metrics.observe_step(previous, self.state.get("currentWeight"), time.time() - float(started))
        await self.save(phase=phase, message=message, phaseStartedAt=time.time(), **fields)

    async def progressing(self, status: str, reason: str, message: str) -> None:
        """Records a wait (window, queue, approval) once, not on every tick."""
        current = list(self.state.get("conditions") or [])
        previous = next((c for c in current if c.get("type") == "Progressing"), {})
        if (previous.get("reason"), previous.get("message")) == (reason, message):
            return
        conditions = set_condition(current, "Progressing", status, reason, message, self.generation)
        await self.save(message=message, conditions=conditions)

    def elapsed(self) -> float:
        return time.time() - float(self.state.get("phaseStartedAt") or time.time())

    @property
    def steps(self) -> list[TrafficStep]:
        if self.spec.trafficRouting is None:
            return [TrafficStep(weight=100, holdSeconds=0)]
        return self.spec.steps

    # --- objects ------------------------------------------------------------------------------------------
    async def deployment(self, name: str) -> dict[str, Any] | None:
        return await kube.get("apps/v1", "Deployment", name, self.namespace)

    async def point_service(self, service: str, pod_hash: str) -> None:
        current = await kube.get("v1", "Service", service, self.namespace)
        if current is None:
            raise Rollback(f"Service {service} not found", "configuration")
        if (current["spec"].get("selector") or {}).get(render.HASH_LABEL) != pod_hash:
            await kube.merge_patch("v1", "Service", service, render.selector_patch(current, pod_hash), self.namespace)

    def owner(self) -> dict[str, Any]:
        return {"apiVersion": API_VERSION, "kind": "UpdateRollout", "name": self.name, "uid": self.uid,
                "controller": True, "blockOwnerDeletion": True}

    async def set_route_weight(self, weight: int | None) -> None:
        """Weights on the HTTPRoute and the canary Ingress; None sends everything to the active Service."""
        routing, preview = self.spec.trafficRouting, self.spec.previewService
        if routing is None or preview is None:
            return
        if routing.httpRoute is not None:
            await self.weigh_http_route(routing.httpRoute.name, preview, weight)
        if routing.ingress is not None:
            await self.weigh_canary_ingress(routing.ingress.name, preview, weight)

    async def weigh_http_route(self, name: str, preview: str, weight: int | None) -> None:
        route = await kube.get("gateway.networking.k8s.io/v1", "HTTPRoute", name, self.namespace)
        if route is None:
            raise Rollback(f"HTTPRoute {name} not found", "configuration")
        try:
            rules = render.http_route_rules(route, self.spec.activeService, preview, weight)
        except ValueError as error:
            raise Rollback(str(error), "configuration") from error
        if rules != route["spec"].get("rules"):
            patch = {"metadata": {"resourceVersion": route["metadata"]["resourceVersion"]}, "spec": {"rules": rules}}
            await kube.merge_patch("gateway.networking.k8s.io/v1", "HTTPRoute", name, patch, self.namespace)

    async def weigh_canary_ingress(self, name: str, preview: str, weight: int | None) -> None:
        if weight is None:
            await kube.delete("networking.k8s.io/v1", "Ingress", render.canary_ingress_name(name), self.namespace)
            return
        ingress = await kube.get("networking.k8s.io/v1", "Ingress", name, self.namespace)
        if ingress is None:
            raise Rollback(f"Ingress {name} not found", "configuration")
        await kube.apply(render.canary_ingress(ingress, self.spec.activeService, preview, weight, self.name,
                                               self.owner()))

    # --- checks -------------------------------------------------------------------------------------------
    def check_runners(self) -> list[CheckRunner]:
        analysis = self.spec.analysis
        runners = [CheckRunner("availability", "availability", analysis.availability.intervalSeconds,
                               analysis.availability.failureThreshold, self.measure_availability)]
        for http in analysis.http:
            runners.append(CheckRunner(http.name, "http", http.intervalSeconds, http.failureThreshold,
                                       lambda http=http: checks.http_measurement(self.http_session(), http)))
        for query in analysis.prometheus:
            runners.append(CheckRunner(
                query.name, "prometheus", query.intervalSeconds, query.failureThreshold,
                lambda query=query: checks.prometheus_measurement(self.http_session(), query,
                                                                  ROLLOUTS.prometheus_url)))
        return runners

    def http_session(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession()
        return self.session

    async def measure_availability(self) -> checks.Measurement:
        green = await self.deployment(str(self.state["greenDeployment"]))
        status = (green or {}).get("status") or {}
        value = f"{status.get('availableReplicas', 0)}/{(green or {}).get('spec', {}).get('replicas', 0)} available"
        return checks.Measurement(render.available(green), value)

    async def run_due_checks(self) -> None:
        now = time.monotonic()
        due = [runner for runner in self.runners if runner.due <= now]
        if not due:
            return
        measurements = await asyncio.gather(*(runner.measure() for runner in due))
        changed = False
        for runner, measurement in zip(due, measurements):
            runner.due = time.monotonic() + runner.interval
            changed |= self.record(runner, measurement)
        if changed or time.time() - self.results_saved_at > STATUS_REFRESH_SECONDS:
            await self.save_results()
        for runner in due:
            result = self.results[runner.name]
            if result["failures"] >= runner.threshold:
                raise Rollback(f"{runner.kind} check {runner.name} failed {result['failures']} times in a row: "
                               f"{result['value']}", runner.kind, runner.name, result.get("firstFailureAt"))

    def record(self, runner: CheckRunner, measurement: checks.Measurement) -> bool:
        """Updates the check's result; True when its pass/fail or failure count changed."""
        previous = self.results.get(runner.name) or {"failures": 0}
        failures = 0 if measurement.passed else int(previous.get("failures") or 0) + 1
        first_failure = None if measurement.passed else (previous.get("firstFailureAt") or time.time())
        self.results[runner.name] = {
            "name": runner.name, "kind": runner.kind, "passed": measurement.passed, "value": measurement.value,
            "failures": failures, "firstFailureAt": first_failure, "checkedAt": time.time(),
        }
        return previous.get("passed") != measurement.passed or previous.get("failures") != failures

    async def save_results(self) -> None:
        self.results_saved_at = time.time()
        await self.save(checks=[self.results[runner.name] for runner in self.runners if runner.name in self.results])

    def all_checks_passed(self) -> bool:
        return all((self.results.get(runner.name) or {}).get("passed") for runner in self.runners)

    # --- phases -------------------------------------------------------------------------------------------
    async def pending(self) -> float:
        """Waits for the queue, the tenant's concurrency limit, windows and blackouts; returns when to look again."""
        self.scope = await gates.tenant_scope(self.namespace)
        me = gates.IndexedRollout(self.namespace, self.name, self.spec.product,
                                  str(self.body.metadata.get("creationTimestamp", "")), "Pending")
        now = CLOCK.now()
        gate = await gates.try_start(me, self.scope, gates.rollouts_of(self.scope, self.index), now)
        if not gate.open:
            if self.state.get("phase") != "Pending":
                await self.save(phase="Pending", tenant=self.scope.name)
            await self.progressing("False", gate.reason, gate.message)
            until_open = (gate.opens_at - now).total_seconds() if gate.opens_at else PENDING_RECHECK_SECONDS
            return CLOCK.wait_cap(max(1.0, min(until_open, WINDOW_RECHECK_SECONDS)))
        conditions = set_condition(list(self.state.get("conditions") or []), "Progressing", "True", "Started",
                                   "rollout started", self.generation)
        await self.save(tenant=self.scope.name, startedAt=now_rfc3339(), conditions=conditions)
        await self.enter("Preparation", "deploying green beside blue")
        kopf.info(self.body, reason="RolloutStarted",
                  message=f"[severity=low] {self.spec.product} {self.spec.version} rollout started")
        return 0

    async def find_blue(self) -> dict[str, Any]:
        """The Deployment recorded at the start, else deploymentRef, else the product's live Deployment."""
        name = self.state.get("blueDeployment") or self.spec.deploymentRef
        if name:
            blue = await self.deployment(str(name))
        else:
            candidates = await kube.list_objects("apps/v1", "Deployment", namespace=self.namespace,
                                                 label_selector=f"{LABEL_PRODUCT}={self.spec.product}")
            green = render.green_name(self.spec, self.uid)
            blue = render.live_deployment([c for c in candidates if c["metadata"]["name"] != green])
        if blue is None:
            what = name or f"with replicas labelled {LABEL_PRODUCT}={self.spec.product}"
            raise Rollback(f"Deployment {what} not found", "configuration")
        return blue

    async def prepare(self) -> None:
        blue = await self.find_blue()
        blue_hash = self.state.get("blueHash") or await newest_replicaset_hash(blue)
        if blue_hash is None:
            raise kopf.TemporaryError("blue has no ReplicaSet yet", delay=2)
        await self.point_service(self.spec.activeService, blue_hash)
        green = render.green_deployment(blue, self.spec, self.name, self.uid, self.owner())
        await kube.apply(green)
        await self.save(blueDeployment=blue["metadata"]["name"], blueHash=blue_hash, activeHash=blue_hash,
                        blueVersion=workload_version(blue["metadata"].get("labels"), blue["spec"]), greenDeployment=green["metadata"]["name"])
        await self.enter("Validation", f"waiting for {green['metadata']['name']} to become available")

    async def validate(self) -> None:
        if not self.state.get("greenHash"):
            await self.wait_for_green()
            return
        if not self.all_checks_passed():
            return
        if self.approval_needed():
            await self.enter("Paused", f"awaiting approval: kubectl tenant rollout promote {self.name} "
                             f"-n {self.namespace}")
            await self.progressing("False", "AwaitingApproval", str(self.state["message"]))
            kopf.info(self.body, reason="AwaitingApproval", message=f"[severity=medium] {self.state['message']}")
            return
        await self.enter("TrafficSwitch", "green passed validation", currentStep=0)

    async def wait_for_green(self) -> None:
        timeout = self.spec.analysis.availability.timeoutSeconds
        green = await self.deployment(str(self.state["greenDeployment"]))
        if render.available(green):
            green_hash = await newest_replicaset_hash(green or {})
            if green_hash:
                if self.spec.previewService:
                    await self.point_service(self.spec.previewService, green_hash)
                await self.save(greenHash=green_hash, message="green is available; running checks")
                return
        if self.elapsed() > timeout:
            raise Rollback(f"availability: green not available within {timeout}s{render.replica_failure(green)}",
                           "availability", "availability", float(self.state.get("phaseStartedAt") or 0) + timeout)

    def approval_needed(self) -> bool:
        approval = self.spec.approval or (self.scope.preferences.approval if self.scope else "auto")
        return needs_approval(approval, self.state.get("blueVersion"), self.spec.version)

    async def paused(self) -> None:
        approval = (self.body.metadata.get("annotations") or {}).get(ANNOTATION_PROMOTE)
        if approval:
            conditions = set_condition(list(self.state.get("conditions") or []), "Progressing", "True", "Approved",
                                       f"promoted ({approval})", self.generation)
            await self.save(approvedBy=approval, conditions=conditions)
            kopf.info(self.body, reason="RolloutApproved", message=f"[severity=medium] promoted ({approval})")
            audit("ROLLOUT_APPROVED", "medium", self.state.get("tenant"), namespace=self.namespace,
                  product=self.spec.product, version=self.spec.version, approval=approval)
            await self.enter("TrafficSwitch", "approved", currentStep=0)

    async def shift(self) -> None:
        index = int(self.state.get("currentStep") or 0)
        step = self.steps[index]
        if self.state.get("currentWeight") != step.weight:
            await self.apply_weight(step.weight)
            await self.enter("TrafficSwitch", render.traffic_summary(step.weight), currentWeight=step.weight,
                             currentStep=index)
            kopf.info(self.body, reason="TrafficShifted", message=f"[severity=low] {self.state['message']}")
            return
        if self.elapsed() < step.holdSeconds:
            return
        if index + 1 < len(self.steps):
            await self.save(currentStep=index + 1)
        else:
            await self.enter("Monitoring", "watching green after the switch")

    async def apply_weight(self, weight: int) -> None:
        """Below 100 the route carries the weight; at 100 the active Service selects green, then the route is
        restored to the active Service alone (now green), so no request ever meets blue again."""
        if weight < 100:
            await self.set_route_weight(weight)
            return
        await self.set_route_weight(100)
        await self.point_service(self.spec.activeService, str(self.state["greenHash"]))
        await self.save(activeHash=self.state["greenHash"])
        await self.set_route_weight(None)
        kopf.info(self.body, reason="TrafficSwitched", message=f"{self.spec.activeService} now selects green")

    async def monitor(self) -> None:
        if self.elapsed() >= self.spec.monitoringSeconds:
            await self.complete()

    async def complete(self) -> None:
        """Green becomes the product's live Deployment (it outlives this rollout); blue is scaled down after the
        delay and kept as the standby; then the rollout is Completed (which ends this daemon)."""
        await kube.merge_patch("apps/v1", "Deployment", str(self.state["greenDeployment"]),
                               {"metadata": {"ownerReferences": None}}, self.namespace)
        await self.save(message=f"promoted; blue scales down in {self.spec.scaleDownDelaySeconds}s")
        await asyncio.sleep(self.spec.scaleDownDelaySeconds)
        await kube.merge_patch("apps/v1", "Deployment", str(self.state["blueDeployment"]), {"spec": {"replicas": 0}},
                               self.namespace)
        message = f"{self.spec.product} {self.spec.version} promoted"
        # Events and audit first: the finished phase ends this daemon.
        kopf.info(self.body, reason="RolloutCompleted", message=f"[severity=medium] {message}")
        audit("ROLLOUT_COMPLETED", "medium", self.state.get("tenant"), namespace=self.namespace,
              product=self.spec.product, version=self.spec.version)
        await self.finish("Completed", "Promoted", message)

    async def roll_back(self, rollback: Rollback) -> None:
        if self.state.get("blueHash"):
            await self.set_route_weight(None)
            await self.point_service(self.spec.activeService, str(self.state["blueHash"]))
            await self.save(activeHash=self.state["blueHash"], currentWeight=0)
        metrics.record_rollback(rollback.cause, time.time() - rollback.first_failure_at
                                if rollback.first_failure_at else None)
        if self.state.get("greenDeployment"):  # kept, scaled down, for inspection
            await kube.merge_patch("apps/v1", "Deployment", str(self.state["greenDeployment"]),
                                   {"spec": {"replicas": 0}}, self.namespace)
        reason = str(rollback)
        kopf.warn(self.body, reason="RolloutRolledBack", message=f"[severity=high] {reason}")
        audit("ROLLOUT_ROLLED_BACK", "high", self.state.get("tenant"), namespace=self.namespace,
              product=self.spec.product, version=self.spec.version, reason=reason, check=rollback.check,
              checks=list(self.results.values()))
        await self.finish("RolledBack", "RolledBack", reason, failedCheck=rollback.check)

    async def finish(self, phase: str, reason: str, message: str, **fields: Any) -> None:
        conditions = set_condition(list(self.state.get("conditions") or []), "Ready", "True", reason, message,
                                   self.generation)
        conditions = set_condition(conditions, "Progressing", "False", reason, message, self.generation)
        await self.enter(phase, message, conditions=conditions, observedGeneration=self.generation,
                         finishedAt=now_rfc3339(), **fields)
        if self.scope is not None or self.state.get("tenant"):
            gates.SLOTS.release(self.scope.name if self.scope else str(self.state["tenant"]),
                                (self.namespace, self.name))

    # --- the loop -----------------------------------------------------------------------------------------
    async def step(self) -> float:
        """One step of the current phase; returns how long to wait before the next."""
        phase = self.state.get("phase") or "Pending"
        if phase == "Pending":
            return await self.pending()
        if self.scope is None:
            self.scope = await gates.tenant_scope(self.namespace)
        steps: dict[str, Callable[[], Awaitable[None]]] = {
            "Preparation": self.prepare, "Validation": self.validate, "Paused": self.paused,
            "TrafficSwitch": self.shift, "Monitoring": self.monitor,
        }
        await steps[phase]()
        if self.state.get("phase") in CHECKED_PHASES and self.state.get("greenHash"):
            await self.run_due_checks()
        return self.next_wake()

    def next_wake(self) -> float:
        if self.state.get("phase") == "Preparation":
            return 0
        soonest = min(runner.due for runner in self.runners) - time.monotonic()
        hold = self.hold_remaining()
        return max(0.05, min(soonest, hold, 1.0))

    def hold_remaining(self) -> float:
        phase = self.state.get("phase")
        if phase == "TrafficSwitch":
            step = self.steps[int(self.state.get("currentStep") or 0)]
            if self.state.get("currentWeight") != step.weight:
                return 0
            return step.holdSeconds - self.elapsed()
        if phase == "Monitoring":
            return self.spec.monitoringSeconds - self.elapsed()
        return 1.0

    async def run(self, stopped: kopf.DaemonStopped, live_spec: kopf.Spec) -> None:
        try:
            while not stopped and self.state.get("phase") not in FINISHED_PHASES:
                try:
                    if live_spec.get("abort"):
                        raise Rollback("aborted by request (spec.abort)", "abort")
                    delay = await self.step()
                except Rollback as rollback:
                    await self.roll_back(rollback)
                    return
                if delay > 0:
                    await stopped.wait(delay)
        finally:
            if self.session is not None:
                await self.session.close()
