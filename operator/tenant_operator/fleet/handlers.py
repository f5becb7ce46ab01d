"""kopf handlers for FleetUpdate: one daemon per unfinished FleetUpdate, woken by changes of its UpdateRollouts.

The targets and their waves are chosen once and kept in status; the rollouts' phases are read back from the
UpdateRollouts themselves (listed by label), so a restarted operator resumes where it stopped and never creates a
rollout twice (their names are fixed by the fleet and the tenant).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import kopf
from kubernetes_asyncio.dynamic.exceptions import ConflictError, DynamicApiError

from .. import kube
from ..api import API_VERSION, GROUP, LABEL_PRODUCT, LABEL_TENANT, VERSION
from ..audit import audit
from ..conditions import ConditionStatus, now_rfc3339, set_condition
from . import plan
from .model import FINISHED_PHASES, FleetUpdateSpec, TargetStatus

FLEET_LABEL = f"{GROUP}/fleet-update"
# Rollout changes wake the daemon at once; this is only a safety net for a missed watch event.
RECHECK_SECONDS = 60.0
WAKES: dict[str, asyncio.Event] = {}


def wake(fleet: str) -> None:
    if fleet in WAKES:
        WAKES[fleet].set()


def needs_daemon(status: Mapping[str, Any], **_: Any) -> bool:
    """Until it is finished and none of its rollouts is still running (a stopped fleet still tracks those)."""
    return status.get("phase") not in FINISHED_PHASES or bool((status.get("totals") or {}).get("running"))


@kopf.on.event(GROUP, VERSION, "updaterollouts", labels={FLEET_LABEL: kopf.PRESENT})
async def wake_fleet_of_rollout(labels: kopf.Labels, **_: Any) -> None:
    wake(str(labels[FLEET_LABEL]))


@kopf.on.event(GROUP, VERSION, "fleetupdates")
async def wake_fleet_on_spec_change(name: str, meta: kopf.Meta, status: kopf.Status, **_: Any) -> None:
    if meta.get("generation") != status.get("observedGeneration"):
        wake(name)


# The daemon ends itself once finished; the backoff lets it finish its last writes before kopf (which stops
# daemons whose filter no longer matches) would cancel it.
@kopf.daemon(GROUP, VERSION, "fleetupdates", when=needs_daemon, backoff=5, cancellation_backoff=10,
             cancellation_timeout=10)
async def drive_fleet(name: str, uid: str, spec: kopf.Spec, status: kopf.Status, body: kopf.Body,
                      stopped: kopf.DaemonStopped, **_: Any) -> None:
    await FleetDriver(name, uid, body, dict(status)).run(stopped, spec)


async def discover(product: str) -> list[plan.Endpoint]:
    """Tenant namespaces running the product: two cluster-wide, label-selected lists."""
    deployments = await kube.list_objects("apps/v1", "Deployment", label_selector=f"{LABEL_PRODUCT}={product}")
    namespaces = await kube.list_objects("v1", "Namespace", label_selector=LABEL_TENANT)
    tenant_of = {ns["metadata"]["name"]: ns["metadata"]["labels"][LABEL_TENANT] for ns in namespaces}
    return plan.endpoints(deployments, tenant_of)


async def wait_for_wake(wake_event: asyncio.Event, stopped: kopf.DaemonStopped, timeout: float) -> None:
    async def until_stopped() -> None:
        await stopped.wait()

    waiters = [asyncio.ensure_future(wake_event.wait()), asyncio.ensure_future(until_stopped())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class FleetDriver:
    def __init__(self, name: str, uid: str, body: kopf.Body, status: dict[str, Any]) -> None:
        self.name, self.uid, self.body = name, uid, body
        self.state = dict(status)

    @property
    def generation(self) -> int:
        return int(self.body.metadata.get("generation") or 0)

    @property
    def targets(self) -> list[TargetStatus]:
        return [TargetStatus.model_validate(target) for target in self.state.get("targets") or []]

    @property
    def wave_names(self) -> list[str]:
        return [wave["name"] for wave in self.state.get("waves") or []]

    # --- status -------------------------------------------------------------------------------------------
    async def save(self, **fields: Any) -> None:
        changed = {key: value for key, value in fields.items() if self.state.get(key) != value}
        if not changed:
            return
        self.state.update(changed)
        await kube.merge_patch_status(API_VERSION, "FleetUpdate", self.name, changed)

    def progress_fields(self, targets: list[TargetStatus], wave_names: list[str] | None = None,
                        up_to_date: int | None = None) -> dict[str, Any]:
        if up_to_date is None:
            up_to_date = int((self.state.get("totals") or {}).get("upToDate") or 0)
        totals = plan.count(targets).model_copy(update={"upToDate": up_to_date})
        waves = plan.wave_progress(targets, self.wave_names if wave_names is None else wave_names)
        return {
            "targets": [target.model_dump(exclude_none=True) for target in targets],
            "waves": [wave.model_dump() for wave in waves],
            "totals": totals.model_dump(),
            "progress": plan.summary(totals),
        }

    def conditions(self, ready: ConditionStatus, progressing: ConditionStatus, reason: str,
                   message: str) -> list[dict]:
        conditions = set_condition(list(self.state.get("conditions") or []), "Ready", ready, reason, message,
                                   self.generation)
        return set_condition(conditions, "Progressing", progressing, reason, message, self.generation)

    # --- steps --------------------------------------------------------------------------------------------
    async def start(self, spec: FleetUpdateSpec) -> None:
        """Chooses the targets and their waves, once: later changes to Deployments do not move them."""
        targets, up_to_date = plan.plan_targets(self.name, spec, await discover(spec.product))
        message = f"{len(targets)} targets in {len(spec.waves)} waves; {up_to_date} already on {spec.version}"
        await self.save(phase="Progressing", startedAt=now_rfc3339(), observedGeneration=self.generation,
                        message=message, conditions=self.conditions("False", "True", "Started", message),
                        **self.progress_fields(targets, [wave.name for wave in spec.waves], up_to_date))
        audit("FLEET_UPDATE_STARTED", "medium", None, fleet=self.name, product=spec.product, version=spec.version,
              targets=len(targets), upToDate=up_to_date)

    async def rollout_phases(self) -> dict[tuple[str, str], str | None]:
        """(namespace, name) -> phase of this FleetUpdate's UpdateRollouts (not of an earlier one of that name)."""
        listed = await kube.list_objects(API_VERSION, "UpdateRollout", label_selector=f"{FLEET_LABEL}={self.name}")
        return {(r["metadata"]["namespace"], r["metadata"]["name"]): (r.get("status") or {}).get("phase")
                for r in listed if self.owns(r)}

    def owns(self, rollout: Mapping[str, Any]) -> bool:
        return any(ref.get("uid") == self.uid for ref in rollout["metadata"].get("ownerReferences") or [])

    def rollout_manifest(self, spec: FleetUpdateSpec, target: TargetStatus) -> dict[str, Any]:
        passthrough = spec.model_dump(include={"container", "previewService", "trafficRouting", "steps", "analysis",
                                               "podLabels", "monitoringSeconds", "scaleDownDelaySeconds"},
                                      exclude_none=True)
        return {
            "apiVersion": API_VERSION, "kind": "UpdateRollout",
            "metadata": {
                "name": target.rollout, "namespace": target.namespace,
                "labels": {FLEET_LABEL: self.name},
                "ownerReferences": [{"apiVersion": API_VERSION, "kind": "FleetUpdate", "name": self.name,
                                     "uid": self.uid, "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": {"product": spec.product, "version": spec.version, "image": spec.image,
                     "activeService": spec.active_service, **passthrough},
        }

    async def create_rollout(self, spec: FleetUpdateSpec, target: TargetStatus) -> TargetStatus:
        """The target once its rollout exists, or failed when the apiserver refuses it for good."""
        try:
            await kube.create(self.rollout_manifest(spec, target))
        except ConflictError:
            return await self.adopt(target)
        except DynamicApiError as error:
            if error.status is None or error.status >= 500 or error.status == 429:
                raise
            return target.model_copy(update={"phase": "Failed", "message": f"not created: {error.summary()}"})
        audit("FLEET_ROLLOUT_CREATED", "low", target.tenant, fleet=self.name, namespace=target.namespace,
              rollout=target.rollout, product=spec.product, version=spec.version, wave=target.wave)
        return target.model_copy(update={"phase": "Pending", "message": None})

    async def adopt(self, target: TargetStatus) -> TargetStatus:
        """A rollout of that name exists: ours (created just before a restart) is followed, another one is not."""
        existing = await kube.get(API_VERSION, "UpdateRollout", target.rollout, target.namespace)
        if existing is not None and self.owns(existing):
            return target.model_copy(update={"phase": (existing.get("status") or {}).get("phase") or "Pending"})
        return target.model_copy(update={"phase": "Failed", "message": f"an UpdateRollout {target.rollout} that "
                                         "is not this FleetUpdate's already exists"})

    def announce_wave(self, spec: FleetUpdateSpec, wave: str, targets: list[TargetStatus]) -> None:
        members = [t for t in targets if t.wave == wave]
        message = f"wave {wave} started: {len(members)} targets"
        kopf.info(self.body, reason="FleetWaveStarted", message=f"[severity=low] {message}")
        audit("FLEET_WAVE_STARTED", "medium", None, fleet=self.name, product=spec.product, version=spec.version,
              wave=wave, tenants=sorted({t.tenant for t in members}))

    async def progress(self, spec: FleetUpdateSpec, decision: plan.Decision, targets: list[TargetStatus]) -> None:
        """Records the observed progress and the wave, then creates the next rollouts and records them."""
        new_wave = decision.wave != self.state.get("currentWave")
        await self.save(currentWave=decision.wave, **self.progress_fields(targets))
        if new_wave:
            self.announce_wave(spec, str(decision.wave), targets)
        created = await kube.gather_limited(self.create_rollout(spec, target) for target in decision.start)
        targets = plan.started(targets, {(t.namespace, t.rollout): t for t in created})
        fields = self.progress_fields(targets)
        message = f"{decision.message}: {fields['progress']}"
        running = decision.reason != "Paused"
        await self.save(message=message, observedGeneration=self.generation,
                        conditions=self.conditions("False", "True" if running else "False", decision.reason,
                                                   message), **fields)

    async def stop(self, spec: FleetUpdateSpec, decision: plan.Decision, targets: list[TargetStatus]) -> None:
        kopf.warn(self.body, reason="FleetStopped", message=f"[severity=high] {decision.message}")
        audit("FLEET_STOPPED", "high", None, fleet=self.name, product=spec.product, version=spec.version,
              wave=decision.wave, reason=decision.message)
        await self.save(phase="Stopped", currentWave=decision.wave, message=decision.message,
                        finishedAt=now_rfc3339(), observedGeneration=self.generation,
                        conditions=self.conditions("False", "False", decision.reason, decision.message),
                        **self.progress_fields(targets))

    async def complete(self, spec: FleetUpdateSpec, decision: plan.Decision, targets: list[TargetStatus]) -> None:
        # Event and audit first: the finished phase ends this daemon.
        fields = self.progress_fields(targets)
        kopf.info(self.body, reason="FleetCompleted", message=f"[severity=medium] {decision.message}")
        audit("FLEET_COMPLETED", "medium", None, fleet=self.name, product=spec.product, version=spec.version,
              **fields["totals"])
        await self.save(phase="Completed", currentWave=None, message=decision.message, finishedAt=now_rfc3339(),
                        observedGeneration=self.generation,
                        conditions=self.conditions("True", "False", decision.reason, decision.message), **fields)

    async def wait_unpaused(self) -> None:
        message = "paused before it started: the targets are chosen once it is unpaused"
        await self.save(phase="Pending", message=message, observedGeneration=self.generation,
                        conditions=self.conditions("False", "False", "Paused", message))

    async def step(self, spec: FleetUpdateSpec) -> None:
        if self.state.get("phase") in (None, "Pending"):
            if spec.paused:
                await self.wait_unpaused()
                return
            await self.start(spec)
        targets = plan.observe(self.targets, await self.rollout_phases())
        if self.state.get("phase") == "Stopped":  # no decisions left: only the running rollouts are followed
            await self.save(**self.progress_fields(targets))
            return
        decision = plan.decide(targets, self.wave_names, spec)
        if decision.phase == "Stopped":
            await self.stop(spec, decision, targets)
        elif decision.phase == "Completed":
            await self.complete(spec, decision, targets)
        else:
            await self.progress(spec, decision, targets)

    def done(self) -> bool:
        return not needs_daemon(self.state)

    async def run(self, stopped: kopf.DaemonStopped, live_spec: kopf.Spec) -> None:
        wake_event = WAKES.setdefault(self.name, asyncio.Event())
        try:
            while not stopped and not self.done():
                wake_event.clear()
                await self.step(FleetUpdateSpec.model_validate(dict(live_spec)))
                if not self.done():
                    await wait_for_wake(wake_event, stopped, RECHECK_SECONDS)
        finally:
            if WAKES.get(self.name) is wake_event:
                del WAKES[self.name]
