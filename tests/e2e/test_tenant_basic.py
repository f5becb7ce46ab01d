"""Tenant, first slice: namespaces, status, events, audit, decommission and admission on the real apiserver."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.plugin import ClusterHandle
from tests.cluster.postgres import PostgresServer
from tests.e2e.helpers import (
    PhaseWatch,
    apply,
    audit_lines,
    condition,
    delete_tenant,
    eventually,
    events_for,
    wait_for_event,
    get_json,
    namespace_gone,
    tenant_manifest,
    wait_ready,
)
from tests.e2e.operator_process import OperatorProcess

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_example_tenant_becomes_ready_with_its_namespace(
    cluster: ClusterHandle, operator: OperatorProcess, database_server: PostgresServer
) -> None:
    watch = PhaseWatch(cluster, "acme")
    cluster.kubectl("apply", "-f", str(REPO / "examples" / "tenant-basic.yaml"))
    try:
        tenant = wait_ready(cluster, "acme")
        status = tenant["status"]
        assert status["phase"] == "Active"
        assert status["namespaces"] == ["acme"] and status["primaryNamespace"] == "acme"
        assert status["observedGeneration"] == tenant["metadata"]["generation"]
        ready = condition(tenant, "Ready")
        assert ready["reason"] == "Provisioned" and ready["observedGeneration"] == tenant["metadata"]["generation"]
        assert condition(tenant, "NamespacesReady")["status"] == "True"

        namespace = get_json(cluster, "namespace", "acme")
        labels = namespace["metadata"]["labels"]
        assert labels["tenancy.io/tenant"] == "acme"
        assert labels["app.kubernetes.io/managed-by"] == "tenant-operator"
        owner = namespace["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("Tenant", "acme", tenant["metadata"]["uid"])

        reasons = eventually(lambda: {e["reason"] for e in events_for(cluster, "Tenant", "acme")} or None)
        assert "TenantCreated" in reasons
        created = [r for r in audit_lines(operator.logs()) if r["event"] == "TENANT_CREATED" and r["tenant"] == "acme"]
        assert created and created[0]["severity"] == "high"

        columns = cluster.kubectl("get", "tenant", "acme").stdout.split("\n")[0].split()
        assert columns == ["NAME", "DISPLAY", "NAME", "PLAN", "PHASE", "READY", "NAMESPACES", "AGE"]
        assert "basic" in cluster.kubectl("get", "tenant", "acme").stdout

        assert condition(tenant, "DatabaseReady")["status"] == "True"
        assert get_json(cluster, "secret", "tenant-database", "-n", "acme") is not None
        assert "tenant_operator_reconcile_total" in operator.metrics()
    finally:
        delete_tenant(cluster, "acme")
    eventually(lambda: namespace_gone(cluster, "acme"), timeout=90, what="namespace acme deleted")
    assert watch.phases() == ["Provisioning", "Active", "Decommissioning"]
    decommissioned = [r for r in audit_lines(operator.logs()) if r["event"] == "TENANT_DECOMMISSIONED"]
    assert any(r["tenant"] == "acme" and r["deletedNamespaces"] == ["acme"] for r in decommissioned)


def test_namespaces_follow_the_spec(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    apply(cluster, tenant_manifest("initech", "Initech", "  namespaces: [prod, dev]"))
    try:
        wait_ready(cluster, "initech")
        assert get_json(cluster, "namespace", "initech-prod")["metadata"]["labels"]["tenancy.io/primary"] == "true"
        assert get_json(cluster, "namespace", "initech-dev")["metadata"]["labels"]["tenancy.io/primary"] == "false"

        apply(cluster, tenant_manifest("initech", "Initech", "  namespaces: [prod, qa]"))
        eventually(lambda: get_json(cluster, "namespace", "initech-qa"), what="namespace initech-qa")
        eventually(lambda: namespace_gone(cluster, "initech-dev"), timeout=90, what="initech-dev deleted")
        tenant = eventually(
            lambda: (t := get_json(cluster, "tenant", "initech"))["status"]["namespaces"] == ["initech-prod", "initech-qa"]
            and t,
            what="status lists the new namespaces",
        )
        assert tenant["status"]["observedGeneration"] == tenant["metadata"]["generation"]
        wait_for_event(cluster, "Tenant", "initech", "TenantUpdated")
    finally:
        delete_tenant(cluster, "initech")
    for name in ("initech-prod", "initech-qa"):
        eventually(lambda: namespace_gone(cluster, name), timeout=90, what=f"{name} deleted")


def test_a_namespace_owned_by_someone_else_is_never_adopted(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    cluster.kubectl("create", "namespace", "hooli")
    try:
        apply(cluster, tenant_manifest("hooli", "Hooli"))
        tenant = eventually(
            lambda: (t := get_json(cluster, "tenant", "hooli")) and (c := condition(t, "Ready"))
            and c["reason"] != "Provisioning" and t,
            what="tenant hooli reports the outcome",
        )
        ready = condition(tenant, "Ready")
        assert ready["status"] == "False" and ready["reason"] == "NamespaceConflict"
        assert "namespace hooli already exists" in ready["message"]
        assert tenant["status"]["phase"] == "Failed"
        labels = get_json(cluster, "namespace", "hooli")["metadata"].get("labels", {})
        assert "tenancy.io/tenant" not in labels
        delete_tenant(cluster, "hooli")
        assert get_json(cluster, "namespace", "hooli") is not None, "a namespace not created by us was deleted"
    finally:
        delete_tenant(cluster, "hooli")
        cluster.kubectl("delete", "namespace", "hooli", "--wait=false", check=False)


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("ok-name", "  displayName: X", "spec.displayName: Invalid value"),
        ("ok-name", "  displayName: Bad/Name", "spec.displayName: Invalid value"),
        ("ok-name", "  displayName: Fine\n  plan: gold", 'spec.plan: Unsupported value: "gold"'),
        ("ok-name", "  displayName: Fine\n  namespaces: [Bad_Suffix]", "spec.namespaces[0]: Invalid value"),
        ("ok-name", "  plan: basic", "spec.displayName: Required value"),
        ("bad.name", "  displayName: Fine", "metadata.name is the tenant's slug"),
        ("a" * 41, "  displayName: Fine", "metadata.name is the tenant's slug"),
    ],
    ids=["short-display-name", "display-name-characters", "unknown-plan", "bad-namespace", "missing-display-name",
         "dotted-name", "long-name"],
)
def test_invalid_tenants_are_refused_by_the_apiserver(
    crds_installed: ClusterHandle, name: str, spec: str, message: str
) -> None:
    manifest = f"apiVersion: tenancy.io/v1alpha1\nkind: Tenant\nmetadata:\n  name: {name}\nspec:\n{spec}\n"
    result = apply(crds_installed, manifest, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert get_json(crds_installed, "tenant", name) is None


def test_kubectl_explain_shows_field_descriptions(crds_installed: ClusterHandle) -> None:
    explained = eventually(
        lambda: (out := crds_installed.kubectl("explain", "tenant.spec", check=False).stdout) and "displayName" in out
        and out,
        what="the CRD's OpenAPI published",
    )
    assert "Human-readable name, 2-100 characters" in explained
    assert "Plan that sets the tenant's defaults" in explained


def test_display_names_are_unique_across_the_platform(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    apply(cluster, tenant_manifest("iota", "Iota Industries"))
    try:
        wait_ready(cluster, "iota")
        for display_name in ("Iota Industries", "iota  INDUSTRIES"):
            refused = apply(cluster, tenant_manifest("iota-two", display_name), check=False)
            assert refused.returncode != 0
            assert "is already used by tenant iota; display names are unique" in refused.stderr
            assert get_json(cluster, "tenant", "iota-two") is None
        renamed = apply(cluster, tenant_manifest("iota", "Iota Industries Renamed"), check=False)
        assert renamed.returncode == 0, "a tenant keeps (or changes) its own display name"
    finally:
        delete_tenant(cluster, "iota")


def test_slug_is_generated_from_the_display_name_when_no_name_is_given(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    manifest = "apiVersion: tenancy.io/v1alpha1\nkind: Tenant\nmetadata:\n  generateName: x-\nspec:\n  displayName: Kappa Labs. 2\n"
    cluster.kubectl("create", "-f", "-", input_text=manifest)
    try:
        tenant = wait_ready(cluster, "kappa-labs-2")
        assert tenant["status"]["slug"] == "kappa-labs-2"
        assert get_json(cluster, "namespace", "kappa-labs-2") is not None
        # Another display name that makes the same slug: the apiserver refuses the duplicate name.
        duplicate = cluster.kubectl("create", "-f", "-", input_text=manifest.replace("Kappa Labs. 2", "Kappa-Labs 2"),
                                    check=False)
        assert duplicate.returncode != 0 and '"kappa-labs-2" already exists' in duplicate.stderr
    finally:
        delete_tenant(cluster, "kappa-labs-2")
