"""Health checks of a rollout: green's availability, HTTP endpoints and Prometheus queries.

Each check yields a Measurement; the driver counts consecutive failures against the check's threshold.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from .model import HttpCheck, PrometheusCheck, ThresholdRange


@dataclass(frozen=True)
class Measurement:
    passed: bool
    value: str


def within(value: float, allowed: ThresholdRange) -> bool:
    if math.isnan(value):
        return False
    if allowed.min is not None and value < allowed.min:
        return False
    return allowed.max is None or value <= allowed.max


def describe_range(allowed: ThresholdRange) -> str:
    if allowed.min is not None and allowed.max is not None:
        return f"in [{allowed.min:g}, {allowed.max:g}]"
    return f">= {allowed.min:g}" if allowed.min is not None else f"<= {allowed.max:g}"


def first_value(answer: dict[str, Any]) -> float | None:
    """The first sample of a Prometheus /api/v1/query answer (scalar or instant vector); None when empty."""
    data = answer.get("data") or {}
    result = data.get("result")
    if data.get("resultType") == "scalar" and result:
        return float(result[1])
    if data.get("resultType") == "vector" and result:
        return float(result[0]["value"][1])
    return None


async def http_measurement(session: aiohttp.ClientSession, check: HttpCheck) -> Measurement:
    started = time.perf_counter()
    try:
        async with session.get(check.url, timeout=aiohttp.ClientTimeout(total=check.timeoutSeconds),
                               allow_redirects=False) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        return Measurement(False, f"request failed: {type(error).__name__}")
    latency_ms = (time.perf_counter() - started) * 1000
    value = f"HTTP {status} in {latency_ms:.0f} ms"
    if not 200 <= status < 300:
        return Measurement(False, value)
    if latency_ms > check.maxLatencyMs:
        return Measurement(False, f"{value} (slower than {check.maxLatencyMs} ms)")
    return Measurement(True, value)


async def prometheus_measurement(session: aiohttp.ClientSession, check: PrometheusCheck,
                                 default_address: str) -> Measurement:
    address = (check.address or default_address).rstrip("/")
    if not address:
        return Measurement(False, "no Prometheus address (set address or the operator's --prometheus-url)")
    try:
        async with session.get(f"{address}/api/v1/query", params={"query": check.query},
                               timeout=aiohttp.ClientTimeout(total=check.timeoutSeconds)) as response:
            answer = await response.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        return Measurement(False, f"query failed: {type(error).__name__}")
    if answer.get("status") != "success":
        return Measurement(False, f"query error: {answer.get('error', 'unknown')}"[:200])
    value = first_value(answer)
    if value is None:
        return Measurement(False, "no data")
    passed = within(value, check.thresholdRange)
    return Measurement(passed, f"{value:g} ({'' if passed else 'not '}{describe_range(check.thresholdRange)})")
