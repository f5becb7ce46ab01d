"""The Helm chart, checked with the real helm CLI and installed on the real apiserver."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tenant_operator.crdgen import POLICIES_FILE
from tenant_operator.policies import PREVENT_DELETION
from tests.cluster.plugin import ClusterHandle

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "tenant-operator"
RELEASE_NAMESPACE = "tenant-operator-system"


def helm(cluster: ClusterHandle, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([cluster.tool("helm"), *args], env=cluster.env(), capture_output=True, text=True)
    assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_chart_lints(cluster: ClusterHandle) -> None:
    helm(cluster, "lint", str(CHART), "--strict")


def test_chart_renders_objects_the_apiserver_accepts(crds_installed: ClusterHandle) -> None:
    rendered = helm(crds_installed, "template", "tenant-operator", str(CHART), "-n", RELEASE_NAMESPACE).stdout
    crds_installed.kubectl("create", "namespace", RELEASE_NAMESPACE, check=False)
    crds_installed.kubectl("apply", "--dry-run=server", "-f", "-", input_text=rendered)


def test_chart_installs_upgrades_and_uninstalls(crds_installed: ClusterHandle) -> None:
    args = ["-n", RELEASE_NAMESPACE, "--create-namespace", "--wait", "--timeout", "120s"]
    # The chart owns the admission policy that `kubectl apply -f crds/` also installs: hand it over to Helm.
    policies = str(REPO / "crds" / POLICIES_FILE)
    crds_installed.kubectl("delete", "-f", policies, "--ignore-not-found")
    try:
        helm(crds_installed, "install", "tenant-operator", str(CHART), *args)
        deployment = crds_installed.kubectl(
            "get", "deployment", "tenant-operator", "-n", RELEASE_NAMESPACE,
            "-o", "jsonpath={.status.readyReplicas}",
        ).stdout
        assert deployment == "1"
        helm(crds_installed, "upgrade", "tenant-operator", str(CHART), *args, "--set", "logLevel=debug")
        template_args = crds_installed.kubectl(
            "get", "deployment", "tenant-operator", "-n", RELEASE_NAMESPACE,
            "-o", "jsonpath={.spec.template.spec.containers[0].args}",
        ).stdout
        assert "--verbose" in template_args
        policy = crds_installed.kubectl("get", "validatingadmissionpolicy", PREVENT_DELETION, "-o", "json").stdout
        assert '"meta.helm.sh/release-name": "tenant-operator"' in policy
    finally:
        helm(crds_installed, "uninstall", "tenant-operator", "-n", RELEASE_NAMESPACE, "--wait")
        crds_installed.kubectl("apply", "--server-side", "-f", policies)
    crds = crds_installed.kubectl("get", "crd", "tenants.tenancy.io", check=False)
    assert crds.returncode == 0, "helm keeps CRDs on uninstall, so tenants survive"
