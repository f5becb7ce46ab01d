"""The VersionPolicy API: which versions of a product tenants may run, until when, and what happens after."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..conditions import Condition, conditions_field
from ..crdgen import CustomResourceKind, PrinterColumn, SpecModel

Name = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
Version = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[vV]?[0-9]+(\.[0-9]+)*([-+][0-9A-Za-z.-]+)?$")]
VersionPrefix = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[vV]?[0-9]+(\.[0-9]+)*$")]
Action = Literal["Notify", "ForceUpgrade", "BlockDeployments", "RestrictAccess"]


class EndOfLife(SpecModel):
    """The day a version line stops being supported: "1.4" covers 1.4.x, "1" covers every 1.x."""

    version: VersionPrefix = Field(description="A version or a prefix of versions.")
    date: dt.date = Field(description="End-of-life date (YYYY-MM-DD).")


class GraceOverride(SpecModel):
    tenant: Name = Field(description="Tenant name.")
    gracePeriodDays: int = Field(ge=0, le=365, description="Days after end of life before enforcement.")


class Extension(SpecModel):
    """An extension request an admin approved: the tenant's grace runs until `until`."""

    tenant: Name = Field(description="Tenant name.")
    until: dt.date = Field(description="Last day of the extended grace period.")
    approvedBy: str = Field(min_length=1, max_length=253, description="Who approved it.")
    reason: str = Field(default="", max_length=512, description="Why.")


class Enforcement(SpecModel):
    """What happens when the grace period is over (notices are always sent)."""

    action: Action = Field(default="Notify", description="Notify; ForceUpgrade: an UpdateRollout to targetVersion "
                           "(it waits for the tenant's maintenance window and approval); BlockDeployments: new "
                           "Deployments of end-of-life versions are refused at admission; RestrictAccess: a "
                           "NetworkPolicy stops all ingress to the product's pods until it complies.")
    targetVersion: Version | None = Field(default=None, description="Version a forced upgrade goes to.")
    image: str | None = Field(default=None, max_length=512, pattern=r"\{version\}",
                              description="Image of the forced upgrade, with {version}, e.g. registry/shop:{version}.")
    activeService: Name | None = Field(default=None, description="Service of the product; default: the product name.")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"x-kubernetes-validations": [
        {"rule": "self.action != 'ForceUpgrade' || (has(self.targetVersion) && has(self.image))",
         "message": "ForceUpgrade needs targetVersion and image"},
    ]})


class NoticeSchedule(SpecModel):
    daysBeforeEndOfLife: list[Annotated[int, Field(ge=1, le=730)]] = Field(
        default_factory=lambda: [90, 30], max_length=8, description="Notices this many days before end of life.")
    daysBeforeForcedUpgrade: int = Field(default=7, ge=1, le=90, description="Notice before a forced upgrade.")
    dailyInFinalWeek: bool = Field(default=True, description="A reminder every day of the grace period's last week.")


class VersionPolicySpec(SpecModel):
    """Supported versions of one product, for every tenant or the ones named."""

    product: Name = Field(description="The product (Deployments labelled tenancy.io/product).")
    tenants: list[Name] = Field(default_factory=list, max_length=1000, json_schema_extra={"uniqueItems": True},
                                description="Tenants it applies to; empty: every tenant.")
    minimumVersion: Version | None = Field(default=None, description="Versions below are non-compliant at once.")
    maximumVersion: Version | None = Field(default=None, description="Versions above are non-compliant at once.")
    endOfLife: list[EndOfLife] = Field(default_factory=list, max_length=100, description="End-of-life dates.")
    gracePeriodDays: int = Field(default=30, ge=0, le=365, description="Days after end of life before enforcement.")
    graceOverrides: list[GraceOverride] = Field(default_factory=list, max_length=1000,
                                                description="Per-tenant grace periods.")
    extensions: list[Extension] = Field(default_factory=list, max_length=1000, description="Approved extensions.")
    enforcement: Enforcement = Field(default_factory=Enforcement, description="What happens after the grace period.")
    notices: NoticeSchedule = Field(default_factory=NoticeSchedule, description="When tenants are told.")


class ExtensionRequest(BaseModel):
    """A tenant's request (annotation tenancy.io/extension-request.<product>: "YYYY-MM-DD: reason")."""

    tenant: str = Field(description="The tenant asking.")
    until: str = Field(description="Last day of grace asked for.")
    reason: str = Field(default="", description="Why.")
    state: Literal["Pending", "Approved", "Invalid"] = Field(description="Approved once spec.extensions grants it.")


class VersionPolicyStatus(BaseModel):
    observedGeneration: int | None = Field(default=None, description="The .metadata.generation last evaluated.")
    tenants: int | None = Field(default=None, description="Tenants running the product.")
    compliant: int | None = Field(default=None, description="Of those, compliant.")
    inGracePeriod: int | None = Field(default=None, description="Of those, in their grace period.")
    nonCompliant: int | None = Field(default=None, description="Of those, non-compliant.")
    evaluatedAt: str | None = Field(default=None, description="When (RFC 3339, the operator's calendar).")
    extensionRequests: list[ExtensionRequest] | None = Field(default=None, description="Tenants' extension requests "
                                                             "and whether an admin approved them.")
    conditions: list[Condition] | None = conditions_field("Ready once evaluated.")


VERSION_POLICY = CustomResourceKind(
    kind="VersionPolicy",
    plural="versionpolicies",
    singular="versionpolicy",
    scope="Cluster",
    short_names=("vp",),
    description="Supported versions, end-of-life dates, grace periods and enforcement for a product.",
    spec_model=VersionPolicySpec,
    status_model=VersionPolicyStatus,
    printer_columns=(
        PrinterColumn("Product", "string", ".spec.product"),
        PrinterColumn("Action", "string", ".spec.enforcement.action"),
        PrinterColumn("Tenants", "integer", ".status.tenants"),
        PrinterColumn("Compliant", "integer", ".status.compliant"),
        PrinterColumn("In Grace", "integer", ".status.inGracePeriod"),
        PrinterColumn("Non-compliant", "integer", ".status.nonCompliant"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
