"""Prometheus metrics served by the operator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

RECONCILE_TOTAL = Counter(
    "tenant_operator_reconcile_total", "Reconciles handled, by kind and result.", ["kind", "result"]
)
RECONCILE_SECONDS = Histogram(
    "tenant_operator_reconcile_duration_seconds", "Time spent in one reconcile, by kind.", ["kind"]
)


@contextmanager
def track_reconcile(kind: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        RECONCILE_TOTAL.labels(kind=kind, result="error").inc()
        raise
    else:
        RECONCILE_TOTAL.labels(kind=kind, result="success").inc()
    finally:
        RECONCILE_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)

DATABASE_PROVISION_SECONDS = Histogram(
    "tenant_operator_database_provision_duration_seconds",
    "Time to provision (or re-check) a tenant database.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
DATABASE_FAILURES = Counter(
    "tenant_operator_database_failures_total", "Database provisioning failures, by reason.", ["reason"]
)
