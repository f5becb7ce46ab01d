"""Compliance gauges: tenants by product and compliance, and tenants on end-of-life versions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class ComplianceGauges(Collector):
    """Fed with each inventory as it is computed; read at scrape time."""

    def __init__(self) -> None:
        self.products: dict[str, list[dict[str, Any]]] = {}
        self.today: date | None = None

    def record(self, tenant: str, products: list[dict[str, Any]], today: date) -> None:
        self.products[tenant] = products
        self.today = today

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_compliance = GaugeMetricFamily("tenant_operator_tenant_products", "Tenants' products by compliance.",
                                          labels=["product", "compliance"])
        on_eol = GaugeMetricFamily("tenant_operator_tenant_products_end_of_life",
                                   "Tenants' products running an end-of-life version.", labels=["product"])
        counts = Counter((p["product"], p["compliance"]) for ps in self.products.values() for p in ps)
        for (product, compliance), count in sorted(counts.items()):
            by_compliance.add_metric([product, compliance], count)
        today = (self.today or date.min).isoformat()
        eol = Counter(p["product"] for ps in self.products.values() for p in ps
                      if p.get("endOfLife") and p["endOfLife"] <= today)
        for product, count in sorted(eol.items()):
            on_eol.add_metric([product], count)
        yield by_compliance
        yield on_eol


COMPLIANCE = ComplianceGauges()
REGISTRY.register(COMPLIANCE)
