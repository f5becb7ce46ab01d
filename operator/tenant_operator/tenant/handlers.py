"""kopf handlers for Tenant: read, render, apply, report. The logic lives in model and render."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
from pydantic import ValidationError

from .. import kube
from ..api import GROUP, LABEL_TENANT, VERSION, tenant_selector
from ..audit import audit
from ..conditions import set_condition
from ..metrics import track_reconcile
from . import render
from .model import TenantSpec

CONFLICT_RETRY_SECONDS = 30


class NamespaceConflict(Exception):
    """A namespace the tenant wants exists and belongs to somebody else."""


async def ensure_namespace(desired: dict[str, Any], slug: str) -> str:
    """Creates the namespace, or re-applies it when it is already the tenant's; never adopts another's."""
    name = desired["metadata"]["name"]
    existing = await kube.get("v1", "Namespace", name)
    if existing is None:
        try:
            await kube.create(desired)
            return "created"
        except kube.ConflictError:
            existing = await kube.get("v1", "Namespace", name)
    labels = ((existing or {}).get("metadata") or {}).get("labels") or {}
    if existing is None or labels.get(LABEL_TENANT) != slug:
        raise NamespaceConflict(name)
    if existing["metadata"].get("deletionTimestamp"):
        raise kopf.TemporaryError(f"namespace {name} is still terminating", delay=5)
    await kube.apply(desired)
    return "unchanged"


async def remove_stale_namespaces(slug: str, desired: list[str]) -> list[str]:
    owned = await kube.list_names("v1", "Namespace", tenant_selector(slug))
    stale = render.stale_namespaces(owned, desired)
    await asyncio.gather(*(kube.delete("v1", "Namespace", name) for name in stale))
    return stale


def read_spec(spec: Any) -> TenantSpec:
    try:
        return TenantSpec.model_validate(dict(spec))
    except ValidationError as error:
        raise kopf.PermanentError(f"invalid spec: {error}") from error


def report(
    patch: kopf.Patch,
    status: dict[str, Any],
    generation: int,
    slug: str,
    namespaces: list[str],
    ready: bool,
    reason: str,
    message: str,
) -> None:
    conditions = list(status.get("conditions") or [])
    condition_status = "True" if ready else "False"
    conditions = set_condition(conditions, "NamespacesReady", condition_status, reason, message, generation)
    conditions = set_condition(conditions, "Ready", condition_status, reason, message, generation)
    patch.status["observedGeneration"] = generation
    patch.status["phase"] = "Active" if ready else "Failed"
    patch.status["slug"] = slug
    patch.status["namespaces"] = namespaces
    patch.status["primaryNamespace"] = namespaces[0]
    patch.status["conditions"] = conditions


@kopf.on.resume(GROUP, VERSION, "tenants")
@kopf.on.create(GROUP, VERSION, "tenants")
@kopf.on.update(GROUP, VERSION, "tenants")
async def reconcile_tenant(
    name: str,
    uid: str,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    body: kopf.Body,
    patch: kopf.Patch,
    reason: kopf.Reason,
    logger: logging.Logger,
    **_: Any,
) -> None:
    with track_reconcile("Tenant"):
        slug = name
        generation = int(meta.get("generation") or 0)
        tenant_spec = read_spec(spec)
        desired = render.desired_namespaces(slug, uid, tenant_spec)
        names = [ns["metadata"]["name"] for ns in desired]
        try:
            await asyncio.gather(*(ensure_namespace(ns, slug) for ns in desired))
        except NamespaceConflict as conflict:
            message = (
                f"namespace {conflict} already exists and is not managed for tenant {slug}; "
                "delete or rename it, or choose another namespace"
            )
            report(patch, dict(status), generation, slug, names, False, "NamespaceConflict", message)
            kopf.warn(body, reason="NamespaceConflict", message=message)
            raise kopf.TemporaryError(message, delay=CONFLICT_RETRY_SECONDS) from conflict
        removed = await remove_stale_namespaces(slug, names)
        message = f"{len(names)} namespace(s) ready: {', '.join(names)}"
        report(patch, dict(status), generation, slug, names, True, "Provisioned", message)
        announce(reason, body, slug, tenant_spec, removed)


def announce(reason: kopf.Reason, body: kopf.Body, slug: str, spec: TenantSpec, removed: list[str]) -> None:
    if reason == kopf.Reason.CREATE:
        kopf.info(body, reason="TenantCreated", message=f"tenant {slug} provisioned on plan {spec.plan}")
        audit("TENANT_CREATED", "high", slug, configuration=spec.model_dump())
    elif reason == kopf.Reason.UPDATE:
        kopf.info(body, reason="TenantUpdated", message=f"tenant {slug} updated")
        audit("TENANT_UPDATED", "medium", slug, removedNamespaces=removed)


@kopf.on.delete(GROUP, VERSION, "tenants")
async def decommission_tenant(name: str, body: kopf.Body, logger: logging.Logger, **_: Any) -> None:
    with track_reconcile("Tenant"):
        owned = await kube.list_names("v1", "Namespace", tenant_selector(name))
        await asyncio.gather(*(kube.delete("v1", "Namespace", ns) for ns in owned))
        kopf.info(body, reason="TenantDecommissioned", message=f"deleted namespaces: {', '.join(owned) or 'none'}")
        audit("TENANT_DECOMMISSIONED", "high", name, deletedNamespaces=owned)
