"""The Tenant API: the pydantic models are the single source of truth for the CRD and for validation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..conditions import Condition
from ..crdgen import CelRule, CustomResourceKind, PrinterColumn

SLUG_MAX_LENGTH = 40
NAMESPACE_SUFFIX_MAX_LENGTH = 63 - SLUG_MAX_LENGTH - 1
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

Plan = Literal["basic", "premium", "enterprise", "custom"]
Phase = Literal["Provisioning", "Active", "Suspended", "Failed", "Decommissioning"]

NamespaceSuffix = Annotated[
    str,
    StringConstraints(min_length=1, max_length=NAMESPACE_SUFFIX_MAX_LENGTH, pattern=DNS_LABEL),
]


class TenantSpec(BaseModel):
    """Desired state of a tenant."""

    model_config = ConfigDict(extra="forbid")

    displayName: str = Field(
        min_length=2,
        max_length=100,
        pattern=r"^[A-Za-z0-9 .-]+$",
        description="Human-readable name, 2-100 characters: letters, digits, spaces, '-' and '.'.",
    )
    plan: Plan = Field(
        default="basic",
        description="Plan that sets the tenant's defaults and quotas: basic, premium, enterprise or custom.",
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


class TenantStatus(BaseModel):
    """Observed state of a tenant, written by the operator."""

    observedGeneration: int | None = Field(default=None, description="The .metadata.generation last reconciled.")
    phase: Phase | None = Field(
        default=None, description="Provisioning, Active, Suspended, Failed or Decommissioning."
    )
    slug: str | None = Field(default=None, description="The tenant's slug, which names its namespaces.")
    namespaces: list[str] | None = Field(default=None, description="Namespaces the operator manages for the tenant.")
    primaryNamespace: str | None = Field(default=None, description="The tenant's primary namespace.")
    conditions: list[Condition] | None = Field(
        default=None,
        description="Current state in machine-readable form: NamespacesReady and Ready.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
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
    printer_columns=(
        PrinterColumn("Display Name", "string", ".spec.displayName"),
        PrinterColumn("Plan", "string", ".spec.plan"),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Namespaces", "string", ".status.namespaces", priority=1),
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
