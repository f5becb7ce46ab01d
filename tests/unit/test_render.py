import pytest

from tenant_operator.api import LABEL_MANAGED_BY, LABEL_TENANT
from tenant_operator.tenant.model import TenantSpec
from tenant_operator.tenant.render import (
    SUSPENDED_REPLICAS_ANNOTATION,
    desired_state,
    namespace_names,
    resumption_patch,
    role_rules,
    stale_names,
    suspension_patch,
)


def spec(**fields) -> TenantSpec:
    return TenantSpec.model_validate({"displayName": "Acme", **fields})


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [obj for obj in objects if obj["kind"] == kind]


def test_one_namespace_named_after_the_slug_by_default() -> None:
    assert namespace_names("acme", spec()) == ["acme"]


def test_namespace_entries_are_prefixed_with_the_slug_primary_first() -> None:
    assert namespace_names("acme", spec(namespaces=["prod", "dev"])) == ["acme-prod", "acme-dev"]


def test_namespaces_carry_tenant_labels_owner_and_pod_security() -> None:
    state = desired_state("acme", "uid-1", spec(namespaces=["prod", "dev"], security={"podSecurity": "restricted"}))
    prod, dev = state.namespaces
    labels = prod["metadata"]["labels"]
    assert labels[LABEL_TENANT] == "acme" and labels[LABEL_MANAGED_BY] == "tenant-operator"
    assert labels["tenancy.io/primary"] == "true" and dev["metadata"]["labels"]["tenancy.io/primary"] == "false"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    owner = prod["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("Tenant", "acme", "uid-1", True)


def test_pod_security_defaults_to_baseline() -> None:
    state = desired_state("acme", "uid", spec())
    assert state.namespaces[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"


def test_every_namespace_gets_roles_quota_limits_policy_and_config() -> None:
    state = desired_state("acme", "uid", spec(namespaces=["a", "b"]))
    for namespace in ("acme-a", "acme-b"):
        assert state.names_of("Role", namespace) == {"tenant-admin", "tenant-member", "tenant-viewer"}
        assert state.names_of("ResourceQuota", namespace) == {"tenant-quota"}
        assert state.names_of("LimitRange", namespace) == {"tenant-limits"}
        assert state.names_of("NetworkPolicy", namespace) == {"tenant-isolation"}
        assert state.names_of("ConfigMap", namespace) == {"tenant-config", "tenant-security-policy"}


def test_roles_grant_read_write_delete_admin_by_level() -> None:
    rules = role_rules()

    def verbs(role: str, group: str, resource: str) -> set[str]:
        return {
            verb
            for rule in rules[role]
            if group in rule["apiGroups"] and resource in rule["resources"]
            for verb in rule["verbs"]
        }

    assert verbs("Viewer", "apps", "deployments") == {"get", "list", "watch"}
    assert verbs("Member", "apps", "deployments") == {"get", "list", "watch", "create", "update", "patch"}
    assert "delete" in verbs("Admin", "apps", "deployments")
    assert verbs("Member", "rbac.authorization.k8s.io", "roles") == set()
    assert "create" in verbs("Admin", "rbac.authorization.k8s.io", "rolebindings")
    assert verbs("Viewer", "", "secrets") == set()
    assert verbs("Admin", "", "resourcequotas") == {"get", "list", "watch"}


def test_bindings_exist_only_for_listed_subjects() -> None:
    state = desired_state(
        "acme",
        "uid",
        spec(
            owners=[{"kind": "User", "name": "alice"}],
            viewers=[{"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}],
            additionalRoleBindings=[
                {"clusterRoleName": "view", "subjects": [{"kind": "Group", "name": "auditors"}]},
                {"clusterRoleName": "view", "subjects": [{"kind": "Group", "name": "sre"}]},
            ],
        ),
    )
    bindings = {b["metadata"]["name"]: b for b in by_kind(state.rbac, "RoleBinding")}
    assert set(bindings) == {"tenant-admins", "tenant-viewers", "tenant-extra-view"}
    assert bindings["tenant-admins"]["subjects"] == [
        {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}
    ]
    assert bindings["tenant-viewers"]["subjects"] == [{"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}]
    assert [s["name"] for s in bindings["tenant-extra-view"]["subjects"]] == ["auditors", "sre"]
    assert bindings["tenant-extra-view"]["roleRef"]["kind"] == "ClusterRole"


@pytest.mark.parametrize(
    ("plan", "pods", "storage"), [("basic", "20", "10Gi"), ("premium", "100", "100Gi"), ("enterprise", "500", "1Ti")]
)
def test_quota_follows_the_plan(plan: str, pods: str, storage: str) -> None:
    quota = by_kind(desired_state("acme", "uid", spec(plan=plan)).quota, "ResourceQuota")[0]
    assert quota["spec"]["hard"]["pods"] == pods
    assert quota["spec"]["hard"]["requests.storage"] == storage


def test_limits_override_the_plan_and_suspension_blocks_pods() -> None:
    state = desired_state("acme", "uid", spec(limits={"pods": 7, "storage": "3Gi", "cpu": "12"}, status="suspended"))
    hard = by_kind(state.quota, "ResourceQuota")[0]["spec"]["hard"]
    assert hard["pods"] == "0"
    assert hard["requests.storage"] == "3Gi"
    assert hard["requests.cpu"] == "12" and hard["limits.cpu"] == "12"


def test_network_policy_admits_own_namespaces_and_allowed_ones() -> None:
    state = desired_state("acme", "uid", spec(networkIsolation={"allowFromNamespaces": ["ingress-nginx"]}))
    policy = state.network[0]
    peers = policy["spec"]["ingress"][0]["from"]
    assert peers[0] == {"namespaceSelector": {"matchLabels": {"tenancy.io/tenant": "acme"}}}
    assert peers[1]["namespaceSelector"]["matchExpressions"][0]["values"] == ["ingress-nginx"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]


def test_network_isolation_opt_out_renders_no_policy() -> None:
    assert desired_state("acme", "uid", spec(networkIsolation={"enabled": False})).network == []


def test_stale_names_are_those_no_longer_desired() -> None:
    assert stale_names(["acme-a", "acme-b", "acme-c"], ["acme-b"]) == ["acme-a", "acme-c"]
    assert stale_names(["acme"], {"acme"}) == []


def test_suspension_records_replicas_and_resumption_restores_them() -> None:
    suspended = suspension_patch(3)
    assert suspended["spec"]["replicas"] == 0
    assert suspended["metadata"]["annotations"][SUSPENDED_REPLICAS_ANNOTATION] == "3"
    restored = resumption_patch({SUSPENDED_REPLICAS_ANNOTATION: "3"})
    assert restored == {"metadata": {"annotations": {SUSPENDED_REPLICAS_ANNOTATION: None}}, "spec": {"replicas": 3}}
    assert resumption_patch({}) is None
