"""Pure rendering for Tenant: spec in, desired Kubernetes objects out. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..api import API_VERSION, LABEL_PRIMARY_NAMESPACE, managed_labels
from ..securitypolicy.model import SecuritySettings
from .effective import EffectiveConfig, config_map_data, effective_config, security_policy_data
from .model import Subject, TenantSpec

CONFIG_MAP_NAME = "tenant-config"
SECURITY_POLICY_CONFIG_MAP = "tenant-security-policy"
QUOTA_NAME = "tenant-quota"
LIMIT_RANGE_NAME = "tenant-limits"
NETWORK_POLICY_NAME = "tenant-isolation"
SUSPENDED_REPLICAS_ANNOTATION = "tenancy.io/replicas-before-suspend"

READ = ["get", "list", "watch"]
WRITE = ["create", "update", "patch"]
DELETE = ["delete", "deletecollection"]

# What tenant users work with in their namespaces; quotas, limits and network policies stay the operator's.
WORKLOAD_RESOURCES = [
    ("", ["pods", "pods/log", "services", "endpoints", "configmaps", "persistentvolumeclaims", "serviceaccounts"]),
    ("apps", ["deployments", "statefulsets", "replicasets", "daemonsets"]),
    ("batch", ["jobs", "cronjobs"]),
    ("networking.k8s.io", ["ingresses"]),
    ("autoscaling", ["horizontalpodautoscalers"]),
    ("policy", ["poddisruptionbudgets"]),
]
OBSERVED_RESOURCES = [("", ["events", "resourcequotas", "limitranges"])]

ROLE_NAMES = {"Admin": "tenant-admin", "Member": "tenant-member", "Viewer": "tenant-viewer"}
# The operator reads the tenant's webhook HMAC Secret by name; the chart grants no Secret reads in tenant namespaces.
OPERATOR_SECRETS_ROLE = "tenant-operator-secrets"


def _rules(resources: list[tuple[str, list[str]]], verbs: list[str]) -> list[dict[str, Any]]:
    return [{"apiGroups": [group], "resources": names, "verbs": verbs} for group, names in resources]


def role_rules() -> dict[str, list[dict[str, Any]]]:
    """Admin: read, write, delete, admin. Member: read, write. Viewer: read."""
    viewer = _rules(WORKLOAD_RESOURCES, READ) + _rules(OBSERVED_RESOURCES, READ)
    member = _rules(WORKLOAD_RESOURCES, READ + WRITE) + _rules(OBSERVED_RESOURCES, READ)
    member += [{"apiGroups": [""], "resources": ["secrets"], "verbs": READ + WRITE}]
    admin = _rules(WORKLOAD_RESOURCES, READ + WRITE + DELETE) + _rules(OBSERVED_RESOURCES, READ)
    admin += [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": READ + WRITE + DELETE},
        {"apiGroups": ["apps"], "resources": ["deployments/scale", "statefulsets/scale"], "verbs": READ + WRITE},
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["roles", "rolebindings"],
            "verbs": READ + WRITE + DELETE,
        },
    ]
    return {"Admin": admin, "Member": member, "Viewer": viewer}


@dataclass
class DesiredState:
    """Everything the operator keeps for one tenant, grouped by the condition that reports it."""

    config: EffectiveConfig
    namespaces: list[dict[str, Any]]
    rbac: list[dict[str, Any]] = field(default_factory=list)
    quota: list[dict[str, Any]] = field(default_factory=list)
    network: list[dict[str, Any]] = field(default_factory=list)
    settings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def namespace_names(self) -> list[str]:
        return [ns["metadata"]["name"] for ns in self.namespaces]

    def names_of(self, kind: str, namespace: str) -> set[str]:
        objects = self.rbac + self.quota + self.network + self.settings
        return {
            obj["metadata"]["name"]
            for obj in objects
            if obj["kind"] == kind and obj["metadata"]["namespace"] == namespace
        }


def namespace_names(slug: str, spec: TenantSpec) -> list[str]:
    """The tenant's namespaces, primary first."""
    if not spec.namespaces:
        return [slug]
    return [f"{slug}-{suffix}" for suffix in spec.namespaces]


def owner_reference(tenant_name: str, tenant_uid: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Tenant",
        "name": tenant_name,
        "uid": tenant_uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_security_labels(level: str) -> dict[str, str]:
    labels = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = "latest"
    return labels


def desired_namespace(name: str, slug: str, tenant_uid: str, primary: bool, pod_security: str) -> dict[str, Any]:
    labels = {
        **managed_labels(slug),
        LABEL_PRIMARY_NAMESPACE: "true" if primary else "false",
        **pod_security_labels(pod_security),
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels, "ownerReferences": [owner_reference(slug, tenant_uid)]},
    }


def _namespaced(api_version: str, kind: str, name: str, namespace: str, slug: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": managed_labels(slug),
            "ownerReferences": [owner_reference(slug, uid)],
        },
    }


def _subject(subject: Subject) -> dict[str, str]:
    rendered = {"kind": subject.kind, "name": subject.name}
    if subject.kind == "ServiceAccount":
        rendered["namespace"] = subject.namespace or ""
    else:
        rendered["apiGroup"] = "rbac.authorization.k8s.io"
    return rendered


def rbac_objects(namespace: str, slug: str, uid: str, spec: TenantSpec) -> list[dict[str, Any]]:
    objects = []
    for role, rules in role_rules().items():
        obj = _namespaced("rbac.authorization.k8s.io/v1", "Role", ROLE_NAMES[role], namespace, slug, uid)
        obj["rules"] = rules
        objects.append(obj)
    bound = {"Admin": spec.owners, "Member": spec.members, "Viewer": spec.viewers}
    for role, subjects in bound.items():
        if subjects:
            name = f"{ROLE_NAMES[role]}s"
            binding = _namespaced("rbac.authorization.k8s.io/v1", "RoleBinding", name, namespace, slug, uid)
            binding["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE_NAMES[role]}
            binding["subjects"] = [_subject(s) for s in subjects]
            objects.append(binding)
    for extra in merged_additional_bindings(spec):
        name = f"tenant-extra-{extra['clusterRoleName']}"[:253]
        binding = _namespaced("rbac.authorization.k8s.io/v1", "RoleBinding", name, namespace, slug, uid)
        binding["roleRef"] = {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": extra["clusterRoleName"],
        }
        binding["subjects"] = extra["subjects"]
        objects.append(binding)
    return objects


def operator_secret_access(
    namespace: str, slug: str, uid: str, spec: TenantSpec, operator: dict[str, str] | None
) -> list[dict[str, Any]]:
    """get on exactly the Secrets the operator reads in the primary namespace (the webhook's HMAC key)."""
    webhook = spec.notifications.webhook if spec.notifications else None
    if operator is None or webhook is None or not webhook.secretName:
        return []
    role = _namespaced("rbac.authorization.k8s.io/v1", "Role", OPERATOR_SECRETS_ROLE, namespace, slug, uid)
    role["rules"] = [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [webhook.secretName],
                      "verbs": ["get"]}]
    binding = _namespaced("rbac.authorization.k8s.io/v1", "RoleBinding", OPERATOR_SECRETS_ROLE, namespace, slug, uid)
    binding["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": OPERATOR_SECRETS_ROLE}
    binding["subjects"] = [operator]
    return [role, binding]


def merged_additional_bindings(spec: TenantSpec) -> list[dict[str, Any]]:
    """One RoleBinding per ClusterRole, with the subjects of every entry naming it."""
    merged: dict[str, list[dict[str, str]]] = {}
    for entry in spec.additionalRoleBindings:
        subjects = merged.setdefault(entry.clusterRoleName, [])
        for subject in entry.subjects:
            rendered = _subject(subject)
            if rendered not in subjects:
                subjects.append(rendered)
    return [{"clusterRoleName": name, "subjects": subjects} for name, subjects in merged.items()]


def quota_objects(namespace: str, slug: str, uid: str, spec: TenantSpec, config: EffectiveConfig) -> list[dict]:
    compute = config.compute
    quota = _namespaced("v1", "ResourceQuota", QUOTA_NAME, namespace, slug, uid)
    quota["spec"] = {
        "hard": {
            # A suspended tenant keeps its data but may not start pods.
            "pods": "0" if spec.status == "suspended" else str(compute.pods),
            "requests.cpu": compute.requestsCpu,
            "requests.memory": compute.requestsMemory,
            "limits.cpu": compute.limitsCpu,
            "limits.memory": compute.limitsMemory,
            "requests.storage": config.storage,
            "persistentvolumeclaims": str(compute.persistentVolumeClaims),
        }
    }
    limits = _namespaced("v1", "LimitRange", LIMIT_RANGE_NAME, namespace, slug, uid)
    limits["spec"] = {
        "limits": [
            {
                "type": "Container",
                "default": {"cpu": "500m", "memory": "512Mi"},
                "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                "max": {"cpu": compute.limitsCpu, "memory": compute.limitsMemory},
            }
        ]
    }
    return [quota, limits]


def network_objects(namespace: str, slug: str, uid: str, spec: TenantSpec) -> list[dict[str, Any]]:
    isolation = spec.networkIsolation
    if isolation is not None and not isolation.enabled:
        return []
    peers: list[dict[str, Any]] = [
        {"namespaceSelector": {"matchLabels": {"tenancy.io/tenant": slug}}},
    ]
    allowed = sorted(set(isolation.allowFromNamespaces)) if isolation else []
    if allowed:
        peers.append(
            {
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": allowed}
                    ]
                }
            }
        )
    policy = _namespaced("networking.k8s.io/v1", "NetworkPolicy", NETWORK_POLICY_NAME, namespace, slug, uid)
    policy["spec"] = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": peers}]}
    return [policy]


def settings_objects(namespace: str, slug: str, uid: str, spec: TenantSpec, config: EffectiveConfig) -> list[dict]:
    config_map = _namespaced("v1", "ConfigMap", CONFIG_MAP_NAME, namespace, slug, uid)
    config_map["data"] = config_map_data(slug, spec, config)
    security = _namespaced("v1", "ConfigMap", SECURITY_POLICY_CONFIG_MAP, namespace, slug, uid)
    security["data"] = security_policy_data(config, spec.securityPolicyRef)
    return [config_map, security]


def desired_state(
    slug: str, uid: str, spec: TenantSpec, policy: SecuritySettings | None = None,
    operator: dict[str, str] | None = None,
) -> DesiredState:
    config = effective_config(spec, policy)
    names = namespace_names(slug, spec)
    state = DesiredState(
        config=config,
        namespaces=[
            desired_namespace(name, slug, uid, primary=index == 0, pod_security=config.podSecurity)
            for index, name in enumerate(names)
        ],
    )
    state.rbac += operator_secret_access(names[0], slug, uid, spec, operator)
    for namespace in names:
        state.rbac += rbac_objects(namespace, slug, uid, spec)
        state.quota += quota_objects(namespace, slug, uid, spec, config)
        state.network += network_objects(namespace, slug, uid, spec)
        state.settings += settings_objects(namespace, slug, uid, spec, config)
    return state


def stale_names(existing: list[str], desired: list[str] | set[str]) -> list[str]:
    """Objects the operator created earlier that the spec no longer asks for."""
    wanted = set(desired)
    return sorted(name for name in existing if name not in wanted)


def suspension_patch(replicas: int) -> dict[str, Any]:
    """Scale to zero, remembering the replica count on the workload itself (survives operator restarts)."""
    return {"metadata": {"annotations": {SUSPENDED_REPLICAS_ANNOTATION: str(replicas)}}, "spec": {"replicas": 0}}


def resumption_patch(annotations: dict[str, str]) -> dict[str, Any] | None:
    recorded = annotations.get(SUSPENDED_REPLICAS_ANNOTATION)
    if recorded is None:
        return None
    return {"metadata": {"annotations": {SUSPENDED_REPLICAS_ANNOTATION: None}}, "spec": {"replicas": int(recorded)}}
