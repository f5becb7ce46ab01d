"""SecurityPolicy on the real apiserver: bounds at admission, merging, propagation, pod security, audit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cluster.plugin import ClusterHandle
from tests.e2e.helpers import (
    apply,
    audit_lines,
    condition,
    delete_tenant,
    eventually,
    get_json,
    tenant_manifest,
    wait_for_condition,
    wait_for_event,
    wait_ready,
)
from tests.e2e.operator_process import OperatorProcess

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def policy_data(cluster: ClusterHandle, namespace: str) -> dict[str, str]:
    return get_json(cluster, "configmap", "tenant-security-policy", "-n", namespace)["data"]


def test_policy_merges_under_the_tenant_and_changes_reach_every_tenant(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    cluster.kubectl("apply", "-f", str(EXAMPLES / "securitypolicy-strict.yaml"))
    apply(cluster, tenant_manifest("psi", "Psi", "  securityPolicyRef: strict"))
    apply(
        cluster,
        tenant_manifest("omega", "Omega", "  securityPolicyRef: strict\n  security: {password: {minLength: 20}}"),
    )
    try:
        for name in ("psi", "omega"):
            tenant = wait_ready(cluster, name)
            assert condition(tenant, "SecurityPolicyReady")["status"] == "True"
        psi = policy_data(cluster, "psi")
        assert json.loads(psi["password_policy"])["minLength"] == 14  # from the policy
        assert json.loads(psi["password_policy"])["requireUppercase"] is True  # from the plan
        assert json.loads(psi["auth_methods"])["oauthProviders"] == ["github", "google"]
        assert psi["mfa_required"] == "true" and psi["pod_security"] == "restricted" and psi["policy"] == "strict"
        assert json.loads(policy_data(cluster, "omega")["password_policy"])["minLength"] == 20  # tenant wins
        labels = get_json(cluster, "namespace", "psi")["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        privileged = """
apiVersion: v1
kind: Pod
metadata: {name: privileged, namespace: psi}
spec:
  containers: [{name: app, image: example.invalid/app:1, securityContext: {privileged: true}}]
"""
        refused = apply(cluster, privileged, check=False)
        assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr

        cluster.kubectl("patch", "securitypolicy", "strict", "--type=merge", "-p",
                        '{"spec":{"password":{"minLength":16},"podSecurity":"baseline"}}')
        eventually(lambda: json.loads(policy_data(cluster, "psi")["password_policy"])["minLength"] == 16,
                   what="psi follows the policy")
        eventually(
            lambda: get_json(cluster, "namespace", "psi")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
            == "baseline",
            what="pod security follows the policy",
        )
        assert json.loads(policy_data(cluster, "omega")["password_policy"])["minLength"] == 20
        wait_for_event(cluster, "SecurityPolicy", "strict", "SecurityPolicyUpdated", "applied to 2 tenant(s)")
        record = [r for r in audit_lines(operator.logs()) if r["event"] == "SECURITY_POLICY_UPDATED"][-1]
        assert record["severity"] == "high" and record["tenants"] == ["omega", "psi"]
        assert record["changes"]["before"]["password"]["minLength"] == 14
        assert record["changes"]["after"]["password"]["minLength"] == 16
        policy = get_json(cluster, "securitypolicy", "strict")
        assert policy["status"]["tenants"] == ["omega", "psi"]
    finally:
        delete_tenant(cluster, "psi")
        delete_tenant(cluster, "omega")
        cluster.kubectl("delete", "securitypolicy", "strict", "--ignore-not-found")


def test_a_missing_policy_applies_nothing_until_it_exists(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    apply(cluster, tenant_manifest("alef", "Alef", "  securityPolicyRef: later"))
    try:
        tenant = wait_for_condition(cluster, "tenant", "alef", "SecurityPolicyReady")
        assert condition(tenant, "SecurityPolicyReady")["reason"] == "PolicyNotFound"
        assert get_json(cluster, "namespace", "alef") is None  # nothing half-applied
        cluster.kubectl("apply", "-f", "-", input_text=(EXAMPLES / "securitypolicy-strict.yaml").read_text()
                        .replace("name: strict", "name: later"))
        wait_ready(cluster, "alef")
        assert policy_data(cluster, "alef")["policy"] == "later"
    finally:
        delete_tenant(cluster, "alef")
        cluster.kubectl("delete", "securitypolicy", "later", "--ignore-not-found")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("password: {minLength: 7}", "spec.password.minLength: Invalid value: 7"),
        ("password: {minLength: 129}", "spec.password.minLength: Invalid value: 129"),
        ("session: {timeoutSeconds: 3599}", "spec.session.timeoutSeconds: Invalid value"),
        ("session: {timeoutSeconds: 86401}", "spec.session.timeoutSeconds: Invalid value"),
        ("session: {maxConcurrentSessions: 0}", "spec.session.maxConcurrentSessions: Invalid value"),
        ("session: {maxConcurrentSessions: 11}", "spec.session.maxConcurrentSessions: Invalid value"),
        ("session: {rememberDeviceDays: 31}", "spec.session.rememberDeviceDays: Invalid value"),
        ("podSecurity: lax", 'spec.podSecurity: Unsupported value: "lax"'),
        ("authMethods: {oauthProviders: [myspace]}", 'spec.authMethods.oauthProviders[0]: Unsupported value'),
        ("authMethods: {oauthProviders: [github, github]}", "spec.authMethods.oauthProviders[1]: Duplicate value"),
    ],
)
def test_policy_bounds_are_enforced_at_admission(crds_installed: ClusterHandle, spec: str, message: str) -> None:
    manifest = f"apiVersion: tenancy.io/v1alpha1\nkind: SecurityPolicy\nmetadata:\n  name: bad\nspec:\n  {spec}\n"
    result = apply(crds_installed, manifest, check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert get_json(crds_installed, "securitypolicy", "bad") is None
