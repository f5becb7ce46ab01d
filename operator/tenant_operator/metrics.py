"""Prometheus metrics served by the operator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from collections import Counter as Tally

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

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


class ObjectTally(Collector):
    """A gauge of objects by some of their fields (e.g. phase), counted from the watch stream's latest view of
    each object: no list, no timer."""

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...]) -> None:
        self.name, self.documentation, self.labels = name, documentation, labels
        self.objects: dict[str, tuple[str, ...]] = {}

    def seen(self, uid: str, *values: str | None) -> None:
        self.objects[uid] = tuple(value or "" for value in values)

    def gone(self, uid: str) -> None:
        self.objects.pop(uid, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=list(self.labels))
        for values, count in sorted(Tally(self.objects.values()).items()):
            family.add_metric(list(values), count)
        yield family


def registered_tally(name: str, documentation: str, *labels: str) -> ObjectTally:
    tally = ObjectTally(name, documentation, labels)
    REGISTRY.register(tally)
    return tally


TENANTS = registered_tally("tenant_operator_tenants", "Tenants by phase and plan.", "phase", "plan")
