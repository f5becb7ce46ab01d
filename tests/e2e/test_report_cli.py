"""`kubectl tenant report` against the real cluster: Tenants with a version inventory in their status, listed by the
plugin through kubectl's plugin discovery, as a table and as an HTML page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.plugin import ClusterHandle
from tests.e2e.helpers import apply, get_json, tenant_manifest

pytestmark = pytest.mark.e2e

# A product no other test deploys, so the filtered summary counts exactly these tenants whatever else the
# cluster holds (rollout and version tests run "web" in tenants of their own).
PRODUCT = "report-web"
TENANTS = ("report-a", "report-b", "report-c")


def item(tenant: str, product: str, version: str, compliance: str, **extra: Any) -> dict[str, Any]:
    return {"product": product, "version": version, "namespace": tenant, "deployment": product,
            "compliance": compliance, **extra}


VERSIONS = {
    "report-a": {"compliance": "Compliant", "products": [
        item("report-a", PRODUCT, "2.1.0", "Compliant", endOfLife="2099-12-31"),
        item("report-a", "report-api", "1.0.0", "Compliant")]},
    "report-b": {"compliance": "InGracePeriod", "products": [
        item("report-b", PRODUCT, "2.0.0", "InGracePeriod", graceDaysRemaining=9, graceEnds="2099-01-09",
             reason="below minimum 2.1.0", policy="report-web")]},
    "report-c": {"compliance": "NonCompliant", "products": [
        item("report-c", PRODUCT, "1.9.0", "NonCompliant", endOfLife="2024-06-30",
             reason="end of life since 2024-06-30", policy="report-web")]},
}


def run_kubectl_tenant(cluster: ClusterHandle, *args: str) -> tuple[int, str]:
    """`kubectl tenant ...` found by kubectl's plugin discovery (kubectl-tenant next to this Python)."""
    env = {**cluster.env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{cluster.env()['PATH']}"}
    result = subprocess.run([cluster.tool("kubectl"), "tenant", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=60)
    return result.returncode, result.stdout


@pytest.fixture(scope="module")
def report_tenants(crds_installed: ClusterHandle) -> Iterator[ClusterHandle]:
    """Created once: with the operator running, a deleted Tenant lingers until its finalizer is handled."""
    cluster = crds_installed
    apply(cluster, "\n---\n".join(tenant_manifest(name, f"Report {name[-1].upper()}") for name in TENANTS))
    try:
        for name, versions in VERSIONS.items():
            cluster.kubectl("patch", "tenant", name, "--subresource=status", "--type=merge",
                            "-p", json.dumps({"status": {"versions": versions}}))
            stored = ((get_json(cluster, "tenant", name) or {}).get("status") or {}).get("versions") or {}
            assert [p["version"] for p in stored.get("products", [])] == \
                [p["version"] for p in versions["products"]], stored
        yield cluster
    finally:
        cluster.kubectl("delete", "tenant", *TENANTS, "--wait=false", "--ignore-not-found")


def test_the_report_lists_the_tenants_versions_and_the_summary(report_tenants: ClusterHandle) -> None:
    code, output = run_kubectl_tenant(report_tenants, "report", "--product", PRODUCT)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split() == ["TENANT", "PRODUCT", "VERSION", "COMPLIANCE", "GRACE-DAYS", "EOL", "REASON"]
    assert [line.split(maxsplit=6) for line in lines[1:4]] == [
        ["report-a", PRODUCT, "2.1.0", "Compliant", "-", "2099-12-31", "-"],
        ["report-b", PRODUCT, "2.0.0", "InGracePeriod", "9", "-", "below minimum 2.1.0"],
        ["report-c", PRODUCT, "1.9.0", "NonCompliant", "-", "2024-06-30", "end of life since 2024-06-30"],
    ]
    assert lines[4:] == [
        "",
        "Tenants: 3  Compliant: 33.3%  In grace: 33.3%  Non-compliant: 33.3%  On EOL versions: 33.3%",
        f"Versions of {PRODUCT}: 1.9.0 (1)  2.0.0 (1)  2.1.0 (1)",
    ]


def test_without_a_filter_the_report_shows_every_product(report_tenants: ClusterHandle) -> None:
    code, output = run_kubectl_tenant(report_tenants, "report")
    assert code == 0, output
    ours = [line.split()[:4] for line in output.splitlines() if line.startswith("report-")]
    assert ours == [["report-a", "report-api", "1.0.0", "Compliant"], ["report-a", PRODUCT, "2.1.0", "Compliant"],
                    ["report-b", PRODUCT, "2.0.0", "InGracePeriod"], ["report-c", PRODUCT, "1.9.0", "NonCompliant"]]
    assert "Versions of report-api: 1.0.0 (1)" in output
    assert any(line.startswith("Tenants: ") for line in output.splitlines()), output


def test_the_report_writes_a_self_contained_page(report_tenants: ClusterHandle, tmp_path: Path) -> None:
    target = tmp_path / "compliance.html"
    code, output = run_kubectl_tenant(report_tenants, "report", "--product", PRODUCT, "--html", str(target))
    assert code == 0, output
    assert output.rstrip().splitlines()[-1] == f"HTML report written to {target}"
    page = target.read_text(encoding="utf-8")
    for version in ("1.9.0", "2.0.0", "2.1.0"):
        assert f'data-product="{PRODUCT}" data-version="{version}" data-count="1"' in page
    assert 'id="share-compliant">33.3%<' in page and 'id="share-eol">33.3%<' in page
    assert "Report A" in page and "Report C" in page and "report-api" not in page
    assert "http://" not in page and "https://" not in page
