"""kopf's toggle sets with a shared waiter: same answers, one wake-up per change instead of one per waiter."""

from __future__ import annotations

import asyncio

from kopf._cogs.aiokits.aiotoggles import ToggleSet

from tenant_operator import runtime  # noqa: F401  (installs the shared waiter)
from tenant_operator.readiness import _shared_wait_for


def test_kopf_waits_through_the_shared_waiter() -> None:
    assert ToggleSet.wait_for is _shared_wait_for


def test_many_waiters_return_once_every_toggle_is_dropped_and_not_before() -> None:
    async def scenario() -> list[bool]:
        indexed = ToggleSet(all)
        toggles = [await indexed.make_toggle(name=str(index)) for index in range(200)]
        waiters = [asyncio.ensure_future(indexed.wait_for(True)) for _ in range(500)]
        await asyncio.sleep(0)
        for toggle in toggles[:-1]:
            await indexed.drop_toggle(toggle)
        await asyncio.sleep(0.01)
        early = [waiter.done() for waiter in waiters]
        await indexed.drop_toggle(toggles[-1])
        await asyncio.wait_for(asyncio.gather(*waiters), timeout=5)
        return early

    assert not any(asyncio.run(scenario()))


def test_a_cancelled_waiter_does_not_cancel_the_others() -> None:
    async def scenario() -> bool:
        paused = ToggleSet(any)
        toggle = await paused.make_toggle(True)
        first = asyncio.ensure_future(paused.wait_for(False))
        second = asyncio.ensure_future(paused.wait_for(False))
        await asyncio.sleep(0)
        first.cancel()
        await toggle.turn_to(False)
        await asyncio.wait_for(second, timeout=5)
        return first.cancelled()

    assert asyncio.run(scenario())


def test_a_set_already_in_the_state_returns_at_once_and_can_flip_back() -> None:
    async def scenario() -> None:
        paused = ToggleSet(any)
        await paused.wait_for(False)  # no toggles: off
        toggle = await paused.make_toggle(True)
        await paused.wait_for(True)
        await toggle.turn_to(False)
        await asyncio.wait_for(paused.wait_for(False), timeout=5)
        await toggle.turn_to(True)
        await asyncio.wait_for(paused.wait_for(True), timeout=5)

    asyncio.run(scenario())
