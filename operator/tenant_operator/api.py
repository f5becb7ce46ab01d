"""Names shared by every resource kind: API group, labels, field manager."""

from collections.abc import Mapping
from typing import Any

GROUP = "tenancy.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

MANAGER = "tenant-operator"
FINALIZER = f"{GROUP}/finalizer"
# kopf's own bookkeeping annotations (progress of retried handlers). Under a kopf.* prefix kopf needs no marker
# annotation of its own, which cost every new object a metadata write; earlier versions used operator.tenancy.io.
KOPF_PREFIX = f"kopf.{GROUP}"
LEGACY_KOPF_PREFIX = f"operator.{GROUP}"

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_TENANT = f"{GROUP}/tenant"
LABEL_PRIMARY_NAMESPACE = f"{GROUP}/primary"
# Set on objects another kind (e.g. IpRestriction) keeps in a tenant's namespaces: the Tenant never prunes them.
LABEL_OWNER_KIND = f"{GROUP}/owner-kind"
# A workload's product and version (app.kubernetes.io/version), for rollouts and the version inventory.
LABEL_PRODUCT = f"{GROUP}/product"
LABEL_VERSION = "app.kubernetes.io/version"


def workload_version(labels: Mapping[str, str] | None, spec: Mapping[str, Any]) -> str | None:
    """A Deployment's version: its own app.kubernetes.io/version label, else its pod template's."""
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    return (labels or {}).get(LABEL_VERSION) or template_labels.get(LABEL_VERSION)


ANNOTATION_PROMOTE = f"{GROUP}/promote"  # set by `kubectl tenant rollout promote`: approves a paused rollout
# Who last changed a resource's spec, stamped at admission (from the request's userInfo) for the audit trail.
ANNOTATION_ACTOR = f"{GROUP}/last-changed-by"


def managed_labels(slug: str) -> dict[str, str]:
    """The labels every object the operator creates for a tenant carries."""
    return {LABEL_MANAGED_BY: MANAGER, LABEL_TENANT: slug}


def tenant_selector(slug: str) -> str:
    """A label selector matching exactly what the operator created for one tenant."""
    return ",".join(f"{key}={value}" for key, value in managed_labels(slug).items())


def tenant_owned_selector(slug: str) -> str:
    """What the Tenant itself keeps, without what other kinds keep for the same tenant."""
    return f"{tenant_selector(slug)},!{LABEL_OWNER_KIND}"
