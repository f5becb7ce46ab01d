"""The IpRestriction API: the pydantic models are the single source of truth for the CRD schema.

The CRD bounds sizes; the full rules (valid addresses, duplicates, overlaps, block-list conflicts) run in the
operator's validating webhook, with the IP-restriction process's error body.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from ..conditions import Condition, conditions_field, last_handled_field
from ..crdgen import CelRule, CustomResourceKind, PrinterColumn, SpecModel

Entry = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class IpRestrictionSpec(SpecModel):
    """Who may reach the tenant's workloads: allowed addresses and ranges, minus the block list."""

    tenantRef: str = Field(min_length=1, max_length=63, description="The Tenant these restrictions apply to.")
    enabled: bool = Field(default=True, description="false removes the operator's restrictions and nothing else.")
    allowedIPs: list[Entry] = Field(
        default_factory=list, max_length=256, description="Allowed addresses or CIDRs, IPv4 or IPv6."
    )
    allowedRanges: list[Entry] = Field(
        default_factory=list, max_length=256, description="Allowed CIDR ranges, IPv4 or IPv6."
    )
    blockList: list[Entry] = Field(
        default_factory=list,
        max_length=256,
        description="Blocked addresses or CIDRs; an entry inside an allowed range is an exception to it.",
    )


class ListChange(BaseModel):
    added: list[str] = Field(default_factory=list, description="Entries the last update added.")
    removed: list[str] = Field(default_factory=list, description="Entries the last update removed.")


class Changes(BaseModel):
    allowedIPs: ListChange | None = Field(default=None, description="Changes to allowedIPs.")
    allowedRanges: ListChange | None = Field(default=None, description="Changes to allowedRanges.")
    blockList: ListChange | None = Field(default=None, description="Changes to blockList.")


class IpRestrictionStatus(BaseModel):
    """Observed state: where the restrictions are enforced and what the last update changed."""

    observedGeneration: int | None = Field(default=None, description="The .metadata.generation last enforced.")
    updatedAt: str | None = Field(default=None, description="When the last update was enforced.")
    changes: Changes | None = Field(default=None, description="What the last update added and removed, per list.")
    namespaces: list[str] | None = Field(default=None, description="Tenant namespaces with the NetworkPolicy.")
    ingresses: int | None = Field(default=None, description="Ingresses carrying the source-range annotations.")
    conditions: list[Condition] | None = conditions_field("Ready, and NotificationsSent.")
    lastHandledConfiguration: str | None = last_handled_field()


IP_RESTRICTION = CustomResourceKind(
    kind="IpRestriction",
    plural="iprestrictions",
    singular="iprestriction",
    scope="Cluster",
    short_names=("iprs",),
    description="IP restrictions of one tenant, enforced with NetworkPolicy ipBlocks and ingress-nginx annotations.",
    spec_model=IpRestrictionSpec,
    status_model=IpRestrictionStatus,
    printer_columns=(
        PrinterColumn("Tenant", "string", ".spec.tenantRef"),
        PrinterColumn("Enabled", "boolean", ".spec.enabled"),
        PrinterColumn("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Updated", "date", ".status.updatedAt"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
    root_rules=(
        CelRule(
            rule="self.metadata.name == self.spec.tenantRef",
            message="an IpRestriction is named after its tenant: metadata.name must equal spec.tenantRef",
        ),
    ),
)
