"""Rollout metrics: rollouts by phase, rollbacks by cause, step durations, time from failure to rollback."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

ROLLBACKS = Counter("tenant_operator_rollbacks_total", "Rollouts rolled back, by cause (availability, http, "
                    "prometheus, abort, configuration).", ["cause"])
STEP_SECONDS = Histogram("tenant_operator_rollout_step_duration_seconds", "Time spent in each rollout phase or "
                         "traffic step.", ["step"], buckets=(1, 2, 5, 10, 30, 60, 120, 300, 900, 3600))
ROLLBACK_LATENCY = Histogram("tenant_operator_rollback_latency_seconds", "From the first failing check of the run "
                             "that crossed the threshold to traffic back on blue.",
                             buckets=(0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120))


def observe_step(phase: str, weight: int | None, seconds: float) -> None:
    step = f"TrafficSwitch-{weight}" if phase == "TrafficSwitch" and weight is not None else phase
    STEP_SECONDS.labels(step=step).observe(seconds)


def record_rollback(cause: str, latency: float | None) -> None:
    ROLLBACKS.labels(cause=cause).inc()
    if latency is not None:
        ROLLBACK_LATENCY.observe(max(0.0, latency))


class RolloutPhases(Collector):
    """tenant_operator_rollouts{phase}: counted from the watch stream's latest view of every rollout."""

    def __init__(self) -> None:
        self.phases: dict[str, str] = {}

    def seen(self, uid: str, phase: str | None) -> None:
        self.phases[uid] = phase or "Pending"

    def gone(self, uid: str) -> None:
        self.phases.pop(uid, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("tenant_operator_rollouts", "UpdateRollouts by phase.", labels=["phase"])
        for phase, count in sorted(Tally(self.phases.values()).items()):
            family.add_metric([phase], count)
        yield family


PHASES = RolloutPhases()
REGISTRY.register(PHASES)
