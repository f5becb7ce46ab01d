"""The FleetUpdate API: one product moved to a new version across tenants, in staged waves of UpdateRollouts.

Who is updated: the tenants named in spec.tenants (or every tenant running the product), one target per namespace
whose live Deployment of the product is not on the version yet. When: wave by wave, in the order listed; a wave
starts once the one before has finished. Within and across waves, tenants with a higher priority go first.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..conditions import Condition, conditions_field
from ..crdgen import CelRule, CustomResourceKind, PrinterColumn, SpecModel
from ..rollout.model import Analysis, Name, TrafficRouting, TrafficStep

FleetPhase = Literal["Pending", "Progressing", "Completed", "Stopped"]
FINISHED_PHASES = ("Completed", "Stopped")
# Waiting: no UpdateRollout yet; the others are the UpdateRollout's own phases.
TargetPhase = Literal["Waiting", "Pending", "Preparation", "Validation", "Paused", "TrafficSwitch", "Monitoring",
                      "Completed", "RolledBack", "Failed"]
TARGET_SUCCEEDED = ("Completed",)
TARGET_FAILED = ("RolledBack", "Failed")
Version = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$")]


class Wave(SpecModel):
    """One stage: the tenants it names, or a share of the targets the earlier waves left."""

    name: Name = Field(description="Name of the wave, shown in status.")
    tenants: list[Name] = Field(default_factory=list, max_length=1000, json_schema_extra={"uniqueItems": True},
                                description="Tenants in this wave (all their target namespaces); a tenant an "
                                "earlier wave took stays there.")
    percent: int | None = Field(default=None, ge=1, le=100,
                                description="Percent of the targets not taken by earlier waves (rounded up), the "
                                "highest priorities first.")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"x-kubernetes-validations": [
        {"rule": "has(self.percent) != (has(self.tenants) && size(self.tenants) > 0)",
         "message": "a wave takes either tenants or percent"},
    ]})


def default_waves() -> list[Wave]:
    return [Wave(name="all", percent=100)]


class FleetUpdateSpec(SpecModel):
    """Update a product to one version for many tenants: an UpdateRollout per target namespace, wave by wave, at
    most maxConcurrent at once; stop when too many of a wave's rollouts fail."""

    product: Name = Field(description="The product (Deployments labelled tenancy.io/product).")
    version: Version = Field(description="Target version, e.g. 1.2.0.")
    image: str = Field(min_length=1, max_length=512, description="Image of the new version.")
    container: Name | None = Field(default=None, description="Container that gets the image; default: the first.")
    tenants: list[Name] = Field(default_factory=list, max_length=1000, json_schema_extra={"uniqueItems": True},
                                description="Tenants to update; empty: every tenant running the product. Namespaces "
                                "already on the version are skipped.")
    priorities: dict[str, Annotated[int, Field(ge=-1000, le=1000)]] = Field(
        default_factory=dict, max_length=1000,
        description="Tenant name to priority (default 0): higher goes first, into percent waves and within a wave; "
        "ties by tenant name.")
    waves: list[Wave] = Field(
        default_factory=default_waves, min_length=1, max_length=20,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                           "default": [wave.model_dump(exclude_defaults=True) for wave in default_waves()]},
        description="Stages in order (default: one wave, all). Every target is updated: the last wave also takes "
        "whatever the earlier waves left.")
    maxConcurrent: int = Field(default=5, ge=1, le=500,
                               description="Unfinished UpdateRollouts at once across the fleet (queued ones count).")
    failureThreshold: int = Field(default=20, ge=0, le=100,
                                  description="Percent of a wave's targets whose rollouts may roll back or fail; "
                                  "more stops the update: no further rollouts start, running ones finish.")
    paused: bool = Field(default=False, description="true starts no new rollouts; running ones finish.")
    activeService: Name | None = Field(default=None, description="Service whose selector moves from blue to green; "
                                       "default: the product name.")
    previewService: Name | None = Field(default=None, description="Service that selects green during each rollout; "
                                        "required with trafficRouting.")
    trafficRouting: TrafficRouting | None = Field(default=None, description="Weighted routes, per rollout.")
    steps: list[TrafficStep] | None = Field(
        default=None, min_length=1, max_length=10,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["weight"]},
        description="Traffic weights in increasing order, ending at 100; default: the UpdateRollout's.")
    analysis: Analysis | None = Field(default=None, description="Health checks of each rollout; default: the "
                                      "UpdateRollout's.")
    podLabels: dict[str, Annotated[str, StringConstraints(max_length=63)]] = Field(
        default_factory=dict, max_length=16, description="Extra labels on green's pods.")
    monitoringSeconds: int | None = Field(default=None, ge=0, le=86400, description="How long green is watched "
                                          "after the switch; default: the UpdateRollout's.")
    scaleDownDelaySeconds: int | None = Field(default=None, ge=0, le=86400, description="Delay before blue is "
                                              "scaled down; default: the UpdateRollout's.")

    @property
    def active_service(self) -> str:
        return self.activeService or self.product


SPEC_RULES = (
    CelRule("!has(self.steps) || (self.steps.map(s, s.weight).isSorted() "
            "&& self.steps[size(self.steps) - 1].weight == 100)",
            "steps: weights must increase and end at 100", ".steps"),
    CelRule("!has(self.trafficRouting) || has(self.previewService)",
            "trafficRouting needs previewService (the Service the weighted route sends to green)", ".previewService"),
    CelRule("!has(self.previewService) || self.previewService != "
            "(has(self.activeService) ? self.activeService : self.product)",
            "previewService must differ from activeService", ".previewService"),
    CelRule("!has(self.trafficRouting) || has(self.trafficRouting.httpRoute) || has(self.trafficRouting.ingress)",
            "trafficRouting needs httpRoute or ingress", ".trafficRouting"),
    CelRule("self.product == oldSelf.product && self.version == oldSelf.version && self.image == oldSelf.image",
            "product, version and image are immutable: create a new FleetUpdate"),
    CelRule("(has(self.tenants) ? self.tenants : []) == (has(oldSelf.tenants) ? oldSelf.tenants : []) "
            "&& self.waves == oldSelf.waves "
            "&& (has(self.priorities) ? self.priorities : {}) == (has(oldSelf.priorities) ? oldSelf.priorities : {})",
            "tenants, waves and priorities are fixed when the update starts: create a new FleetUpdate"),
)


class WaveProgress(BaseModel):
    name: str = Field(description="The wave.")
    targets: int = Field(default=0, description="Target namespaces in the wave.")
    completed: int = Field(default=0, description="Rollouts completed.")
    failed: int = Field(default=0, description="Rollouts rolled back or failed.")
    running: int = Field(default=0, description="Rollouts not finished yet (queued ones included).")
    waiting: int = Field(default=0, description="Targets with no rollout yet.")


class TargetStatus(BaseModel):
    """One tenant namespace being updated."""

    tenant: str = Field(description="The tenant.")
    namespace: str = Field(description="Namespace of the product's live Deployment.")
    wave: str = Field(description="The wave it belongs to.")
    rollout: str = Field(description="Name of its UpdateRollout (in the namespace).")
    fromVersion: str | None = Field(default=None, description="The version it ran when the update started.")
    phase: TargetPhase = Field(default="Waiting", description="Waiting (no rollout yet), or the rollout's phase.")
    message: str | None = Field(default=None, description="Why it failed without a rollout, if it did.")


class Totals(BaseModel):
    targets: int = Field(default=0, description="Target namespaces.")
    completed: int = Field(default=0, description="Rollouts completed.")
    failed: int = Field(default=0, description="Rollouts rolled back or failed.")
    running: int = Field(default=0, description="Rollouts not finished yet.")
    waiting: int = Field(default=0, description="Targets with no rollout yet.")
    upToDate: int = Field(default=0, description="Namespaces already on the version when the update started "
                          "(skipped).")


class FleetUpdateStatus(BaseModel):
    """Targets and waves are fixed when the update starts; the operator resumes from here after a restart."""

    observedGeneration: int | None = Field(default=None, description="The .metadata.generation last handled.")
    phase: FleetPhase | None = Field(default=None, description="Pending, Progressing, Completed or Stopped.")
    currentWave: str | None = Field(default=None, description="The wave in progress (the failing one once stopped).")
    progress: str | None = Field(default=None, description="Summary, e.g. '3/10 completed, 1 failed, 2 running'.")
    waves: list[WaveProgress] | None = Field(default=None, description="Progress of every wave, in order.")
    targets: list[TargetStatus] | None = Field(default=None, description="Every target namespace, in start order.")
    totals: Totals | None = Field(default=None, description="Progress across all waves.")
    startedAt: str | None = Field(default=None, description="When the targets were chosen (RFC 3339).")
    finishedAt: str | None = Field(default=None, description="When it completed or stopped (RFC 3339).")
    message: str | None = Field(default=None, description="The last decision, for humans.")
    conditions: list[Condition] | None = conditions_field(
        "Ready (True once completed; False with reason FailureThreshold once stopped) and Progressing (False while "
        "paused or finished)."
    )


FLEET_UPDATE = CustomResourceKind(
    kind="FleetUpdate",
    plural="fleetupdates",
    singular="fleetupdate",
    scope="Cluster",
    short_names=("fu",),
    description="A product updated across tenants in staged waves of UpdateRollouts, with a concurrency limit and "
    "a stop when a wave's failure rate crosses a threshold.",
    spec_model=FleetUpdateSpec,
    status_model=FleetUpdateStatus,
    spec_rules=SPEC_RULES,
    printer_columns=(
        PrinterColumn("Product", "string", ".spec.product"),
        PrinterColumn("Version", "string", ".spec.version"),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Wave", "string", ".status.currentWave", "The wave in progress"),
        PrinterColumn("Progress", "string", ".status.progress"),
        PrinterColumn("Message", "string", ".status.message", priority=1),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
