"""What a tenant runs and how its updates went: the version inventory shown in the Tenant's status."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Compliance = Literal["Compliant", "InGracePeriod", "NonCompliant"]


class ProductVersion(BaseModel):
    """One product a tenant runs, with the version its live Deployment carries and its compliance."""

    product: str = Field(description="The product (the Deployment's tenancy.io/product label).")
    version: str | None = Field(default=None, description="Running version (app.kubernetes.io/version).")
    namespace: str = Field(description="Namespace of the live Deployment.")
    deployment: str = Field(description="The live Deployment.")
    compliance: Compliance = Field(default="Compliant", description="Compliant, InGracePeriod or NonCompliant.")
    reason: str | None = Field(default=None, description="Why it is not compliant (below minimum, end of life, ...).")
    endOfLife: str | None = Field(default=None, description="End-of-life date of the running version (YYYY-MM-DD).")
    graceEnds: str | None = Field(default=None, description="Last day of the grace period (YYYY-MM-DD).")
    graceDaysRemaining: int | None = Field(default=None, description="Days left in the grace period.")
    policy: str | None = Field(default=None, description="The VersionPolicy that judged it.")


class PendingUpdate(BaseModel):
    product: str = Field(description="The product being updated.")
    version: str = Field(description="Target version.")
    rollout: str = Field(description="namespace/name of the UpdateRollout.")
    phase: str | None = Field(default=None, description="Its phase.")


class UpdateRecord(BaseModel):
    product: str = Field(description="The product updated.")
    fromVersion: str | None = Field(default=None, description="Version before.")
    toVersion: str = Field(description="Target version.")
    outcome: Literal["Completed", "RolledBack", "Failed"] = Field(description="How it ended.")
    finishedAt: str | None = Field(default=None, description="When (RFC 3339).")
    rollout: str = Field(description="namespace/name of the UpdateRollout.")


class QueuedNotice(BaseModel):
    product: str = Field(description="The product.")
    version: str = Field(description="Its running version.")
    kind: str = Field(description="eol-90, end-of-life, forced-upgrade-7, final-week, ...")
    due: str = Field(description="When it was due (YYYY-MM-DD).")
    message: str = Field(description="What it says.")
    queuedOn: str = Field(description="The day it was queued (YYYY-MM-DD); it goes out the next day.")


class VersionInventory(BaseModel):
    """Tenant.status.versions."""

    compliance: Compliance = Field(default="Compliant", description="The worst compliance of the tenant's products.")
    products: list[ProductVersion] = Field(default_factory=list, description="Products and running versions.")
    pendingUpdates: list[PendingUpdate] = Field(default_factory=list, description="Unfinished UpdateRollouts.")
    updateHistory: list[UpdateRecord] = Field(default_factory=list, description="The last finished UpdateRollouts, "
                                              "newest first (at most 20).")
    updateSuccessRate: float | None = Field(default=None, description="Share of finished rollouts that completed.")
    digest: list[QueuedNotice] | None = Field(default=None, description="Notices waiting for the tenant's daily "
                                              "digest.")
    noticesSent: dict[str, list[str]] | None = Field(default=None, description="Per product, the version notices "
                                                     "already handled, so none is sent twice.")

