"""Whether a Pending rollout may start: its product's queue, the tenant's concurrency limit, windows, blackouts.

The operator's index of rollouts by namespace answers the queue questions without listing anything; slots claimed
in this process cover the moment before the index has seen a rollout leave Pending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from .. import kube
from ..api import API_VERSION, LABEL_TENANT
from ..schedule import Gate, UpdatePreferences, start_gate
from .model import FINISHED_PHASES, STARTED_PHASES


class IndexedRollout(NamedTuple):
    """What the operator's index keeps of each UpdateRollout: enough for queues and for the version inventory."""

    namespace: str
    name: str
    product: str
    created: str
    phase: str
    version: str = ""
    from_version: str | None = None
    finished_at: str | None = None


def index_entry(namespace: str, name: str, spec: Mapping[str, Any], status: Mapping[str, Any],
                meta: Mapping[str, Any]) -> IndexedRollout:
    return IndexedRollout(namespace, name, str(spec.get("product", "")), str(meta.get("creationTimestamp", "")),
                          str(status.get("phase") or "Pending"), str(spec.get("version", "")),
                          status.get("blueVersion"), status.get("finishedAt"))


@dataclass(frozen=True)
class TenantScope:
    """The tenant a rollout belongs to: its name, namespaces and update preferences."""

    name: str
    namespaces: tuple[str, ...]
    preferences: UpdatePreferences


async def tenant_scope(namespace: str) -> TenantScope:
    """From the namespace's tenant label; a namespace outside any tenant is a scope of its own with defaults."""
    ns = await kube.get("v1", "Namespace", namespace)
    tenant_name = ((ns or {}).get("metadata", {}).get("labels") or {}).get(LABEL_TENANT)
    tenant = await kube.get(API_VERSION, "Tenant", tenant_name) if tenant_name else None
    if tenant is None:
        return TenantScope(namespace, (namespace,), UpdatePreferences())
    namespaces = tuple((tenant.get("status") or {}).get("namespaces") or [namespace])
    preferences = UpdatePreferences.model_validate(tenant.get("spec", {}).get("updates") or {})
    return TenantScope(tenant["metadata"]["name"], namespaces, preferences)


def rollouts_of(scope: TenantScope, index: Mapping[str, Iterable[IndexedRollout]]) -> list[IndexedRollout]:
    return [entry for namespace in scope.namespaces for entry in index.get(namespace, [])]


class Slots:
    """Rollouts this process has let start, per tenant, until the index shows them."""

    def __init__(self) -> None:
        self.claimed: dict[str, set[tuple[str, str]]] = {}
        self.lock = asyncio.Lock()

    def release(self, tenant: str, key: tuple[str, str]) -> None:
        self.claimed.get(tenant, set()).discard(key)


SLOTS = Slots()


def queue_gate(me: IndexedRollout, scope: TenantScope, entries: list[IndexedRollout]) -> Gate:
    """One rollout at a time per product and tenant (oldest first), and at most maxConcurrentRollouts running."""
    order = (me.created, me.namespace, me.name)
    ahead = sorted(
        (entry for entry in entries
         if entry.product == me.product and entry.phase not in FINISHED_PHASES
         and (entry.created, entry.namespace, entry.name) < order),
        key=lambda entry: (entry.created, entry.namespace, entry.name),
    )
    if ahead:
        return Gate(False, "Queued", f"queued behind {ahead[0].namespace}/{ahead[0].name} for product {me.product}")
    running = {(entry.namespace, entry.name) for entry in entries if entry.phase in STARTED_PHASES}
    running |= SLOTS.claimed.get(scope.name, set())
    running.discard((me.namespace, me.name))
    limit = scope.preferences.maxConcurrentRollouts
    if len(running) >= limit:
        names = ", ".join(f"{namespace}/{name}" for namespace, name in sorted(running))
        return Gate(False, "Queued", f"{len(running)} of the tenant's rollouts are running (limit {limit}): {names}")
    return Gate(True)


async def try_start(me: IndexedRollout, scope: TenantScope, entries: list[IndexedRollout], now: datetime) -> Gate:
    """The first closed gate, or an open one with a slot claimed for this rollout."""
    calendar = start_gate(now, scope.preferences)
    if not calendar.open:
        return calendar
    async with SLOTS.lock:
        queue = queue_gate(me, scope, entries)
        if queue.open:
            SLOTS.claimed.setdefault(scope.name, set()).add((me.namespace, me.name))
        return queue
