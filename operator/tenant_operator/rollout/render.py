"""Pure rendering for UpdateRollout: the green Deployment and the Services' selectors. No I/O."""

from __future__ import annotations

import copy
import re
from typing import Any

from ..api import GROUP, LABEL_PRODUCT, LABEL_VERSION
from .model import UpdateRolloutSpec

HASH_LABEL = "pod-template-hash"
ROLLOUT_LABEL = f"{GROUP}/rollout"
VERSION_LABEL = LABEL_VERSION


def green_name(spec: UpdateRolloutSpec, uid: str) -> str:
    """<product>-<version>-<5 characters of the rollout's uid>: a retry of the same version gets its own."""
    version = re.sub(r"[^a-z0-9-]+", "-", spec.version.lower()).strip("-")
    return f"{f'{spec.product}-{version}'[:56].rstrip('-')}-{uid.replace('-', '')[:5]}"


def is_live(deployment: dict[str, Any]) -> bool:
    return int(deployment["spec"].get("replicas", 1)) > 0


def live_deployment(candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The product's live Deployment: among those with replicas, the most recently created."""
    live = [deployment for deployment in candidates if is_live(deployment)]
    return max(live, key=lambda d: d["metadata"].get("creationTimestamp", ""), default=None)


def green_deployment(blue: dict[str, Any], spec: UpdateRolloutSpec, rollout: str, uid: str,
                     owner: dict[str, Any]) -> dict:
    """The rollout's pod template (default: blue's) with the new image, version and labels; replicas as blue's.

    Blue's selector labels are kept on the template, so the Services that select the product select green too.
    """
    template = copy.deepcopy(spec.template or blue["spec"]["template"])
    template.setdefault("metadata", {})
    template["metadata"]["labels"] = {**template["metadata"].get("labels", {}),
                                      **blue["spec"]["selector"].get("matchLabels", {})}
    labels = {**template["metadata"].get("labels", {}), VERSION_LABEL: spec.version, ROLLOUT_LABEL: rollout,
              LABEL_PRODUCT: spec.product, **spec.podLabels}
    template["metadata"]["labels"] = labels
    containers = template["spec"]["containers"]
    target = next((c for c in containers if c["name"] == spec.container), containers[0])
    target["image"] = spec.image
    selector = {**blue["spec"]["selector"].get("matchLabels", {}), ROLLOUT_LABEL: rollout}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": green_name(spec, uid),
            "namespace": blue["metadata"]["namespace"],
            "labels": {**(blue["metadata"].get("labels") or {}), VERSION_LABEL: spec.version, ROLLOUT_LABEL: rollout,
                       LABEL_PRODUCT: spec.product},
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


def replica_failure(deployment: dict[str, Any] | None) -> str:
    """Why the Deployment cannot create pods (e.g. the tenant's quota), as the controller-manager reports it."""
    for condition in ((deployment or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return f" ({condition.get('message', condition.get('reason', ''))})"
    return ""


def _is_service_ref(ref: dict[str, Any], name: str) -> bool:
    return ref.get("name") == name and ref.get("kind", "Service") == "Service" and ref.get("group", "") in ("", "core")


def http_route_rules(route: dict[str, Any], active: str, preview: str, weight: int | None) -> list[dict[str, Any]]:
    """The route's rules with `weight`% of each rule that sends to the active Service going to the preview one.

    weight None restores the rule to the active Service alone (after completion, when it selects green, or after
    a rollback, when it selects blue). Raises ValueError when no rule sends to the active Service.
    """
    rules = copy.deepcopy(route.get("spec", {}).get("rules") or [])
    touched = False
    for rule in rules:
        refs = rule.get("backendRefs") or []
        active_ref = next((ref for ref in refs if _is_service_ref(ref, active)), None)
        if active_ref is None:
            continue
        touched = True
        others = [ref for ref in refs if not _is_service_ref(ref, active) and not _is_service_ref(ref, preview)]
        if weight is None:
            active_ref.pop("weight", None)
            rule["backendRefs"] = [active_ref, *others]
        else:
            preview_ref = {**{k: v for k, v in active_ref.items() if k != "filters"}, "name": preview,
                           "weight": weight}
            active_ref["weight"] = 100 - weight
            rule["backendRefs"] = [active_ref, preview_ref, *others]
    if not touched:
        raise ValueError(f"HTTPRoute {route['metadata']['name']} has no backendRef to Service {active}")
    return rules


def route_weight(route: dict[str, Any], preview: str) -> int | None:
    """The weight the route gives the preview Service now (None when it has no such backendRef)."""
    for rule in route.get("spec", {}).get("rules") or []:
        for ref in rule.get("backendRefs") or []:
            if _is_service_ref(ref, preview):
                return int(ref.get("weight", 1))
    return None


CANARY_ANNOTATION = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT_ANNOTATION = "nginx.ingress.kubernetes.io/canary-weight"


def canary_ingress_name(ingress: str) -> str:
    return f"{ingress[:56]}-canary"


def canary_ingress(ingress: dict[str, Any], active: str, preview: str, weight: int, rollout: str,
                   owner: dict[str, Any]) -> dict[str, Any]:
    """ingress-nginx canary: the same hosts and paths, sending `weight`% to the preview Service."""
    rules = copy.deepcopy(ingress["spec"].get("rules") or [])
    for rule in rules:
        for path in (rule.get("http") or {}).get("paths") or []:
            service = (path.get("backend") or {}).get("service") or {}
            if service.get("name") == active:
                service["name"] = preview
    spec: dict[str, Any] = {"rules": rules}
    if ingress["spec"].get("ingressClassName"):
        spec["ingressClassName"] = ingress["spec"]["ingressClassName"]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": canary_ingress_name(ingress["metadata"]["name"]),
            "namespace": ingress["metadata"]["namespace"],
            "labels": {ROLLOUT_LABEL: rollout},
            "annotations": {CANARY_ANNOTATION: "true", CANARY_WEIGHT_ANNOTATION: str(weight)},
            "ownerReferences": [owner],
        },
        "spec": spec,
    }


def traffic_summary(weight: int | None) -> str:
    if weight is None:
        return "all traffic on blue"
    return f"{weight}% of traffic on green, {100 - weight}% on blue"
