"""The chart's RBAC is least privilege: the whole suite runs the operator as the chart's ServiceAccount (so it is
enough), and here the real apiserver's authorizer shows it is no more than the operator needs."""

from __future__ import annotations

import pytest

from tests.cluster.plugin import ClusterHandle
from tests.e2e.operator_process import (
    DATABASE_NAMESPACE,
    DATABASE_SERVER_SECRET,
    OPERATOR_USER,
    OperatorProcess,
    chart_rbac,
)

pytestmark = pytest.mark.e2e

# A tenant's primary namespace need not exist: RBAC is evaluated on the request, not on the objects.
TENANT_NAMESPACE = "some-tenant"
OUTSIDE = ("kube-system", "default")


def operator_can(
    cluster: ClusterHandle, verb: str, resource: str, namespace: str | None = None, subresource: str | None = None
) -> bool:
    """`kubectl auth can-i` as the operator's ServiceAccount (the admin impersonates it); no namespace: at the
    cluster scope (cluster-scoped resources, or every namespace at once)."""
    args = ["auth", "can-i", verb, resource, "--as", OPERATOR_USER]
    args += ["-n", namespace] if namespace is not None else ["--all-namespaces"]
    if subresource is not None:
        args += ["--subresource", subresource]
    answer = cluster.kubectl(*args, check=False)
    assert answer.stdout.strip() in ("yes", "no"), f"kubectl {' '.join(args)}: {answer.stdout}{answer.stderr}"
    return answer.stdout.strip() == "yes"


def test_the_operator_runs_as_the_charts_service_account(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    whoami = cluster.kubectl("--kubeconfig", str(operator.kubeconfig), "auth", "whoami", "-o",
                             "jsonpath={.status.userInfo.username}").stdout
    assert whoami == OPERATOR_USER
    # A real request with the operator's own token, not only the authorizer's answer.
    denied = cluster.kubectl("--kubeconfig", str(operator.kubeconfig), "get", "secrets", "-n", "kube-system",
                             check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()


def test_the_charts_rules_name_every_verb_and_resource(cluster: ClusterHandle) -> None:
    for document in chart_rbac(cluster):
        for rule in document.get("rules", []):
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(key, []), f"{document['kind']} {document['metadata']['name']}: {rule}"


def test_the_operator_can_do_what_it_needs(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    for verb in ("list", "watch", "patch"):
        assert operator_can(cluster, verb, "tenants.tenancy.io"), verb
    assert operator_can(cluster, "patch", "tenants.tenancy.io", subresource="status")
    assert operator_can(cluster, "patch", "updaterollouts.tenancy.io", TENANT_NAMESPACE, subresource="status")
    assert operator_can(cluster, "create", "updaterollouts.tenancy.io", TENANT_NAMESPACE)
    for verb in ("create", "patch", "delete"):
        assert operator_can(cluster, verb, "namespaces"), verb
    for resource in ("roles", "rolebindings", "resourcequotas", "limitranges", "networkpolicies", "configmaps"):
        assert operator_can(cluster, "patch", resource, TENANT_NAMESPACE), resource
    assert operator_can(cluster, "escalate", "roles", TENANT_NAMESPACE)
    assert operator_can(cluster, "bind", "clusterroles")
    # Its own Secrets: the tenant's database credentials and the database servers' admin Secrets.
    for verb in ("get", "create", "patch"):
        assert operator_can(cluster, verb, "secrets/tenant-database", TENANT_NAMESPACE), verb
    assert operator_can(cluster, "get", f"secrets/{DATABASE_SERVER_SECRET}", DATABASE_NAMESPACE)
    assert operator_can(cluster, "create", "events", TENANT_NAMESPACE)
    assert operator_can(cluster, "patch", "validatingwebhookconfigurations/tenancy.io")
    assert operator_can(cluster, "watch", "customresourcedefinitions")


def test_the_operator_cannot_read_secrets_it_does_not_manage(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    for namespace in OUTSIDE:
        for verb in ("get", "list", "watch"):
            assert not operator_can(cluster, verb, "secrets", namespace), f"{verb} secrets in {namespace}"
        for verb in ("create", "patch", "update", "delete"):
            assert not operator_can(cluster, verb, "secrets/some-secret", namespace), f"{verb} secrets in {namespace}"
        assert not operator_can(cluster, "create", "secrets", namespace)  # any name: e.g. a token Secret
    # Not even in a tenant's namespace beyond the one it writes, nor in bulk anywhere.
    assert not operator_can(cluster, "get", "secrets/some-secret", TENANT_NAMESPACE)
    assert not operator_can(cluster, "list", "secrets", TENANT_NAMESPACE)
    assert not operator_can(cluster, "list", "secrets", DATABASE_NAMESPACE)
    assert not operator_can(cluster, "list", "secrets")
    assert not operator_can(cluster, "get", "secrets")
    assert not operator_can(cluster, "delete", "secrets/tenant-database", TENANT_NAMESPACE)


def test_the_operator_cannot_delete_workloads_or_services(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    for namespace in (TENANT_NAMESPACE, *OUTSIDE):
        for resource in ("deployments.apps", "statefulsets.apps", "services", "pods"):
            assert not operator_can(cluster, "delete", resource, namespace), f"delete {resource} in {namespace}"
        assert not operator_can(cluster, "update", "deployments.apps", namespace)
        assert not operator_can(cluster, "create", "pods", namespace, subresource="exec")
        assert not operator_can(cluster, "get", "pods", namespace, subresource="log")
        assert not operator_can(cluster, "create", "serviceaccounts", namespace, subresource="token")


def test_the_operator_cannot_touch_nodes_crds_or_cluster_roles(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    for verb in ("get", "list", "patch", "delete"):
        assert not operator_can(cluster, verb, "nodes"), f"{verb} nodes"
    for verb in ("create", "patch", "update", "delete"):
        assert not operator_can(cluster, verb, "customresourcedefinitions.apiextensions.k8s.io"), f"{verb} crds"
    for verb in ("create", "patch", "delete", "escalate"):
        assert not operator_can(cluster, verb, "clusterroles"), f"{verb} clusterroles"
    for verb in ("create", "patch", "delete"):
        assert not operator_can(cluster, verb, "clusterrolebindings"), f"{verb} clusterrolebindings"
    # Only its own webhook configurations.
    for kind in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
        assert not operator_can(cluster, "patch", f"{kind}/someone-else")
        assert not operator_can(cluster, "delete", f"{kind}/tenancy.io")
    assert not operator_can(cluster, "delete", "tenants.tenancy.io")
    # Tenant roles are applied, never deleted or read back; workloads' ReplicaSets only listed.
    assert not operator_can(cluster, "delete", "roles", TENANT_NAMESPACE)
    assert not operator_can(cluster, "patch", "replicasets.apps", TENANT_NAMESPACE)


def test_the_operator_cannot_impersonate(cluster: ClusterHandle, operator: OperatorProcess) -> None:
    for resource in ("users", "groups", "serviceaccounts", "userextras.authentication.k8s.io/scopes"):
        assert not operator_can(cluster, "impersonate", resource), resource
