"""The UpdateRollout API: the pydantic models are the single source of truth for the CRD and for validation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from ..conditions import Condition, conditions_field
from ..crdgen import CustomResourceKind, PrinterColumn, SpecModel

Phase = Literal["Preparation", "Validation", "TrafficSwitch", "Monitoring", "Completed", "RolledBack", "Failed"]
FINISHED_PHASES = ("Completed", "RolledBack", "Failed")
Name = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]


class AvailabilityCheck(SpecModel):
    """Green counts as healthy while its Deployment reports every replica available."""

    intervalSeconds: int = Field(default=5, ge=1, le=300, description="Seconds between checks.")
    failureThreshold: int = Field(default=3, ge=1, le=100, description="Consecutive failures that roll back.")
    timeoutSeconds: int = Field(default=120, ge=5, le=3600, description="How long green may take to become available.")


class Analysis(SpecModel):
    availability: AvailabilityCheck = Field(default_factory=AvailabilityCheck, description="Deployment availability.")


class UpdateRolloutSpec(SpecModel):
    """Move a product from its live Deployment (blue) to a new version (green), and back when green is unhealthy."""

    product: Name = Field(description="The product being updated; one rollout at a time per product and tenant.")
    version: str = Field(min_length=1, max_length=63, pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$",
                         description="Target version, e.g. 1.2.0.")
    deploymentRef: Name = Field(description="The live (blue) Deployment whose pod template green copies.")
    image: str = Field(min_length=1, max_length=512, description="Image of the new version.")
    container: Name | None = Field(default=None, description="Container that gets the image; default: the first.")
    podLabels: dict[str, Annotated[str, StringConstraints(max_length=63)]] = Field(
        default_factory=dict, max_length=16, description="Extra labels on green's pods."
    )
    activeService: Name = Field(description="Service whose selector moves from blue to green.")
    previewService: Name | None = Field(default=None, description="Service that selects green during the rollout.")
    monitoringSeconds: int = Field(default=10, ge=0, le=86400, description="How long green is watched after the switch.")
    scaleDownDelaySeconds: int = Field(default=30, ge=0, le=86400, description="Delay before blue is scaled down.")
    analysis: Analysis = Field(default_factory=Analysis, description="Health checks that decide promotion.")
    abort: bool = Field(default=False, description="true rolls back at once: traffic returns to blue.")


class UpdateRolloutStatus(BaseModel):
    """Where the rollout is; the operator resumes from here after a restart."""

    observedGeneration: int | None = Field(default=None, description="The .metadata.generation last handled.")
    phase: Phase | None = Field(default=None, description="Preparation, Validation, TrafficSwitch, Monitoring, "
                                "Completed, RolledBack or Failed.")
    blueHash: str | None = Field(default=None, description="pod-template-hash of blue's ReplicaSet.")
    greenDeployment: str | None = Field(default=None, description="The green Deployment.")
    greenHash: str | None = Field(default=None, description="pod-template-hash of green's ReplicaSet.")
    activeHash: str | None = Field(default=None, description="The hash the active Service selects now.")
    failures: int | None = Field(default=None, description="Consecutive failed checks.")
    phaseStartedAt: float | None = Field(default=None, description="When the phase began (Unix seconds).")
    message: str | None = Field(default=None, description="The last decision, for humans.")
    conditions: list[Condition] | None = conditions_field("Ready (the rollout finished) with the outcome.")


UPDATE_ROLLOUT = CustomResourceKind(
    kind="UpdateRollout",
    plural="updaterollouts",
    singular="updaterollout",
    scope="Namespaced",
    short_names=("uro",),
    description="A blue/green update of a tenant's product with health analysis and automatic rollback.",
    spec_model=UpdateRolloutSpec,
    status_model=UpdateRolloutStatus,
    printer_columns=(
        PrinterColumn("Product", "string", ".spec.product"),
        PrinterColumn("Version", "string", ".spec.version"),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Message", "string", ".status.message", priority=1),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
