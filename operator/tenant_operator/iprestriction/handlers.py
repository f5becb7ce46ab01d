"""kopf handlers for IpRestriction: validate at admission, enforce in the tenant's namespaces, report, notify."""

from __future__ import annotations

import json
from typing import Any

import kopf

from .. import kube
from ..api import ANNOTATION_ACTOR, API_VERSION, GROUP, LABEL_TENANT, VERSION
from ..audit import audit
from ..conditions import now_rfc3339, set_condition
from ..metrics import track_reconcile
from ..notifications.deliver import notify_tenant_admins
from . import render
from .validation import LISTS, list_changes, validate

TENANT_RETRY_SECONDS = 15
NAMESPACES_ANNOTATION = f"{GROUP}/tenant-namespaces"


@kopf.on.validate(GROUP, VERSION, "iprestrictions", operations=["CREATE", "UPDATE"], id="validate-ip-restrictions")
async def validate_ip_restrictions(spec: kopf.Spec, **_: Any) -> None:
    result = validate(dict(spec))
    if not result.ok:
        raise kopf.AdmissionError(json.dumps(result.response(), sort_keys=True), code=422)


@kopf.index("", "v1", "namespaces", labels={LABEL_TENANT: kopf.PRESENT})
async def tenant_of_namespace(name: str, labels: kopf.Labels, **_: Any) -> dict[str, str]:
    return {name: labels[LABEL_TENANT]}


def tenant_namespaces(tenant: dict[str, Any] | None) -> list[str]:
    """From the Tenant's spec, not its status: a namespace being added is enforced as soon as it exists."""
    if tenant is None:
        return []
    from ..tenant.model import TenantSpec
    from ..tenant.render import namespace_names

    return namespace_names(tenant["metadata"]["name"], TenantSpec.model_validate(tenant.get("spec") or {}))


def owner(body: kopf.Body) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "IpRestriction", "name": body.metadata.name,
            "uid": body.metadata.uid, "controller": True, "blockOwnerDeletion": True}


async def apply_ingress_annotations(namespace: str, name: str, uid: str, annotations: dict[str, str]) -> None:
    try:
        await kube.apply(render.ingress_patch(name, namespace, uid, annotations))
    except (kube.NotFoundError, kube.ConflictError):
        pass  # the Ingress went away meanwhile


async def sync_ingresses(namespaces: list[str], spec: dict[str, Any] | None) -> int:
    annotations = render.ingress_annotations(spec)
    count = 0
    for namespace in namespaces:
        for ingress in await kube.list_objects("networking.k8s.io/v1", "Ingress", namespace=namespace):
            metadata = ingress["metadata"]
            await apply_ingress_annotations(namespace, metadata["name"], metadata["uid"], annotations)
            count += 1
    return count


async def enforce(body: kopf.Body, spec: dict[str, Any], namespaces: list[str], slug: str) -> int:
    if spec.get("enabled", True):
        policies = [render.network_policy(ns, slug, owner(body), spec) for ns in namespaces]
        await kube.gather_limited(kube.apply(policy) for policy in policies)
    else:
        await kube.gather_limited(
            kube.delete("networking.k8s.io/v1", "NetworkPolicy", render.POLICY_NAME, ns) for ns in namespaces
        )
    return await sync_ingresses(namespaces, spec)


@kopf.on.resume(GROUP, VERSION, "iprestrictions")
@kopf.on.create(GROUP, VERSION, "iprestrictions")
@kopf.on.update(GROUP, VERSION, "iprestrictions")
async def enforce_ip_restrictions(
    name: str,
    body: kopf.Body,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    old: Any,
    new: Any,
    reason: kopf.Reason,
    patch: kopf.Patch,
    **_: Any,
) -> None:
    with track_reconcile("IpRestriction"):
        generation = int(meta.get("generation") or 0)
        conditions = list(status.get("conditions") or [])
        tenant = await kube.get(API_VERSION, "Tenant", spec["tenantRef"])
        namespaces = tenant_namespaces(tenant)
        try:
            ingresses = await enforce(body, dict(spec), namespaces, spec["tenantRef"]) if namespaces else None
        except kube.NotFoundError:
            ingresses = None
        if ingresses is None:
            message = f"tenant {spec['tenantRef']} or its namespaces not found yet"
            patch.status["conditions"] = set_condition(conditions, "Ready", "False", "TenantNotReady", message,
                                                       generation)
            raise kopf.TemporaryError(message, delay=TENANT_RETRY_SECONDS)
        state = "enforced" if spec.get("enabled", True) else "disabled"
        conditions = set_condition(conditions, "Ready", "True", state.capitalize(),
                                   f"{state} in {len(namespaces)} namespace(s), {ingresses} ingress(es)", generation)
        patch.status.update({"observedGeneration": generation, "namespaces": namespaces, "ingresses": ingresses})
        spec_changed = reason == kopf.Reason.CREATE or (
            reason == kopf.Reason.UPDATE and (old or {}).get("spec") != (new or {}).get("spec")
        )
        if spec_changed:
            before = dict((old or {}).get("spec") or {}) if reason == kopf.Reason.UPDATE else {}
            changes = list_changes(before, dict(spec))
            patch.status["changes"] = changes
            patch.status["updatedAt"] = now_rfc3339()
            outcomes = await announce(body, tenant, spec, changes)
            failed = {channel: outcome for channel, outcome in outcomes.items() if outcome != "sent"}
            conditions = set_condition(
                conditions, "NotificationsSent", "False" if failed else "True",
                "DeliveryFailed" if failed else "Delivered",
                json.dumps(outcomes, sort_keys=True) if outcomes else "no channels configured", generation,
            )
        patch.status["conditions"] = conditions


async def announce(
    body: kopf.Body, tenant: dict[str, Any], spec: kopf.Spec, changes: dict[str, Any]
) -> dict[str, str]:
    actor = (body.metadata.get("annotations") or {}).get(ANNOTATION_ACTOR)
    summary = ", ".join(
        f"{name} +{len(changes[name]['added'])}/-{len(changes[name]['removed'])}" for name in LISTS
    )
    kopf.info(body, reason="IpRestrictionsUpdated", message=f"[severity=high] {summary}")
    audit("IP_RESTRICTIONS_UPDATED", "high", spec["tenantRef"], actor=actor, changes=changes,
          enabled=spec.get("enabled", True))
    context = {
        "tenant": spec["tenantRef"],
        "tenant_name": (tenant.get("spec") or {}).get("displayName", spec["tenantRef"]),
        "actor": actor,
        "timestamp": now_rfc3339(),
        "enabled": spec.get("enabled", True),
        "changes": changes,
    }
    return await notify_tenant_admins(tenant, "IP_RESTRICTIONS_UPDATED", "ip-restrictions-updated", context)


@kopf.on.delete(GROUP, VERSION, "iprestrictions")
async def lift_ip_restrictions(spec: kopf.Spec, status: kopf.Status, **_: Any) -> None:
    """Deleting the restrictions removes the operator's annotations; the NetworkPolicies go with their owner."""
    await sync_ingresses(list(status.get("namespaces") or []), None)


@kopf.index(GROUP, VERSION, "iprestrictions")
async def ip_restrictions_by_tenant(spec: kopf.Spec, status: kopf.Status, **_: Any) -> dict[str, dict[str, Any]]:
    return {spec.get("tenantRef", ""): {"spec": dict(spec), "namespaces": list(status.get("namespaces") or [])}}


async def follow_tenant_namespaces(slug: str, namespaces: list[str], ip_restrictions_by_tenant: kopf.Index) -> None:
    """Called by the Tenant's reconcile: when its namespaces change, its restrictions are enforced anew."""
    restrictions = list(ip_restrictions_by_tenant.get(slug, []))
    if restrictions and restrictions[0]["namespaces"] != namespaces:
        await kube.nudge(API_VERSION, "IpRestriction", slug, NAMESPACES_ANNOTATION, ",".join(namespaces))


@kopf.on.event("networking.k8s.io", "v1", "ingresses")
async def keep_ingress_source_ranges(
    type: str | None,
    name: str,
    namespace: str,
    uid: str,
    annotations: kopf.Annotations,
    tenant_of_namespace: kopf.Index,
    ip_restrictions_by_tenant: kopf.Index,
    **_: Any,
) -> None:
    """Ingresses that appear (or drift) in a restricted tenant namespace get the source ranges at once.

    A raw event handler: kopf keeps no state, so it writes nothing on Ingresses but our two annotations.
    """
    if type == "DELETED":
        return
    tenants = list(tenant_of_namespace.get(namespace, []))
    restrictions = list(ip_restrictions_by_tenant.get(tenants[0], [])) if tenants else []
    if not restrictions:
        return
    wanted = render.ingress_annotations(restrictions[0]["spec"])
    if any(annotations.get(key) != value for key, value in wanted.items()):
        await apply_ingress_annotations(namespace, name, uid, wanted)
