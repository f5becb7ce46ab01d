"""Rollout metrics: rollouts by phase, rollbacks by cause, step durations, time from failure to rollback."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from ..metrics import registered_tally

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


PHASES = registered_tally("tenant_operator_rollouts", "UpdateRollouts by phase.", "phase")
