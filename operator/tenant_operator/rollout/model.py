"""The UpdateRollout API: the pydantic models are the single source of truth for the CRD and for validation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..conditions import Condition, conditions_field
from ..crdgen import CelRule, CustomResourceKind, PrinterColumn, SpecModel
from ..schedule import Approval

Phase = Literal["Pending", "Preparation", "Validation", "Paused", "TrafficSwitch", "Monitoring", "Completed",
                "RolledBack", "Failed"]
FINISHED_PHASES = ("Completed", "RolledBack", "Failed")
STARTED_PHASES = ("Preparation", "Validation", "Paused", "TrafficSwitch", "Monitoring")
CHECKED_PHASES = ("Validation", "Paused", "TrafficSwitch", "Monitoring")
Name = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
CheckName = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]


class CheckTiming(SpecModel):
    intervalSeconds: int = Field(default=5, ge=1, le=300, description="Seconds between checks.")
    failureThreshold: int = Field(default=3, ge=1, le=100, description="Consecutive failures that roll back.")


class AvailabilityCheck(CheckTiming):
    """Green counts as healthy while its Deployment reports every replica available."""

    timeoutSeconds: int = Field(default=120, ge=5, le=3600, description="How long green may take to become available.")


class HttpCheck(CheckTiming):
    """GET a URL: healthy when it answers 2xx within maxLatencyMs."""

    name: CheckName = Field(description="Name of the check, shown in status.")
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2048, description="URL to GET.")
    maxLatencyMs: int = Field(default=1000, ge=1, le=60000, description="Slowest acceptable answer.")
    timeoutSeconds: int = Field(default=5, ge=1, le=60, description="Request timeout.")


class ThresholdRange(SpecModel):
    min: float | None = Field(default=None, description="Lowest healthy value.")
    max: float | None = Field(default=None, description="Highest healthy value.")


class PrometheusCheck(CheckTiming):
    """A PromQL query whose first value must stay inside thresholdRange (e.g. an error rate under 0.05)."""

    name: CheckName = Field(description="Name of the check, shown in status.")
    address: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=2048,
                                description="Prometheus URL; default: the operator's --prometheus-url.")
    query: str = Field(min_length=1, max_length=4096, description="PromQL returning one value (scalar or vector).")
    thresholdRange: ThresholdRange = Field(description="Healthy values; a query with no data is a failure.")
    timeoutSeconds: int = Field(default=5, ge=1, le=60, description="Query timeout.")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"x-kubernetes-validations": [
        {"rule": "has(self.thresholdRange.min) || has(self.thresholdRange.max)",
         "message": "thresholdRange needs min or max"},
    ]})


class Analysis(SpecModel):
    """Checks run from green's first availability until the end of Monitoring; any one crossing its failure
    threshold rolls back."""

    availability: AvailabilityCheck = Field(default_factory=AvailabilityCheck, description="Deployment availability.")
    http: list[HttpCheck] = Field(default_factory=list, max_length=8, description="HTTP checks.",
                                  json_schema_extra={"x-kubernetes-list-type": "map",
                                                     "x-kubernetes-list-map-keys": ["name"]})
    prometheus: list[PrometheusCheck] = Field(default_factory=list, max_length=8, description="Prometheus checks.",
                                              json_schema_extra={"x-kubernetes-list-type": "map",
                                                                 "x-kubernetes-list-map-keys": ["name"]})


class TrafficStep(SpecModel):
    weight: int = Field(ge=1, le=100, description="Percent of the route's traffic on green.")
    holdSeconds: int = Field(default=30, ge=0, le=86400, description="How long the weight is held while checks run.")


class RouteRef(SpecModel):
    name: Name = Field(description="Name, in the rollout's namespace.")


class TrafficRouting(SpecModel):
    """Weighted routing between the active (blue) and preview (green) Services."""

    httpRoute: RouteRef | None = Field(default=None, description="Gateway API HTTPRoute whose backendRefs to the "
                                       "active and preview Services get the weights.")
    ingress: RouteRef | None = Field(default=None, description="ingress-nginx Ingress to the active Service; a canary "
                                     "Ingress to the preview Service carries the weight.")


def default_steps() -> list[TrafficStep]:
    return [TrafficStep(weight=10), TrafficStep(weight=50), TrafficStep(weight=100, holdSeconds=0)]


class UpdateRolloutSpec(SpecModel):
    """Move a product from its live Deployment (blue) to a new version (green), and back when green is unhealthy."""

    product: Name = Field(description="The product being updated; one rollout at a time per product and tenant.")
    version: str = Field(min_length=1, max_length=63, pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$",
                         description="Target version, e.g. 1.2.0.")
    deploymentRef: Name | None = Field(default=None, description="The live (blue) Deployment whose pod template "
                                       "green copies; default: the product's Deployment (labelled tenancy.io/product) "
                                       "with replicas.")
    image: str = Field(min_length=1, max_length=512, description="Image of the new version.")
    template: dict[str, Any] | None = Field(
        default=None, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True, "type": "object"},
        description="Pod template of green (a Deployment's spec.template); default: blue's, copied. The image goes "
                    "into the named container either way.",
    )
    container: Name | None = Field(default=None, description="Container that gets the image; default: the first.")
    podLabels: dict[str, Annotated[str, StringConstraints(max_length=63)]] = Field(
        default_factory=dict, max_length=16, description="Extra labels on green's pods."
    )
    activeService: Name = Field(description="Service whose selector moves from blue to green.")
    previewService: Name | None = Field(default=None, description="Service that selects green during the rollout; "
                                        "required with trafficRouting.")
    trafficRouting: TrafficRouting | None = Field(default=None, description="Routes weighted in steps; without it "
                                                  "traffic moves at once by the active Service's selector.")
    steps: list[TrafficStep] = Field(
        default_factory=default_steps, min_length=1, max_length=10,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["weight"],
                           "default": [step.model_dump() for step in default_steps()]},
        description="Traffic weights in increasing order, ending at 100 (default 10, 50, 100).",
    )
    approval: Approval | None = Field(default=None, description="auto, manual or majorOnly; default: the tenant's "
                                      "spec.updates.approval.")
    monitoringSeconds: int = Field(default=10, ge=0, le=86400, description="How long green is watched after the switch.")
    scaleDownDelaySeconds: int = Field(default=30, ge=0, le=86400, description="Delay before blue is scaled down.")
    analysis: Analysis = Field(default_factory=Analysis, description="Health checks that decide promotion.")
    abort: bool = Field(default=False, description="true rolls back at once: traffic returns to blue.")


SPEC_RULES = (
    CelRule("self.steps.map(s, s.weight).isSorted() && self.steps[size(self.steps) - 1].weight == 100",
            "steps: weights must increase and end at 100", ".steps"),
    CelRule("!has(self.trafficRouting) || has(self.previewService)",
            "trafficRouting needs previewService (the Service the weighted route sends to green)", ".previewService"),
    CelRule("!has(self.previewService) || self.previewService != self.activeService",
            "previewService must differ from activeService", ".previewService"),
    CelRule("!has(self.trafficRouting) || has(self.trafficRouting.httpRoute) || has(self.trafficRouting.ingress)",
            "trafficRouting needs httpRoute or ingress", ".trafficRouting"),
    CelRule("self.product == oldSelf.product && self.version == oldSelf.version && self.image == oldSelf.image "
            "&& has(self.deploymentRef) == has(oldSelf.deploymentRef) "
            "&& (!has(self.deploymentRef) || self.deploymentRef == oldSelf.deploymentRef)",
            "product, version, deploymentRef and image are immutable: create a new UpdateRollout"),
)


class CheckStatus(BaseModel):
    """The latest measurement of one check."""

    name: str = Field(description="availability, or the check's name.")
    kind: Literal["availability", "http", "prometheus"] = Field(description="Kind of check.")
    passed: bool | None = Field(default=None, description="Whether the last measurement was healthy.")
    value: str | None = Field(default=None, description="The last measurement (status and latency, or value).")
    failures: int = Field(default=0, description="Consecutive failures.")
    firstFailureAt: float | None = Field(default=None, description="When the current run of failures began (Unix s).")
    checkedAt: float | None = Field(default=None, description="When it was last measured (Unix s).")


class UpdateRolloutStatus(BaseModel):
    """Where the rollout is; the operator resumes from here after a restart."""

    observedGeneration: int | None = Field(default=None, description="The .metadata.generation last handled.")
    phase: Phase | None = Field(default=None, description="Pending, Preparation, Validation, Paused, TrafficSwitch, "
                                "Monitoring, Completed, RolledBack or Failed.")
    tenant: str | None = Field(default=None, description="The tenant that owns the namespace.")
    blueDeployment: str | None = Field(default=None, description="The live (blue) Deployment.")
    blueHash: str | None = Field(default=None, description="pod-template-hash of blue's ReplicaSet.")
    blueVersion: str | None = Field(default=None, description="Version blue runs (its app.kubernetes.io/version).")
    greenDeployment: str | None = Field(default=None, description="The green Deployment; the product's live "
                                        "Deployment once completed.")
    greenHash: str | None = Field(default=None, description="pod-template-hash of green's ReplicaSet.")
    activeHash: str | None = Field(default=None, description="The hash the active Service selects now.")
    currentStep: int | None = Field(default=None, description="Index of the traffic step in progress.")
    currentWeight: int | None = Field(default=None, description="Percent of the route's traffic on green.")
    phaseStartedAt: float | None = Field(default=None, description="When the phase or step began (Unix seconds).")
    startedAt: str | None = Field(default=None, description="When the rollout left Pending (RFC 3339).")
    finishedAt: str | None = Field(default=None, description="When it completed or rolled back (RFC 3339).")
    approvedBy: str | None = Field(default=None, description="Value of the tenancy.io/promote annotation that "
                                   "approved it.")
    failedCheck: str | None = Field(default=None, description="The check that rolled it back.")
    checks: list[CheckStatus] | None = Field(default=None, description="Latest measurement of every check.")
    message: str | None = Field(default=None, description="The last decision, for humans.")
    conditions: list[Condition] | None = conditions_field(
        "Progressing (waiting reasons: WaitingForMaintenanceWindow, Blackout, Queued, AwaitingApproval) and Ready "
        "(the rollout finished) with the outcome."
    )


UPDATE_ROLLOUT = CustomResourceKind(
    kind="UpdateRollout",
    plural="updaterollouts",
    singular="updaterollout",
    scope="Namespaced",
    short_names=("uro",),
    description="A blue/green update of a tenant's product with health analysis and automatic rollback.",
    spec_model=UpdateRolloutSpec,
    status_model=UpdateRolloutStatus,
    spec_rules=SPEC_RULES,
    printer_columns=(
        PrinterColumn("Product", "string", ".spec.product"),
        PrinterColumn("Version", "string", ".spec.version"),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Weight", "integer", ".status.currentWeight", "Percent of traffic on green"),
        PrinterColumn("Message", "string", ".status.message", priority=1),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
