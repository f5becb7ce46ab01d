"""The Tenant's write path on the real apiserver: born with the finalizer, webhooks called only when they matter."""

from __future__ import annotations

import json

import pytest

from tests.cluster.plugin import ClusterHandle
from tests.e2e.helpers import delete_tenant, get_json, tenant_manifest, wait_ready
from tests.e2e.operator_process import OperatorProcess

pytestmark = pytest.mark.e2e

FINALIZER = "tenancy.io/finalizer"


def test_a_tenant_is_created_with_the_finalizer_already_on(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    created = json.loads(cluster.kubectl(
        "create", "-o", "json", "-f", "-", input_text=tenant_manifest("born-final", "Born Final")
    ).stdout)
    try:
        # The create's own response: the mutating webhook put it there, before kopf ever saw the object.
        assert FINALIZER in created["metadata"]["finalizers"]
        wait_ready(cluster, "born-final")
    finally:
        delete_tenant(cluster, "born-final")
    assert get_json(cluster, "tenant", "born-final") is None  # the finalizer was honoured and released


def test_server_side_apply_again_keeps_the_finalizer_and_changes_nothing(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    manifest = tenant_manifest("applied-twice", "Applied Twice")
    arguments = ("apply", "--server-side", "--field-manager=gitops", "-f", "-")
    cluster.kubectl(*arguments, input_text=manifest)
    try:
        before = wait_ready(cluster, "applied-twice")
        cluster.kubectl(*arguments, input_text=manifest)
        after = get_json(cluster, "tenant", "applied-twice")
        assert after is not None and FINALIZER in after["metadata"]["finalizers"]
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    finally:
        delete_tenant(cluster, "applied-twice")


def test_webhooks_for_spec_checks_carry_match_conditions(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    """Accepted by the apiserver as written: metadata-only writes (kopf's own annotations) skip the HTTPS call."""
    conditions = {}
    for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
        configuration = get_json(cluster, kind, "tenancy.io")
        assert configuration is not None
        for webhook in configuration["webhooks"]:
            conditions[webhook["name"]] = [c["expression"] for c in webhook.get("matchConditions") or []]
    spec_changed = ["request.operation != 'UPDATE' || object.spec != oldObject.spec"]
    assert conditions["tenant-defaults.tenancy.io"] == spec_changed
    assert conditions["tenant-validation.tenancy.io"] == spec_changed
    assert conditions["validate-ip-restrictions.tenancy.io"] == spec_changed
    assert conditions["end-of-life-versions.tenancy.io"] == []


def test_a_spec_change_still_goes_through_the_webhooks(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    cluster.kubectl("apply", "-f", "-", input_text=tenant_manifest("spec-checked", "Spec Checked"))
    cluster.kubectl("apply", "-f", "-", input_text=tenant_manifest("spec-other", "Spec Other"))
    try:
        wait_ready(cluster, "spec-checked")
        taken = cluster.kubectl(
            "patch", "tenant", "spec-checked", "--type=merge", "-p", '{"spec":{"displayName":"Spec Other"}}',
            check=False,
        )
        assert taken.returncode != 0 and "already used by tenant spec-other" in taken.stderr
        cluster.kubectl("label", "tenant", "spec-checked", "team=blue")  # metadata only: no webhook, accepted
        cluster.kubectl("patch", "tenant", "spec-checked", "--type=merge", "-p", '{"spec":{"plan":"premium"}}')
        tenant = get_json(cluster, "tenant", "spec-checked")
        assert tenant is not None and tenant["metadata"]["annotations"]["tenancy.io/last-changed-by"]
    finally:
        delete_tenant(cluster, "spec-checked")
        delete_tenant(cluster, "spec-other")
