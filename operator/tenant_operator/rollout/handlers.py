"""kopf handlers for UpdateRollout: one daemon per unfinished rollout, an index for queues, a phase tally."""

from __future__ import annotations

from typing import Any

import kopf

from ..api import GROUP, VERSION
from . import gates, metrics
from .driver import RolloutDriver
from .model import FINISHED_PHASES, UpdateRolloutSpec


def unfinished(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in FINISHED_PHASES


@kopf.index(GROUP, VERSION, "updaterollouts")
async def rollouts_by_namespace(
    namespace: str, name: str, spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, **_: Any
) -> dict[str, gates.IndexedRollout]:
    return {namespace: gates.index_entry(namespace, name, spec, status, meta)}


@kopf.on.event(GROUP, VERSION, "updaterollouts")
async def tally_phase(type: str, uid: str, status: kopf.Status, **_: Any) -> None:
    if type == "DELETED":
        metrics.PHASES.gone(uid)
    else:
        metrics.PHASES.seen(uid, status.get("phase") or "Pending")


# The daemon ends itself once the phase is finished; the backoff lets it finish its last writes before kopf
# (which stops daemons whose filter no longer matches) would cancel it.
@kopf.daemon(GROUP, VERSION, "updaterollouts", when=unfinished, cancellation_backoff=10, cancellation_timeout=10)
async def drive_rollout(
    name: str, namespace: str, uid: str, spec: kopf.Spec, status: kopf.Status, body: kopf.Body,
    stopped: kopf.DaemonStopped, rollouts_by_namespace: kopf.Index, **_: Any,
) -> None:
    driver = RolloutDriver(name, namespace, uid, UpdateRolloutSpec.model_validate(dict(spec)), dict(status), body,
                           rollouts_by_namespace)
    await driver.run(stopped, spec)
