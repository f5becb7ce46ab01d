"""Pure rendering for UpdateRollout: the green Deployment and the Services' selectors. No I/O."""

from __future__ import annotations

import copy
import re
from typing import Any

from .model import UpdateRolloutSpec

HASH_LABEL = "pod-template-hash"
ROLLOUT_LABEL = "tenancy.io/rollout"
VERSION_LABEL = "app.kubernetes.io/version"


def green_name(spec: UpdateRolloutSpec) -> str:
    version = re.sub(r"[^a-z0-9-]+", "-", spec.version.lower()).strip("-")
    return f"{spec.deploymentRef}-{version}"[:63].rstrip("-")


def green_deployment(blue: dict[str, Any], spec: UpdateRolloutSpec, rollout: str, owner: dict[str, Any]) -> dict:
    """Blue's pod template with the new image, version and labels; replicas as blue's."""
    template = copy.deepcopy(blue["spec"]["template"])
    labels = {**template["metadata"].get("labels", {}), VERSION_LABEL: spec.version, ROLLOUT_LABEL: rollout,
              **spec.podLabels}
    template["metadata"]["labels"] = labels
    containers = template["spec"]["containers"]
    target = next((c for c in containers if c["name"] == spec.container), containers[0])
    target["image"] = spec.image
    selector = {**blue["spec"]["selector"].get("matchLabels", {}), ROLLOUT_LABEL: rollout}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": green_name(spec),
            "namespace": blue["metadata"]["namespace"],
            "labels": {VERSION_LABEL: spec.version, ROLLOUT_LABEL: rollout},
            "ownerReferences": [owner],
        },
        "spec": {
            "replicas": blue["spec"].get("replicas", 1),
            "selector": {"matchLabels": selector},
            "template": template,
        },
    }


def selector_patch(service: dict[str, Any], pod_hash: str) -> dict[str, Any]:
    """The Service's selector narrowed to one ReplicaSet, as Argo Rollouts does with pod-template-hash."""
    selector = {**(service["spec"].get("selector") or {}), HASH_LABEL: pod_hash}
    return {"spec": {"selector": selector}}


def available(deployment: dict[str, Any] | None) -> bool:
    """Every desired replica updated, ready and available, for the Deployment's current generation."""
    if not deployment:
        return False
    status = deployment.get("status") or {}
    desired = deployment["spec"].get("replicas", 1)
    return (
        status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
        and status.get("updatedReplicas", 0) == desired
        and status.get("availableReplicas", 0) == desired
        and status.get("readyReplicas", 0) == desired
    )
