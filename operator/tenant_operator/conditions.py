"""Status conditions in the Kubernetes convention (metav1.Condition), as pure functions."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(BaseModel):
    """One aspect of the resource's current state, as kubectl, Argo CD and Flux read it."""

    type: str = Field(description="Type of condition in CamelCase, e.g. Ready.", max_length=316)
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="Machine-readable CamelCase reason for the last transition.", max_length=1024)
    message: str = Field(default="", description="Human-readable details about the last transition.", max_length=32768)
    lastTransitionTime: str = Field(description="When the status last changed (RFC 3339).")
    observedGeneration: int = Field(default=0, ge=0, description="The .metadata.generation the condition was set for.")


LAST_HANDLED_FIELD = "lastHandledConfiguration"


def last_handled_field() -> Any:
    """status.lastHandledConfiguration: kopf's diff base, kept in status so it rides on the status report's write."""
    return Field(
        default=None,
        description="The spec (with labels and annotations) the operator last acted on, as JSON: how it tells "
        "what a change changed. Written by the operator.",
    )


def conditions_field(description: str) -> Any:
    """status.conditions as kubectl, Argo CD and Flux expect it: a list keyed by type."""
    return Field(
        default=None,
        description=description,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(
    conditions: list[dict],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    generation: int,
    now: str | None = None,
) -> list[dict]:
    """Returns the conditions with one set; lastTransitionTime moves only when the status changes."""
    previous = next((c for c in conditions if c.get("type") == type_), None)
    transition = now or now_rfc3339()
    if previous is not None and previous.get("status") == status:
        transition = previous.get("lastTransitionTime") or transition
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        lastTransitionTime=transition,
        observedGeneration=generation,
    ).model_dump()
    others = [c for c in conditions if c.get("type") != type_]
    return [*others, updated]


def condition_status(conditions: list[dict], type_: str) -> str | None:
    return next((c.get("status") for c in conditions if c.get("type") == type_), None)
