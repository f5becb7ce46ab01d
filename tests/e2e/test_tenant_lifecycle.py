"""Tenant lifecycle on the real apiserver: plans, roles, quotas, isolation, suspend, update, decommission."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.cluster.plugin import ClusterHandle
from tests.cluster.postgres import PostgresServer
from tests.e2e.helpers import (
    apply,
    audit_lines,
    can_i,
    condition,
    delete_tenant,
    eventually,
    events_for,
    wait_for_event,
    get_json,
    namespace_gone,
    tenant_manifest,
    tenant_phase,
    wait_ready,
)
from tests.e2e.operator_process import OperatorProcess

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def config_data(cluster: ClusterHandle, namespace: str) -> dict[str, str]:
    return get_json(cluster, "configmap", "tenant-config", "-n", namespace)["data"]


def quota_hard(cluster: ClusterHandle, namespace: str) -> dict[str, str]:
    return get_json(cluster, "resourcequota", "tenant-quota", "-n", namespace)["spec"]["hard"]


def resource_versions_of_examples(cluster: ClusterHandle) -> dict[str, str]:
    items = json.loads(cluster.kubectl("get", "-f", str(EXAMPLES), "-o", "json").stdout)["items"]
    return {f"{item['kind']}/{item['metadata']['name']}": item["metadata"]["resourceVersion"] for item in items}


def server_side_apply_twice_changes_nothing(cluster: ClusterHandle) -> None:
    """As a GitOps tool syncs: the second server-side apply of the same manifests writes nothing, and the
    operator, which never writes spec, does not answer the first one with writes of its own."""
    cluster.kubectl("apply", "--server-side", "--field-manager=gitops", "-f", str(EXAMPLES))
    time.sleep(3)
    before = resource_versions_of_examples(cluster)
    cluster.kubectl("apply", "--server-side", "--field-manager=gitops", "-f", str(EXAMPLES))
    time.sleep(2)
    assert resource_versions_of_examples(cluster) == before


def test_every_example_is_accepted_and_becomes_ready(
    cluster: ClusterHandle, operator: OperatorProcess, database_server: PostgresServer
) -> None:
    cluster.kubectl("apply", "-f", str(EXAMPLES))
    try:
        expectations = {
            "acme": ("acme", "20", "10Gi", "1000", "3600", 8),
            "globex": ("globex-prod", "100", "100Gi", "10000", "7200", 12),
            "umbrella": ("umbrella-prod", "500", "1Ti", "100000", "14400", 12),
            "wayne": ("wayne", "2k", "20Ti", "5000000", "3600", 16),
        }
        for name, (namespace, pods, storage, rate, timeout, min_length) in expectations.items():
            tenant = wait_ready(cluster, name)
            assert tenant["status"]["primaryNamespace"] == namespace
            for type_ in ("NamespacesReady", "RBACReady", "QuotaReady", "NetworkReady", "Ready"):
                assert condition(tenant, type_)["status"] == "True", (name, type_)
            hard = quota_hard(cluster, namespace)
            assert (hard["pods"], hard["requests.storage"]) == (pods, storage)
            data = config_data(cluster, namespace)
            assert (data["api.rate_limit"], data["session.timeout"]) == (rate, timeout)
            assert json.loads(data["security.password_policy"])["minLength"] == min_length
            assert get_json(cluster, "limitrange", "tenant-limits", "-n", namespace) is not None
        umbrella = get_json(cluster, "namespace", "umbrella-research")["metadata"]["labels"]
        assert umbrella["pod-security.kubernetes.io/enforce"] == "restricted"
        assert config_data(cluster, "wayne")["features.ai_verification"] == "true"
        server_side_apply_twice_changes_nothing(cluster)
        metrics = operator.metrics()
        assert 'tenant_operator_tenants{phase="Active",plan="enterprise"}' in metrics
        assert 'tenant_operator_reconcile_total{kind="Tenant",result="success"}' in metrics
    finally:
        cluster.kubectl("patch", "tenant", "umbrella", "--type=merge", "-p", '{"spec":{"preventDeletion":false}}')
        for name in ("acme", "globex", "umbrella", "wayne"):
            delete_tenant(cluster, name)
        for namespace in ("umbrella-prod", "umbrella-research"):
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        cluster.kubectl("delete", "securitypolicy", "strict", "--ignore-not-found")


def test_plan_migration_updates_quota_and_config_in_place(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    apply(cluster, tenant_manifest("soylent", "Soylent", "  plan: basic"))
    try:
        wait_ready(cluster, "soylent")
        before_uid = get_json(cluster, "resourcequota", "tenant-quota", "-n", "soylent")["metadata"]["uid"]
        apply(cluster, tenant_manifest("soylent", "Soylent", "  plan: premium"))
        eventually(lambda: quota_hard(cluster, "soylent")["pods"] == "100", what="premium quota")
        data = config_data(cluster, "soylent")
        assert data["plan"] == "premium" and data["features.biometric_auth"] == "true"
        assert get_json(cluster, "resourcequota", "tenant-quota", "-n", "soylent")["metadata"]["uid"] == before_uid
        reasons = eventually(lambda: {e["reason"] for e in events_for(cluster, "Tenant", "soylent")} >= {
            "TenantPlanChanged", "TenantUpdated"} or None, what="plan change events")
        assert reasons
        changed = [r for r in audit_lines(operator.logs()) if r["event"] == "TENANT_PLAN_CHANGED"]
        assert changed and changed[-1]["changes"] == {"before": "basic", "after": "premium"}
    finally:
        delete_tenant(cluster, "soylent")


def test_roles_are_enforced_by_the_apiserver(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    apply(
        cluster,
        tenant_manifest(
            "alpha",
            "Alpha",
            """  owners: [{kind: User, name: alice}]
  members: [{kind: User, name: bob}]
  viewers: [{kind: Group, name: alpha-auditors}]
  additionalRoleBindings:
    - clusterRoleName: view
      subjects: [{kind: User, name: erin}]""",
        ),
    )
    apply(cluster, tenant_manifest("beta", "Beta", "  owners: [{kind: User, name: dave}]"))
    try:
        wait_ready(cluster, "alpha")
        wait_ready(cluster, "beta")
        assert can_i(cluster, "list", "pods", "alpha", "carol", "alpha-auditors")
        assert not can_i(cluster, "create", "deployments", "alpha", "carol", "alpha-auditors")
        assert can_i(cluster, "create", "deployments", "alpha", "bob")
        assert not can_i(cluster, "delete", "deployments", "alpha", "bob")
        assert not can_i(cluster, "delete", "roles", "alpha", "bob")
        assert can_i(cluster, "delete", "deployments", "alpha", "alice")
        assert can_i(cluster, "create", "rolebindings", "alpha", "alice")
        assert not can_i(cluster, "patch", "resourcequotas", "alpha", "alice")
        assert can_i(cluster, "get", "pods", "alpha", "erin")
        # Nobody of one tenant reads anything in the other's namespaces.
        for user in ("alice", "bob", "erin"):
            assert not can_i(cluster, "get", "pods", "beta", user)
            assert not can_i(cluster, "list", "configmaps", "beta", user)
        assert not can_i(cluster, "get", "pods", "alpha", "dave")
        refused = cluster.kubectl(
            "create", "configmap", "x", "-n", "alpha", "--as", "carol", "--as-group", "alpha-auditors", check=False
        )
        assert refused.returncode != 0 and "forbidden" in refused.stderr

        # Removing a subject list removes its binding.
        apply(cluster, tenant_manifest("alpha", "Alpha", "  owners: [{kind: User, name: alice}]"))
        eventually(lambda: not can_i(cluster, "create", "deployments", "alpha", "bob"), what="bob's binding removed")
        assert get_json(cluster, "rolebinding", "tenant-extra-view", "-n", "alpha") is None
    finally:
        delete_tenant(cluster, "alpha")
        delete_tenant(cluster, "beta")


def test_network_isolation_policy_and_opt_out(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    apply(cluster, tenant_manifest("gamma", "Gamma", "  networkIsolation: {allowFromNamespaces: [ingress-nginx]}"))
    try:
        wait_ready(cluster, "gamma")
        policy = get_json(cluster, "networkpolicy", "tenant-isolation", "-n", "gamma")
        peers = policy["spec"]["ingress"][0]["from"]
        assert peers[0]["namespaceSelector"]["matchLabels"] == {"tenancy.io/tenant": "gamma"}
        assert peers[1]["namespaceSelector"]["matchExpressions"][0]["values"] == ["ingress-nginx"]
        apply(cluster, tenant_manifest("gamma", "Gamma", "  networkIsolation: {enabled: false}"))
        eventually(
            lambda: get_json(cluster, "networkpolicy", "tenant-isolation", "-n", "gamma") is None,
            what="policy removed on opt-out",
        )
    finally:
        delete_tenant(cluster, "gamma")


def test_restricted_tenant_refuses_privileged_pods(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    apply(cluster, tenant_manifest("delta", "Delta", "  security: {podSecurity: restricted}"))
    try:
        wait_ready(cluster, "delta")
        pod = """
apiVersion: v1
kind: Pod
metadata: {name: privileged, namespace: delta}
spec:
  containers:
    - name: app
      image: example.invalid/app:1
      securityContext: {privileged: true}
"""
        refused = apply(cluster, pod, check=False)
        assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr
    finally:
        delete_tenant(cluster, "delta")


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: epsilon}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: example.invalid/web:1}]
"""


def test_suspend_scales_to_zero_blocks_pods_and_resume_restores(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    apply(cluster, tenant_manifest("epsilon", "Epsilon"))
    try:
        wait_ready(cluster, "epsilon")
        apply(cluster, DEPLOYMENT)
        cluster.kubectl("rollout", "status", "deployment/web", "-n", "epsilon", "--timeout=90s")

        apply(cluster, tenant_manifest("epsilon", "Epsilon", "  status: suspended"))
        eventually(lambda: tenant_phase(cluster, "epsilon") == "Suspended", what="phase Suspended")
        deployment = eventually(
            lambda: (d := get_json(cluster, "deployment", "web", "-n", "epsilon"))["spec"]["replicas"] == 0 and d,
            what="deployment scaled to zero",
        )
        assert deployment["metadata"]["annotations"]["tenancy.io/replicas-before-suspend"] == "3"
        assert quota_hard(cluster, "epsilon")["pods"] == "0"
        blocked = cluster.kubectl("run", "sneaky", "-n", "epsilon", "--image=example.invalid/x:1", check=False)
        assert blocked.returncode != 0 and "exceeded quota" in blocked.stderr
        assert get_json(cluster, "configmap", "tenant-config", "-n", "epsilon") is not None  # data kept

        apply(cluster, tenant_manifest("epsilon", "Epsilon", "  status: active"))
        eventually(lambda: tenant_phase(cluster, "epsilon") == "Active", what="phase Active")
        cluster.kubectl("rollout", "status", "deployment/web", "-n", "epsilon", "--timeout=90s")
        restored = get_json(cluster, "deployment", "web", "-n", "epsilon")
        assert restored["spec"]["replicas"] == 3 and restored["status"]["readyReplicas"] == 3
        assert "tenancy.io/replicas-before-suspend" not in (restored["metadata"].get("annotations") or {})
        wait_for_event(cluster, "Tenant", "epsilon", "TenantSuspended")
        wait_for_event(cluster, "Tenant", "epsilon", "TenantResumed")
        audited = {r["event"] for r in audit_lines(operator.logs()) if r["tenant"] == "epsilon"}
        assert {"TENANT_SUSPENDED", "TENANT_RESUMED"} <= audited
    finally:
        delete_tenant(cluster, "epsilon")


def test_updates_merge_features_and_security_over_the_plan_and_spec_is_never_written(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    apply(cluster, tenant_manifest("zeta", "Zeta", "  plan: premium"))
    try:
        wait_ready(cluster, "zeta")
        # Applied as another user (impersonated): the audit line names them.
        cluster.kubectl(
            "apply", "-f", "-", "--as", "platform-alice", "--as-group", "system:masters",
            input_text=tenant_manifest(
                "zeta",
                "Zeta Two",
                "  plan: premium\n  features: {customBranding: false}\n  security: {password: {minLength: 14}}",
            ),
        )
        eventually(lambda: config_data(cluster, "zeta")["features.custom_branding"] == "false", what="merged")
        data = config_data(cluster, "zeta")
        assert data["features.biometric_auth"] == "true"  # kept from the plan
        policy = json.loads(data["security.password_policy"])
        assert policy["minLength"] == 14 and policy["requireSpecialChars"] is True
        assert data["tenant.display_name"] == "Zeta Two"  # other fields replace
        updated = [r for r in audit_lines(operator.logs()) if r["event"] == "TENANT_UPDATED" and r["tenant"] == "zeta"]
        assert updated[-1]["changes"]["before"]["displayName"] == "Zeta"
        assert updated[-1]["changes"]["after"]["features"] == {"customBranding": False}
        assert updated[-1]["severity"] == "medium"
        assert updated[-1]["actor"] == "platform-alice"  # from the admission request's userInfo

        tenant = get_json(cluster, "tenant", "zeta", "--show-managed-fields")
        assert tenant["metadata"]["managedFields"]
        for entry in tenant["metadata"]["managedFields"]:
            if '"f:spec"' in json.dumps(entry.get("fieldsV1", {})):
                assert entry["manager"].startswith("kubectl"), f"{entry['manager']} wrote spec"
    finally:
        delete_tenant(cluster, "zeta")


def test_prevent_deletion_and_retained_namespaces(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    apply(
        cluster,
        tenant_manifest("eta", "Eta", "  preventDeletion: true\n  deletionPolicy: {namespaces: Retain}"),
    )
    try:
        wait_ready(cluster, "eta")
        cluster.kubectl("create", "configmap", "precious", "-n", "eta", "--from-literal=k=v")
        refused = cluster.kubectl("delete", "tenant", "eta", check=False)
        assert refused.returncode != 0
        assert "tenant eta has spec.preventDeletion: true" in refused.stderr
        assert get_json(cluster, "tenant", "eta") is not None

        cluster.kubectl("patch", "tenant", "eta", "--type=merge", "-p", '{"spec":{"preventDeletion":false}}')
        delete_tenant(cluster, "eta")
        eventually(lambda: get_json(cluster, "tenant", "eta") is None, what="tenant gone")
        namespace = get_json(cluster, "namespace", "eta")
        assert namespace is not None and namespace["metadata"].get("deletionTimestamp") is None
        labels = namespace["metadata"]["labels"]
        assert labels["tenancy.io/retained-from"] == "eta" and "tenancy.io/tenant" not in labels
        assert not namespace["metadata"].get("ownerReferences")
        assert get_json(cluster, "configmap", "precious", "-n", "eta")["data"] == {"k": "v"}
        # The audit trail outlives the tenant.
        wait_for_event(cluster, "Tenant", "eta", "TenantDecommissioned")
    finally:
        cluster.kubectl("patch", "tenant", "eta", "--type=merge", "-p", '{"spec":{"preventDeletion":false}}',
                        check=False)
        delete_tenant(cluster, "eta")
        cluster.kubectl("delete", "namespace", "eta", "--wait=false", check=False)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("  plan: basic\n  features: {teleportation: true}", 'unknown field "spec.features.teleportation"'),
        ("  limits: {maxUsers: -5}", "spec.limits.maxUsers: Invalid value: -5"),
        ("  limits: {pods: 100000000}", "spec.limits.pods: Invalid value"),
        ("  limits: {storage: 5000000Pi}", "spec.limits.storage: Invalid value"),
        ("  security: {password: {minLength: 4}}", "spec.security.password.minLength: Invalid value"),
        ("  security: {session: {timeoutSeconds: 90000}}", "spec.security.session.timeoutSeconds: Invalid value"),
        ("  plan: basic\n  features: {aiVerification: true}", "features.aiVerification is not included in this plan"),
        (
            "  plan: enterprise\n  features: {aiVerification: true, biometricAuth: false}",
            "features.aiVerification needs biometricAuth",
        ),
        ("  plan: custom", "the custom plan takes limits.maxUsers from the spec"),
        ("  owners: [{kind: ServiceAccount, name: robot}]", "a ServiceAccount subject needs its namespace"),
        ("  owners: [{kind: Robot, name: r2}]", 'spec.owners[0].kind: Unsupported value: "Robot"'),
    ],
    ids=["unknown-feature", "negative-users", "absurd-pods", "absurd-storage", "short-password", "long-session",
         "feature-not-in-plan", "incompatible-features", "custom-without-limits", "sa-without-namespace",
         "unknown-subject-kind"],
)
def test_bad_input_is_refused_with_the_field_and_rule(crds_installed: ClusterHandle, spec: str, message: str) -> None:
    result = apply(crds_installed, tenant_manifest("badtenant", "Bad Tenant", spec), check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert get_json(crds_installed, "tenant", "badtenant") is None
    assert get_json(crds_installed, "namespace", "badtenant") is None


def test_restart_mid_provisioning_converges_without_duplicates(
    cluster: ClusterHandle, operator: OperatorProcess
) -> None:
    suffixes = [f"n{index}" for index in range(8)]
    apply(cluster, tenant_manifest("theta", "Theta", f"  namespaces: [{', '.join(suffixes)}]"))
    try:
        eventually(lambda: get_json(cluster, "namespace", "theta-n0"), interval=0.05, what="provisioning started")
        operator.stop(signal.SIGKILL)
        operator.start()
        wait_ready(cluster, "theta")
        namespaces = get_json(cluster, "namespaces", "-l", "tenancy.io/tenant=theta")["items"]
        assert sorted(ns["metadata"]["name"] for ns in namespaces) == sorted(f"theta-{s}" for s in suffixes)
        for kind, expected in (("roles", 3), ("resourcequotas", 1), ("limitranges", 1), ("networkpolicies", 1),
                               ("configmaps", 2)):
            items = get_json(cluster, kind, "-A", "-l", "tenancy.io/tenant=theta")["items"]
            assert len(items) == expected * len(suffixes), kind

        # A restart with the tenant already in shape re-applies nothing.
        operator.stop()
        operator.start()
        time.sleep(5)  # let kopf list the tenants and run its resume handlers
        assert 'tenant_operator_reconcile_total{kind="Tenant",result="success"}' not in operator.metrics()
    finally:
        delete_tenant(cluster, "theta")
