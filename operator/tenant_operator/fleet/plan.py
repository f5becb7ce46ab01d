"""Pure planning for FleetUpdate: targets, waves, what to start next, and when to stop. No I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..api import workload_version
from ..rollout.model import FINISHED_PHASES as ROLLOUT_FINISHED_PHASES
from ..rollout.render import live_deployment
from .model import TARGET_FAILED, TARGET_SUCCEEDED, FleetUpdateSpec, TargetStatus, Totals, Wave, WaveProgress

DELETED_MESSAGE = "its UpdateRollout was deleted before it finished"


@dataclass(frozen=True)
class Endpoint:
    """A tenant namespace running the product, and the version its live Deployment runs."""

    tenant: str
    namespace: str
    version: str | None


def deployment_version(deployment: Mapping[str, Any]) -> str | None:
    return workload_version(deployment["metadata"].get("labels"), deployment.get("spec") or {})


def endpoints(deployments: Iterable[Mapping[str, Any]], tenant_of: Mapping[str, str]) -> list[Endpoint]:
    """One endpoint per tenant namespace with a live Deployment of the product (namespaces of no tenant are not
    part of the fleet)."""
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for deployment in deployments:
        by_namespace.setdefault(deployment["metadata"]["namespace"], []).append(dict(deployment))
    found = []
    for namespace, candidates in sorted(by_namespace.items()):
        live = live_deployment(candidates)
        if live is not None and namespace in tenant_of:
            found.append(Endpoint(tenant_of[namespace], namespace, deployment_version(live)))
    return found


def select_targets(found: Iterable[Endpoint], tenants: Sequence[str], version: str) -> tuple[list[Endpoint], int]:
    """The endpoints to update (of the named tenants, or all when none are named), and how many already run the
    version."""
    chosen = [endpoint for endpoint in found if not tenants or endpoint.tenant in tenants]
    targets = [endpoint for endpoint in chosen if endpoint.version != version]
    return targets, len(chosen) - len(targets)


def priority_order(targets: Iterable[Endpoint], priorities: Mapping[str, int]) -> list[Endpoint]:
    return sorted(targets, key=lambda e: (-priorities.get(e.tenant, 0), e.tenant, e.namespace))


def rollout_name(fleet: str, tenant: str) -> str:
    return f"{fleet}-{tenant}"[:63].rstrip("-")


def take_wave(wave: Wave, left: list[Endpoint], is_last: bool) -> list[Endpoint]:
    if is_last:
        return list(left)
    if wave.tenants:
        return [endpoint for endpoint in left if endpoint.tenant in wave.tenants]
    return left[:math.ceil(len(left) * (wave.percent or 0) / 100)]


def assign_waves(fleet: str, targets: Iterable[Endpoint], waves: Sequence[Wave],
                 priorities: Mapping[str, int]) -> list[TargetStatus]:
    """Every target in exactly one wave, listed in start order: wave by wave, by priority within a wave."""
    left = priority_order(targets, priorities)
    assigned: list[TargetStatus] = []
    for position, wave in enumerate(waves):
        taken = take_wave(wave, left, is_last=position == len(waves) - 1)
        left = [endpoint for endpoint in left if endpoint not in taken]
        assigned += [TargetStatus(tenant=e.tenant, namespace=e.namespace, wave=wave.name, fromVersion=e.version,
                                  rollout=rollout_name(fleet, e.tenant)) for e in taken]
    return assigned


def plan_targets(fleet: str, spec: FleetUpdateSpec, found: Iterable[Endpoint]) -> tuple[list[TargetStatus], int]:
    """The fleet's targets in start order, and how many endpoints already run the version."""
    targets, up_to_date = select_targets(found, spec.tenants, spec.version)
    return assign_waves(fleet, targets, spec.waves, spec.priorities), up_to_date


# --- progress -------------------------------------------------------------------------------------------------
def is_finished(target: TargetStatus) -> bool:
    return target.phase in ROLLOUT_FINISHED_PHASES


def is_running(target: TargetStatus) -> bool:
    return target.phase != "Waiting" and not is_finished(target)


def observe(targets: Iterable[TargetStatus], phases: Mapping[tuple[str, str], str | None]) -> list[TargetStatus]:
    """Targets with the phases of their UpdateRollouts, keyed by (namespace, name); a rollout that disappeared
    before it finished counts as failed."""
    observed = []
    for target in targets:
        key = (target.namespace, target.rollout)
        if key in phases:
            observed.append(target.model_copy(update={"phase": phases[key] or "Pending", "message": None}))
        elif is_running(target):
            observed.append(target.model_copy(update={"phase": "Failed", "message": DELETED_MESSAGE}))
        else:
            observed.append(target)
    return observed


def count(targets: Iterable[TargetStatus]) -> Totals:
    listed = list(targets)
    return Totals(
        targets=len(listed),
        completed=sum(t.phase in TARGET_SUCCEEDED for t in listed),
        failed=sum(t.phase in TARGET_FAILED for t in listed),
        running=sum(is_running(t) for t in listed),
        waiting=sum(t.phase == "Waiting" for t in listed),
    )


def wave_progress(targets: Sequence[TargetStatus], waves: Sequence[str]) -> list[WaveProgress]:
    progress = []
    for wave in waves:
        totals = count(t for t in targets if t.wave == wave)
        progress.append(WaveProgress(name=wave, targets=totals.targets, completed=totals.completed,
                                     failed=totals.failed, running=totals.running, waiting=totals.waiting))
    return progress


def wave_done(wave: WaveProgress) -> bool:
    return wave.completed + wave.failed == wave.targets


def failure_rate(wave: WaveProgress) -> float:
    """Percent of the wave's targets whose rollouts rolled back or failed."""
    return 100.0 * wave.failed / wave.targets if wave.targets else 0.0


def over_threshold(wave: WaveProgress, threshold: int) -> bool:
    return failure_rate(wave) > threshold


def summary(totals: Totals) -> str:
    return f"{totals.completed}/{totals.targets} completed, {totals.failed} failed, {totals.running} running"


# --- decisions ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    phase: str  # Progressing, Completed or Stopped
    reason: str
    message: str
    wave: str | None = None
    start: list[TargetStatus] = field(default_factory=list)


def next_to_start(targets: Sequence[TargetStatus], wave: str, max_concurrent: int) -> list[TargetStatus]:
    """The wave's waiting targets, in order, that fit under the fleet-wide limit of unfinished rollouts."""
    free = max_concurrent - sum(is_running(t) for t in targets)
    waiting = [t for t in targets if t.wave == wave and t.phase == "Waiting"]
    return waiting[:max(free, 0)]


def stop_message(wave: WaveProgress, threshold: int) -> str:
    return (f"stopped: wave {wave.name}: {wave.failed} of {wave.targets} rollouts failed "
            f"({failure_rate(wave):.0f}%, more than the {threshold}% allowed); no further rollouts start")


def completion_message(totals: Totals, version: str) -> str:
    if not totals.targets:
        return f"nothing to update to {version}"
    failed = f"; {totals.failed} rolled back or failed" if totals.failed else ""
    return f"{totals.completed} of {totals.targets} updated to {version}{failed}"


def decide(targets: Sequence[TargetStatus], waves: Sequence[str], spec: FleetUpdateSpec) -> Decision:
    """Stop when a wave crossed the failure threshold; else the first unfinished wave goes on (a wave starts only
    once the ones before it finished); with none left, the update is complete."""
    progress = wave_progress(targets, waves)
    failing = next((wave for wave in progress if over_threshold(wave, spec.failureThreshold)), None)
    if failing is not None:
        return Decision("Stopped", "FailureThreshold", stop_message(failing, spec.failureThreshold), failing.name)
    current = next((wave for wave in progress if not wave_done(wave)), None)
    if current is None:
        return Decision("Completed", "Completed", completion_message(count(targets), spec.version))
    if spec.paused:
        return Decision("Progressing", "Paused", f"paused in wave {current.name}: running rollouts finish, none "
                        "start", current.name)
    start = next_to_start(targets, current.name, spec.maxConcurrent)
    return Decision("Progressing", "WaveInProgress", f"wave {current.name}", current.name, start)


def started(targets: Sequence[TargetStatus], created: Mapping[tuple[str, str], TargetStatus]) -> list[TargetStatus]:
    """Targets with the outcome of their rollouts' creation, keyed by (namespace, rollout)."""
    return [created.get((t.namespace, t.rollout), t) for t in targets]
