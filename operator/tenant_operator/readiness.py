"""A fast start with thousands of objects: one waiter per kopf toggle set instead of one per object.

Until every index is filled, kopf holds each object's worker in `ToggleSet.wait_for(True)` on one shared
condition, and every object indexed (a toggle added or dropped) wakes all of those waiters. With a thousand
tenants and their namespaces and ConfigMaps that is quadratic: the fleet benchmark's restart profile showed 13 s of
wake-ups before the first handler ran. Here the waiters share one task that waits on the condition, so each
notification wakes one waiter. Same semantics: a caller returns once the set is in the state it asked for.
tests/unit/test_readiness.py fails when a kopf upgrade changes what this relies on.
"""

from __future__ import annotations

import asyncio

from kopf._cogs.aiokits.aiotoggles import ToggleSet

_original_wait_for = ToggleSet.wait_for


async def _shared_wait_for(self: ToggleSet, state: bool) -> None:
    if self.is_on() == bool(state):
        return
    gates: dict[bool, asyncio.Future[None]] = self.__dict__.setdefault("_shared_gates", {})
    gate = gates.get(bool(state))
    if gate is None or gate.done():
        gate = gates[bool(state)] = asyncio.ensure_future(_original_wait_for(self, bool(state)))
    await asyncio.shield(gate)  # a cancelled caller leaves the shared wait to the others


def install() -> None:
    ToggleSet.wait_for = _shared_wait_for  # type: ignore[method-assign]
