from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tenant_operator import kubectl_tenant
from tenant_operator.versions import report as report_module
from tenant_operator.versions.report import build_report, render_html, render_table, version_key

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def product(name: str, version: str | None, compliance: str = "Compliant", **extra: Any) -> dict[str, Any]:
    return {"product": name, "version": version, "namespace": "ns", "deployment": name, "compliance": compliance,
            **extra}


def tenant(name: str, *products: dict[str, Any], display_name: str | None = None,
           compliance: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "tenancy.io/v1alpha1", "kind": "Tenant", "metadata": {"name": name},
                           "spec": {"displayName": display_name or name.title()}, "status": {"phase": "Ready"}}
    if products or compliance:
        obj["status"]["versions"] = {"compliance": compliance or "Compliant", "products": list(products)}
    return obj


TENANTS = [
    tenant("foxtrot", product("web", "1.2.0")),
    tenant("alpha", product("web", "1.2.0"), product("api", "2.0.0")),
    tenant("bravo", product("web", "1.1.0", "InGracePeriod", graceDaysRemaining=12, endOfLife="2026-12-31",
                            reason="below minimum 1.2.0"), compliance="InGracePeriod"),
    tenant("charlie", product("web", "1.0.0", "NonCompliant", endOfLife="2026-10-01", reason="end of life"),
           compliance="NonCompliant"),
    tenant("delta"),  # no status.versions: runs nothing tracked
    # End of life today already counts, even while the policy still calls it compliant.
    tenant("echo", product("web", "1.10.0", endOfLife="2026-11-23")),
]


def test_the_summary_shares_are_of_all_tenants() -> None:
    summary = build_report(TENANTS, now=NOW).summary
    assert summary.tenants == 6
    assert (summary.compliant, summary.in_grace, summary.non_compliant, summary.on_eol) == (66.7, 16.7, 16.7, 33.3)


def test_no_tenants_means_zero_shares() -> None:
    summary = build_report([], now=NOW).summary
    assert (summary.tenants, summary.compliant, summary.on_eol) == (0, 0.0, 0.0)


def test_the_distribution_counts_versions_per_product_in_version_order() -> None:
    distribution = build_report(TENANTS, now=NOW).distribution
    assert distribution == {"api": {"2.0.0": 1}, "web": {"1.0.0": 1, "1.1.0": 1, "1.2.0": 2, "1.10.0": 1}}
    assert list(distribution["web"]) == ["1.0.0", "1.1.0", "1.2.0", "1.10.0"]


def test_versions_sort_numerically_with_odd_ones_last() -> None:
    versions = ["unknown", "latest", "1.10.0", "v1.9.0", "1.2.0-rc1", "1.2.0"]
    assert sorted(versions, key=version_key) == ["1.2.0-rc1", "1.2.0", "v1.9.0", "1.10.0", "latest", "unknown"]


def test_versions_sort_numerically_without_packaging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "Version", None)
    assert sorted(["1.10.0", "1.9.2", "1.9.10", "2.0"], key=version_key) == ["1.9.2", "1.9.10", "1.10.0", "2.0"]


def test_a_deployment_without_a_version_counts_as_unknown() -> None:
    report = build_report([tenant("a", product("web", None)), tenant("b", product("web", "1.0.0"))], now=NOW)
    assert report.distribution == {"web": {"1.0.0": 1, "unknown": 1}}


def test_rows_are_per_tenant_and_product() -> None:
    rows = build_report(TENANTS, now=NOW).rows
    assert [(row.tenant, row.product) for row in rows] == [
        ("alpha", "api"), ("alpha", "web"), ("bravo", "web"), ("charlie", "web"), ("delta", None), ("echo", "web"),
        ("foxtrot", "web")]
    bravo = rows[2]
    assert (bravo.display_name, bravo.version, bravo.compliance, bravo.grace_days_remaining, bravo.end_of_life,
            bravo.reason, bravo.on_eol) == ("Bravo", "1.1.0", "InGracePeriod", 12, "2026-12-31",
                                            "below minimum 1.2.0", False)
    assert rows[3].on_eol and rows[5].on_eol
    assert rows[4].compliance == "Compliant" and rows[4].version is None


def test_the_product_filter_keeps_only_tenants_running_it() -> None:
    web = build_report(TENANTS, "web", now=NOW)
    assert {row.tenant for row in web.rows} == {"alpha", "bravo", "charlie", "echo", "foxtrot"}
    assert {row.product for row in web.rows} == {"web"}
    assert (web.summary.tenants, web.summary.compliant, web.summary.in_grace, web.summary.non_compliant,
            web.summary.on_eol) == (5, 60.0, 20.0, 20.0, 40.0)
    assert list(web.distribution) == ["web"]
    api = build_report(TENANTS, "api", now=NOW)
    assert [row.tenant for row in api.rows] == ["alpha"] and api.summary.compliant == 100.0
    assert build_report(TENANTS, "db", now=NOW).summary.tenants == 0


def test_filtered_by_product_a_tenant_is_judged_by_that_product_only() -> None:
    mixed = tenant("mixed", product("web", "1.0.0"), product("api", "0.9.0", "NonCompliant"),
                   compliance="NonCompliant")
    assert build_report([mixed], now=NOW).summary.non_compliant == 100.0
    assert build_report([mixed], "web", now=NOW).summary.compliant == 100.0


def test_the_table_is_aligned_with_the_summary_below() -> None:
    lines = render_table(build_report(TENANTS, now=NOW)).splitlines()
    assert lines[0].split() == ["TENANT", "PRODUCT", "VERSION", "COMPLIANCE", "GRACE-DAYS", "EOL", "REASON"]
    bravo = lines[3]
    assert bravo.split(maxsplit=6) == ["bravo", "web", "1.1.0", "InGracePeriod", "12", "2026-12-31",
                                       "below minimum 1.2.0"]
    for column, value in (("VERSION", "1.1.0"), ("GRACE-DAYS", "12"), ("EOL", "2026-12-31"),
                          ("REASON", "below minimum")):
        assert lines[0].index(column) == bravo.index(value), column
    assert lines[5].split() == ["delta", "-", "-", "Compliant", "-", "-", "-"]
    assert lines[8] == ""
    assert lines[9] == "Tenants: 6  Compliant: 66.7%  In grace: 16.7%  Non-compliant: 16.7%  On EOL versions: 33.3%"
    assert lines[10:] == ["Versions of api: 2.0.0 (1)", "Versions of web: 1.0.0 (1)  1.1.0 (1)  1.2.0 (2)  1.10.0 (1)"]


class PageParser(HTMLParser):
    """Collects the chart's bars and the text of elements with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.bars: list[dict[str, str | None]] = []
        self.by_id: dict[str, str] = {}
        self._open_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "bar" in (attributes.get("class") or "").split():
            self.bars.append(attributes)
        self._open_id = attributes.get("id")

    def handle_endtag(self, tag: str) -> None:
        self._open_id = None

    def handle_data(self, data: str) -> None:
        if self._open_id:
            self.by_id[self._open_id] = self.by_id.get(self._open_id, "") + data


def parse_page(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    return parser


def test_the_page_has_the_summary_figures_and_a_bar_per_version() -> None:
    page = parse_page(render_html(build_report(TENANTS, now=NOW)))
    assert {key: page.by_id[key] for key in ("share-compliant", "share-grace", "share-noncompliant", "share-eol")} \
        == {"share-compliant": "66.7%", "share-grace": "16.7%", "share-noncompliant": "16.7%", "share-eol": "33.3%"}
    bars = [(bar["data-product"], bar["data-version"], bar["data-count"]) for bar in page.bars]
    assert bars == [("api", "2.0.0", "1"), ("web", "1.0.0", "1"), ("web", "1.1.0", "1"), ("web", "1.2.0", "2"),
                    ("web", "1.10.0", "1")]


def test_bar_heights_are_proportional_to_the_count() -> None:
    page = parse_page(render_html(build_report(TENANTS, "web", now=NOW)))
    heights = {bar["data-version"]: float(bar["height"] or 0) for bar in page.bars}
    assert heights["1.2.0"] == 2 * heights["1.0.0"] > 0
    tops = {bar["data-version"]: float(bar["y"] or 0) + float(bar["height"] or 0) for bar in page.bars}
    assert len(set(tops.values())) == 1  # all bars stand on the same baseline


def test_the_page_is_self_contained() -> None:
    page = render_html(build_report(TENANTS, now=NOW))
    assert "http://" not in page and "https://" not in page and "<script" not in page.lower()
    assert "<link" not in page and "src=" not in page
    assert "default-src 'none'" in page  # the browser refuses anything external, should it ever slip in


def test_user_text_is_escaped_in_the_page() -> None:
    hostile = tenant("evil", product("web\"><b>", "1.0.0<i>", reason="<img src=x onerror=alert(1)>"),
                     display_name="<script>alert('owned')</script>")
    page = render_html(build_report([hostile], now=NOW))
    assert "<script>" not in page and "<img" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page
    assert 'data-product="web&#34;&gt;&lt;b&gt;"' in page
    bar = parse_page(page).bars[0]
    assert (bar["data-product"], bar["data-version"]) == ('web"><b>', "1.0.0<i>")


def test_the_report_command_parses() -> None:
    args = kubectl_tenant.parse_args(["report", "--product", "web", "--html", "out.html"])
    assert (args.command, args.product, args.html) == ("report", "web", "out.html")
    assert kubectl_tenant.parse_args(["rollout", "history"]).command == "history"


async def test_the_report_command_prints_the_table_and_writes_the_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def list_objects(api_version: str, kind: str, **_: Any) -> list[dict[str, Any]]:
        assert (api_version, kind) == ("tenancy.io/v1alpha1", "Tenant")
        return TENANTS

    monkeypatch.setattr(kubectl_tenant.kube, "list_objects", list_objects)
    target = tmp_path / "report.html"
    args = kubectl_tenant.parse_args(["report", "--product", "web", "--html", str(target)])
    assert await kubectl_tenant.run(args) == kubectl_tenant.EXIT_OK
    output = capsys.readouterr().out
    assert output.splitlines()[0].split()[0] == "TENANT"
    assert "Tenants: 5  Compliant: 60.0%" in output
    assert output.rstrip().endswith(f"HTML report written to {target}")
    assert 'id="share-eol">40.0%<' in target.read_text(encoding="utf-8")
