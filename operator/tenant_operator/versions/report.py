"""The compliance report (`kubectl tenant report`): which versions tenants run and how compliant the organisation is.

Pure: takes Tenant objects as the API lists them and renders a terminal table or a self-contained HTML page.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import jinja2

from .inventory import Compliance, VersionInventory

try:
    from packaging.version import InvalidVersion, Version
except ImportError:  # packaging comes with the test tools, not with the operator's own dependencies
    Version = None  # type: ignore[assignment,misc]
    InvalidVersion = ValueError  # type: ignore[assignment,misc]

COMPLIANCE_ORDER: tuple[Compliance, ...] = ("Compliant", "InGracePeriod", "NonCompliant")  # best to worst
UNKNOWN_VERSION = "unknown"
MISSING = "-"

CHART_BAR_WIDTH = 48
CHART_BAR_GAP = 24
CHART_PLOT_HEIGHT = 160
CHART_TOP = 24  # room for the count above the tallest bar
CHART_BOTTOM = 28  # room for the version below the bars


@dataclass(frozen=True)
class ReportRow:
    """One product of one tenant; a tenant that runs nothing tracked has one row without a product."""

    tenant: str
    display_name: str
    product: str | None
    version: str | None
    compliance: Compliance
    grace_days_remaining: int | None
    end_of_life: str | None
    reason: str | None
    on_eol: bool


@dataclass(frozen=True)
class Summary:
    """Shares are percentages of the tenants in the report, rounded to one decimal."""

    tenants: int
    compliant: float
    in_grace: float
    non_compliant: float
    on_eol: float


@dataclass(frozen=True)
class Report:
    generated_at: datetime
    product: str | None
    rows: list[ReportRow]
    summary: Summary
    distribution: dict[str, dict[str, int]]  # product -> version -> number of deployments, versions ascending


@dataclass(frozen=True)
class Bar:
    version: str
    count: int
    x: float
    y: float
    height: float

    @property
    def center(self) -> float:
        return self.x + CHART_BAR_WIDTH / 2


@dataclass(frozen=True)
class Chart:
    product: str
    width: int
    height: int
    baseline: int
    bars: list[Bar]


def inventory_of(tenant: dict[str, Any]) -> VersionInventory:
    return VersionInventory.model_validate((tenant.get("status") or {}).get("versions") or {})


def is_on_eol(end_of_life: str | None, today: date) -> bool:
    if not end_of_life:
        return False
    try:
        return date.fromisoformat(end_of_life) <= today
    except ValueError:  # the CRD does not enforce the date format; an unreadable date is not evidence of EOL
        return False


def worst(compliances: Iterable[Compliance]) -> Compliance:
    return max(compliances, key=COMPLIANCE_ORDER.index, default="Compliant")


def tenant_rows(tenant: dict[str, Any], product: str | None, today: date) -> list[ReportRow]:
    """The tenant's rows: all its products, or only `product`; no rows when it does not run that product."""
    name = tenant["metadata"]["name"]
    display_name = (tenant.get("spec") or {}).get("displayName") or name
    inventory = inventory_of(tenant)
    rows = [
        ReportRow(name, display_name, item.product, item.version, item.compliance, item.graceDaysRemaining,
                  item.endOfLife, item.reason, is_on_eol(item.endOfLife, today))
        for item in inventory.products
        if product is None or item.product == product
    ]
    if product is None and not rows:
        rows = [ReportRow(name, display_name, None, None, inventory.compliance, None, None, None, False)]
    return rows


def tenant_compliance(tenant: dict[str, Any], rows: list[ReportRow], product: str | None) -> Compliance:
    """Filtered by product, the product's own compliance; otherwise the tenant's overall one (its worst product)."""
    judged = [row.compliance for row in rows]
    if product is None:
        judged.append(inventory_of(tenant).compliance)
    return worst(judged)


def share(count: int, total: int) -> float:
    return round(100 * count / total, 1) if total else 0.0


def summarize(compliances: list[Compliance], on_eol: list[bool]) -> Summary:
    total = len(compliances)
    counts = Counter(compliances)
    return Summary(
        tenants=total,
        compliant=share(counts["Compliant"], total),
        in_grace=share(counts["InGracePeriod"], total),
        non_compliant=share(counts["NonCompliant"], total),
        on_eol=share(sum(on_eol), total),
    )


def natural_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """1.10 after 1.9; numbers before words so int and str are never compared."""
    parts = re.split(r"[.\-+_]", version.lstrip("vV"))
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts)


def version_key(version: str) -> tuple[Any, ...]:
    if version == UNKNOWN_VERSION:
        return (2,)
    if Version is not None:
        try:
            return (0, Version(version), version)
        except InvalidVersion:
            pass
    return (1, natural_key(version), version)


def version_distribution(rows: list[ReportRow]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        if row.product is not None:
            counts.setdefault(row.product, Counter())[row.version or UNKNOWN_VERSION] += 1
    return {
        product: {version: versions[version] for version in sorted(versions, key=version_key)}
        for product, versions in sorted(counts.items())
    }


def build_report(tenants: list[dict[str, Any]], product: str | None = None, *, now: datetime) -> Report:
    """Tenants without status.versions run nothing tracked: Compliant, without products (left out per product)."""
    today = now.date()
    rows: list[ReportRow] = []
    compliances: list[Compliance] = []
    on_eol: list[bool] = []
    for tenant in sorted(tenants, key=lambda t: t["metadata"]["name"]):
        own = tenant_rows(tenant, product, today)
        if not own:
            continue
        rows.extend(sorted(own, key=lambda row: (row.product or "", version_key(row.version or UNKNOWN_VERSION))))
        compliances.append(tenant_compliance(tenant, own, product))
        on_eol.append(any(row.on_eol for row in own))
    return Report(now, product, rows, summarize(compliances, on_eol), version_distribution(rows))


def percent(value: float) -> str:
    return f"{value:.1f}%"


def summary_line(summary: Summary) -> str:
    return (f"Tenants: {summary.tenants}  Compliant: {percent(summary.compliant)}  "
            f"In grace: {percent(summary.in_grace)}  Non-compliant: {percent(summary.non_compliant)}  "
            f"On EOL versions: {percent(summary.on_eol)}")


def distribution_line(product: str, versions: dict[str, int]) -> str:
    return f"Versions of {product}: " + "  ".join(f"{version} ({count})" for version, count in versions.items())


def table_cells(row: ReportRow) -> tuple[str, ...]:
    grace = MISSING if row.grace_days_remaining is None else str(row.grace_days_remaining)
    return (row.tenant, row.product or MISSING, row.version or MISSING, row.compliance, grace,
            row.end_of_life or MISSING, row.reason or MISSING)


def render_table(report: Report) -> str:
    """Columns aligned like kubectl's; the last one (REASON) is not padded."""
    lines = [("TENANT", "PRODUCT", "VERSION", "COMPLIANCE", "GRACE-DAYS", "EOL", "REASON")]
    lines.extend(table_cells(row) for row in report.rows)
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    table = ["   ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "   " + line[-1] for line in lines]
    summary = [summary_line(report.summary)]
    summary.extend(distribution_line(product, versions) for product, versions in report.distribution.items())
    return "\n".join([*table, "", *summary])


def chart_for(product: str, versions: dict[str, int]) -> Chart:
    """Bar geometry for the SVG: heights proportional to the count, the tallest bar filling the plot."""
    tallest = max(versions.values(), default=1)
    baseline = CHART_TOP + CHART_PLOT_HEIGHT
    bars = []
    for index, (version, count) in enumerate(versions.items()):
        height = round(CHART_PLOT_HEIGHT * count / tallest, 1)
        bars.append(Bar(version, count, CHART_BAR_GAP + index * (CHART_BAR_WIDTH + CHART_BAR_GAP),
                        round(baseline - height, 1), height))
    width = CHART_BAR_GAP + len(bars) * (CHART_BAR_WIDTH + CHART_BAR_GAP)
    return Chart(product, width, baseline + CHART_BOTTOM, baseline, bars)


_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("tenant_operator.versions", "templates"),
    autoescape=True,  # displayName, reasons and versions come from users
    undefined=jinja2.StrictUndefined,
)
_templates.filters["percent"] = percent


def render_html(report: Report) -> str:
    charts = [chart_for(product, versions) for product, versions in report.distribution.items()]
    return _templates.get_template("report.html.j2").render(
        report=report, summary=report.summary, charts=charts, bar_width=CHART_BAR_WIDTH, missing=MISSING,
        generated=report.generated_at.strftime("%Y-%m-%d %H:%M %Z").rstrip(),
    )
