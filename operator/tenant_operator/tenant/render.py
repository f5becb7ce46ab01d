"""Pure rendering for Tenant: spec in, desired Kubernetes objects out. No I/O."""

from __future__ import annotations

from typing import Any

from ..api import API_VERSION, LABEL_PRIMARY_NAMESPACE, managed_labels
from .model import TenantSpec


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


def desired_namespace(name: str, slug: str, tenant_uid: str, primary: bool) -> dict[str, Any]:
    labels = {**managed_labels(slug), LABEL_PRIMARY_NAMESPACE: "true" if primary else "false"}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": labels,
            "ownerReferences": [owner_reference(slug, tenant_uid)],
        },
    }


def desired_namespaces(slug: str, tenant_uid: str, spec: TenantSpec) -> list[dict[str, Any]]:
    names = namespace_names(slug, spec)
    return [desired_namespace(name, slug, tenant_uid, primary=index == 0) for index, name in enumerate(names)]


def stale_namespaces(existing: list[str], desired: list[str]) -> list[str]:
    """Namespaces the operator created earlier that the spec no longer lists."""
    wanted = set(desired)
    return sorted(name for name in existing if name not in wanted)
