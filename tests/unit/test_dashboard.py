"""The Grafana dashboard (charts/tenant-operator/dashboards/tenant-operator.json) and its chart ConfigMap.

Every metric a query uses must be one the operator registers: the names come from importing the operator's
metrics modules and walking prometheus_client's registry, so renaming a metric breaks this test.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts/tenant-operator"
DASHBOARD = CHART / "dashboards/tenant-operator.json"
METRICS_MODULES = ("tenant_operator.metrics", "tenant_operator.rollout.metrics", "tenant_operator.versions.metrics")
# Sample names each family type exposes beside (or instead of) its family name, when it has no samples yet.
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                   "offset", "atan2", "inf", "nan"}
LABEL_VALUES = re.compile(r"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*\w+\s*\)")
# The families the dashboard is there to show; each must be in at least one query.
SHOWN_FAMILIES = (
    "tenant_operator_reconcile_total", "tenant_operator_reconcile_duration_seconds_bucket",
    "tenant_operator_rollouts", "tenant_operator_rollbacks_total", "tenant_operator_rollback_latency_seconds_bucket",
    "tenant_operator_rollout_step_duration_seconds_bucket", "tenant_operator_tenant_products",
    "tenant_operator_tenant_products_end_of_life", "tenant_operator_database_provision_duration_seconds_bucket",
    "tenant_operator_database_failures_total",
)


def load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that shows data (rows, and panels collapsed inside rows, flattened)."""
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            found += panel.get("panels", [])
        else:
            found.append(panel)
    return found


def registered_names() -> set[str]:
    """Sample names the operator exposes, whether or not anything was observed yet."""
    for module in METRICS_MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in SAMPLE_SUFFIXES.get(family.type, ("",)))
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers outside strings, matchers, ranges and groupings that are
    neither functions nor keywords."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    stripped = re.sub(r"\{[^}]*\}", " ", stripped)
    stripped = re.sub(r"\[[^\]]*\]", " ", stripped)
    stripped = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped)
    names: set[str] = set()
    for match in re.finditer(r"(?<![\w$.])[A-Za-z_:][A-Za-z0-9_:]*", stripped):
        if stripped[match.end():].lstrip().startswith("(") or match.group().lower() in PROMQL_KEYWORDS:
            continue
        names.add(match.group())
    return names


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""
    found = [(f"panel {panel['title']!r} {target['refId']}", target["expr"])
             for panel in panels(dashboard) for target in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            found.append((f"variable ${variable['name']}", LABEL_VALUES.sub(r"\1", query)))
    return found


def test_dashboard_parses_and_is_current() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "tenant-operator" and dashboard["title"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    nested = [inner for panel in dashboard["panels"] for inner in panel.get("panels", [])]
    ids = [panel["id"] for panel in dashboard["panels"] + nested]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    assert {v["name"] for v in dashboard["templating"]["list"] if v["type"] == "datasource"} == {"datasource"}


def test_every_panel_queries_the_chosen_prometheus() -> None:
    for panel in panels(load_dashboard()):
        title = panel.get("title")
        assert panel.get("datasource") == {"type": "prometheus", "uid": "${datasource}"}, title
        assert panel.get("targets"), f"{title} has no targets"
        ref_ids = [target.get("refId") for target in panel["targets"]]
        assert all(ref_ids) and len(ref_ids) == len(set(ref_ids)), f"{title}: refIds {ref_ids}"
        for target in panel["targets"]:
            assert target.get("datasource") == panel["datasource"], f"{title} {target['refId']}"
            assert target.get("expr", "").strip(), f"{title} {target['refId']} has no expr"


def test_panels_fit_the_grid_without_overlapping() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in load_dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_every_metric_in_a_query_is_registered_by_the_operator() -> None:
    registered = registered_names()
    for where, expr in queries(load_dashboard()):
        used = metric_names(expr)
        assert used, f"{where}: no metric in {expr!r}"
        unknown = used - registered
        assert not unknown, f"{where}: {sorted(unknown)} not registered by the operator (in {expr!r})"


def test_the_dashboard_shows_every_family_it_is_for() -> None:
    used = set().union(*(metric_names(expr) for _, expr in queries(load_dashboard())))
    missing = [name for name in SHOWN_FAMILIES if name not in used]
    assert not missing, f"no panel for {missing}"


@pytest.mark.parametrize(("expr", "names"), [
    ('histogram_quantile(0.95, sum by (kind, le) (rate(a_seconds_bucket{kind=~"$kind"}[$__rate_interval])))',
     {"a_seconds_bucket"}),
    ("sum by (step) (rate(x_sum[5m])) / sum by (step) (rate(x_count[5m]))", {"x_sum", "x_count"}),
    ('max by (product) (eol{product=~"$product"}) > bool 0', {"eol"}),
])
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_chart_renders_the_dashboard_into_a_configmap_when_enabled() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["dashboard"]["enabled"] is False, "the dashboard ConfigMap is opt-in"
    template = (CHART / "templates/dashboard-configmap.yaml").read_text()
    assert template.lstrip().startswith("{{- if .Values.dashboard.enabled }}")
    assert 'grafana_dashboard: "1"' in template
    assert f'.Files.Get "{DASHBOARD.relative_to(CHART).as_posix()}"' in template
    schema = CHART / "values.schema.json"
    if schema.exists():
        assert "dashboard" in json.loads(schema.read_text())["properties"]
