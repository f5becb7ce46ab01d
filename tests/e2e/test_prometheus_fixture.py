"""The prometheus fixture: a value the test sets on the exporter is what a real Prometheus query returns."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.helpers import eventually
from tests.e2e.prometheus import Exporter, PrometheusServer

pytestmark = pytest.mark.e2e

ERROR_RATIO = 'shop_error_ratio{product="web"}'


def scraped(prometheus: PrometheusServer, expr: str, expected: float) -> Callable[[], bool]:
    def probe() -> bool:
        values = [float(sample["value"][1]) for sample in prometheus.query(expr)]
        assert values == [expected], f"{expr} = {values}"
        return True

    return probe


def test_prometheus_returns_the_value_the_exporter_serves(exporter: Exporter, prometheus: PrometheusServer) -> None:
    exporter.set("shop_error_ratio", 0.2, labels={"product": "web"})
    eventually(scraped(prometheus, ERROR_RATIO, 0.2), timeout=15, what=f"{ERROR_RATIO} == 0.2")

    exporter.set("shop_error_ratio", 0.01, labels={"product": "web"})
    eventually(scraped(prometheus, ERROR_RATIO, 0.01), timeout=15, what=f"{ERROR_RATIO} == 0.01")
