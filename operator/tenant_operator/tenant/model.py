"""The Tenant API: the pydantic models are the single source of truth for the CRD and for validation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..conditions import Condition, conditions_field, last_handled_field
from ..crdgen import CelRule, CustomResourceKind, PrinterColumn, SpecModel
from ..schedule import UpdatePreferences
from ..securitypolicy.model import SecuritySettings
from ..versions.inventory import VersionInventory
from .plans import CUSTOM_REQUIRED_LIMITS, FEATURES, PlanName, plans_allowing

SLUG_MAX_LENGTH = 40
NAMESPACE_SUFFIX_MAX_LENGTH = 63 - SLUG_MAX_LENGTH - 1
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
BINARY_QUANTITY = r"^[1-9][0-9]{0,5}(Ki|Mi|Gi|Ti|Pi)$"
CPU_QUANTITY = r"^([1-9][0-9]{0,4}|[1-9][0-9]{0,6}m)$"

Phase = Literal["Provisioning", "Active", "Suspended", "Failed", "Decommissioning"]

NamespaceSuffix = Annotated[
    str, StringConstraints(min_length=1, max_length=NAMESPACE_SUFFIX_MAX_LENGTH, pattern=DNS_LABEL)
]
NamespaceName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS_LABEL)]


class Subject(SpecModel):
    """A user, group or service account, as in an RBAC RoleBinding."""

    kind: Literal["User", "Group", "ServiceAccount"] = Field(description="User, Group or ServiceAccount.")
    name: str = Field(min_length=1, max_length=253, description="Name of the user, group or service account.")
    namespace: NamespaceName | None = Field(default=None, description="Namespace of a ServiceAccount.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.kind != 'ServiceAccount' || has(self.__namespace__)",
                    "message": "a ServiceAccount subject needs its namespace",
                }
            ]
        },
    )


Subjects = Annotated[list[Subject], Field(max_length=64)]


class AdditionalRoleBinding(SpecModel):
    """A binding of a ClusterRole to subjects in every tenant namespace (custom roles)."""

    clusterRoleName: str = Field(min_length=1, max_length=253, description="ClusterRole to bind.")
    subjects: list[Subject] = Field(min_length=1, max_length=64, description="Who gets the role.")


class Limits(SpecModel):
    """Overrides of the plan's limits; the custom plan takes all of them from here."""

    maxUsers: int | None = Field(default=None, ge=1, le=1_000_000, description="Most users the tenant may have.")
    storage: str | None = Field(
        default=None,
        pattern=BINARY_QUANTITY,
        description="Storage per namespace (requests.storage) and largest file upload, e.g. 10Gi.",
    )
    apiRequestsPerDay: int | None = Field(
        default=None, ge=1, le=1_000_000_000, description="API requests per day (api.rate_limit)."
    )
    pods: int | None = Field(default=None, ge=1, le=10_000, description="Pods per namespace.")
    cpu: str | None = Field(
        default=None, pattern=CPU_QUANTITY, description="CPU requests per namespace, e.g. 4 or 500m."
    )
    memory: str | None = Field(
        default=None, pattern=BINARY_QUANTITY, description="Memory requests per namespace, e.g. 8Gi."
    )
    databaseConnections: int | None = Field(
        default=None, ge=1, le=1000, description="Connection limit of the tenant's database role."
    )


class Features(SpecModel):
    """Feature flags; unset ones come from the plan. A plan only allows the features it includes."""

    biometricAuth: bool | None = Field(default=None, description="Biometric authentication.")
    aiVerification: bool | None = Field(default=None, description="AI identity verification; needs biometricAuth.")
    advancedAnalytics: bool | None = Field(default=None, description="Advanced analytics.")
    customBranding: bool | None = Field(default=None, description="Custom branding.")
    prioritySupport: bool | None = Field(default=None, description="Priority support.")


class Security(SecuritySettings):
    """Security settings of this tenant; they merge field by field over its SecurityPolicy and its plan."""


class NetworkIsolation(SpecModel):
    """Default NetworkPolicy: pods admit traffic only from the tenant's own namespaces and the listed ones."""

    enabled: bool = Field(default=True, description="false opts the tenant out of network isolation.")
    allowFromNamespaces: list[NamespaceName] = Field(
        default_factory=list,
        max_length=32,
        description="Other namespaces whose pods may connect, e.g. the ingress controller's.",
    )


class DeletionPolicy(SpecModel):
    """What a decommission keeps."""

    namespaces: Literal["Delete", "Retain"] = Field(
        default="Delete",
        description="Delete the tenant's namespaces with it, or Retain them (labels and owner removed).",
    )


class WebhookTarget(SpecModel):
    """An HTTPS endpoint that receives notifications as JSON, signed with HMAC-SHA256."""

    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2048, description="Where notifications are POSTed.")
    secretName: str | None = Field(
        default=None,
        max_length=253,
        description="Secret in the primary namespace whose key hmac-key signs each body (X-Tenant-Operator-Signature).",
    )


class Notifications(SpecModel):
    """How the tenant's admins hear about changes: e-mail and a webhook (Kubernetes Events always)."""

    emails: list[Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]] = Field(
        default_factory=list, max_length=20, description="Admin contacts' e-mail addresses."
    )
    webhook: WebhookTarget | None = Field(default=None, description="A webhook that receives notifications.")
    digest: Literal["none", "daily"] = Field(
        default="none",
        description="daily: version notices of a day reach e-mail and webhook together the next day, in one "
                    "message each (Events are immediate).",
    )


class DatabaseSpec(SpecModel):
    """A PostgreSQL database for the tenant, on a server the operator was given."""

    enabled: bool = Field(default=False, description="true provisions a database, a role and a credentials Secret.")
    serverRef: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="Name of the server's Secret in the operator's database namespace; default: the operator's.",
    )
    migrationsConfigMap: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="ConfigMap in the primary namespace whose NNNN_name.sql keys are applied after the base schema.",
    )
    deletionPolicy: Literal["Retain", "Archive", "Delete"] = Field(
        default="Retain",
        description="On decommission: Retain (login disabled), Archive (pg_dump, then drop) or Delete (drop).",
    )


class TenantSpec(SpecModel):
    """Desired state of a tenant."""

    displayName: str = Field(
        min_length=2,
        max_length=100,
        pattern=r"^[A-Za-z0-9 .-]+$",
        description="Human-readable name, 2-100 characters: letters, digits, spaces, '-' and '.'; unique.",
    )
    plan: PlanName = Field(
        default="basic",
        description="Plan that sets the tenant's defaults and quotas: basic, premium, enterprise or custom.",
    )
    status: Literal["active", "suspended"] = Field(
        default="active",
        description="suspended scales the tenant's workloads to zero and blocks new pods, keeping all data.",
    )
    namespaces: list[NamespaceSuffix] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"uniqueItems": True},
        description=(
            "Namespaces of the tenant, each named <slug>-<entry> (lowercase DNS label, at most "
            f"{NAMESPACE_SUFFIX_MAX_LENGTH} characters). Empty: one namespace named after the slug. "
            "The first one is the tenant's primary namespace."
        ),
    )
    owners: Subjects = Field(default_factory=list, description="Subjects bound to the Admin role.")
    members: Subjects = Field(default_factory=list, description="Subjects bound to the Member role.")
    viewers: Subjects = Field(default_factory=list, description="Subjects bound to the Viewer role.")
    additionalRoleBindings: list[AdditionalRoleBinding] = Field(
        default_factory=list, max_length=32, description="ClusterRoles bound in every tenant namespace."
    )
    limits: Limits | None = Field(default=None, description="Overrides of the plan's limits.")
    features: Features | None = Field(default=None, description="Feature flags over the plan's.")
    securityPolicyRef: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="Name of a SecurityPolicy shared by tenants; spec.security merges over it.",
    )
    security: Security | None = Field(default=None, description="Security settings over the policy's and plan's.")
    networkIsolation: NetworkIsolation | None = Field(default=None, description="Network isolation.")
    database: DatabaseSpec | None = Field(default=None, description="The tenant's PostgreSQL database.")
    deletionPolicy: DeletionPolicy | None = Field(default=None, description="What a decommission keeps.")
    notifications: Notifications | None = Field(default=None, description="Where notifications go.")
    updates: UpdatePreferences | None = Field(
        default=None, description="How the tenant takes product updates: approval, maintenance windows, blackouts."
    )
    preventDeletion: bool = Field(default=False, description="true refuses deleting the tenant at admission.")


class DatabaseStatus(BaseModel):
    """Where the tenant's database is; the password is only in the Secret."""

    server: str | None = Field(default=None, description="Name of the server's Secret.")
    name: str | None = Field(default=None, description="Database name (also the role name).")
    secretName: str | None = Field(default=None, description="Secret in the primary namespace with the credentials.")
    schemaVersion: str | None = Field(default=None, description="Last migration applied from each source.")
    passwordRotatedAt: str | None = Field(default=None, description="When the password was last set.")
    rotationHandled: str | None = Field(default=None, description="Last tenancy.io/rotate-db-password handled.")


class TenantStatus(BaseModel):
    """Observed state of a tenant, written by the operator."""

    observedGeneration: int | None = Field(default=None, description="The .metadata.generation last reconciled.")
    phase: Phase | None = Field(
        default=None, description="Provisioning, Active, Suspended, Failed or Decommissioning."
    )
    slug: str | None = Field(default=None, description="The tenant's slug, which names its namespaces.")
    namespaces: list[str] | None = Field(default=None, description="Namespaces the operator manages for the tenant.")
    primaryNamespace: str | None = Field(default=None, description="The tenant's primary namespace.")
    database: DatabaseStatus | None = Field(default=None, description="The tenant's database, when enabled.")
    versions: VersionInventory | None = Field(default=None, description="Products, running versions, compliance, "
                                              "pending updates and update history.")
    conditions: list[Condition] | None = conditions_field("NamespacesReady, RBACReady, QuotaReady, NetworkReady, DatabaseReady and Ready, with reasons.")
    lastHandledConfiguration: str | None = last_handled_field()


def _feature_license_rules() -> tuple[CelRule, ...]:
    rules = []
    for feature in FEATURES:
        allowed = plans_allowing(feature)
        rules.append(
            CelRule(
                rule=(
                    f"!has(self.features) || !has(self.features.{feature}) || !self.features.{feature} "
                    f"|| self.plan in {allowed!r}"
                ),
                message=f"features.{feature} is not included in this plan; plans that include it: {', '.join(allowed)}",
                field_path=f".features.{feature}",
            )
        )
    return tuple(rules)


def _custom_plan_rules() -> tuple[CelRule, ...]:
    paths = {
        "maxUsers": "self.limits.maxUsers",
        "storage": "self.limits.storage",
        "apiRequestsPerDay": "self.limits.apiRequestsPerDay",
        "sessionTimeoutSeconds": "self.security.session.timeoutSeconds",
        "passwordMinLength": "self.security.password.minLength",
    }
    rules = []
    for name in CUSTOM_REQUIRED_LIMITS:
        path = paths[name]
        parts = path.split(".")
        presence = " && ".join(f"has({'.'.join(parts[: i + 1])})" for i in range(1, len(parts)))
        field = path.removeprefix("self")
        rules.append(
            CelRule(
                rule=f"self.plan != 'custom' || ({presence})",
                message=f"the custom plan takes {field.lstrip('.')} from the spec: set it",
            )
        )
    return tuple(rules)


SPEC_RULES = (
    *_feature_license_rules(),
    CelRule(
        rule=(
            "!has(self.features) || !has(self.features.aiVerification) || !self.features.aiVerification "
            "|| !has(self.features.biometricAuth) || self.features.biometricAuth"
        ),
        message="features.aiVerification needs biometricAuth: they cannot be combined with biometricAuth: false",
        field_path=".features.aiVerification",
    ),
    *_custom_plan_rules(),
)


TENANT = CustomResourceKind(
    kind="Tenant",
    plural="tenants",
    singular="tenant",
    scope="Cluster",
    short_names=("tnt",),
    description=(
        "A tenant of the platform: its namespaces, roles, quotas, isolation and database, "
        "provisioned and kept in shape by tenant-operator."
    ),
    spec_model=TenantSpec,
    status_model=TenantStatus,
    spec_rules=SPEC_RULES,
    printer_columns=(
        PrinterColumn("Display Name", "string", ".spec.displayName"),
        PrinterColumn("Plan", "string", ".spec.plan"),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Namespaces", "string", ".status.namespaces"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
    root_rules=(
        CelRule(
            rule=f"size(self.metadata.name) <= {SLUG_MAX_LENGTH} && self.metadata.name.matches('{DNS_LABEL}')",
            message=(
                "metadata.name is the tenant's slug: lowercase letters, digits and '-', starting and ending "
                f"with a letter or digit, at most {SLUG_MAX_LENGTH} characters"
            ),
        ),
    ),
)
