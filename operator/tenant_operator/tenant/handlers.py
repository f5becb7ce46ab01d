"""kopf handlers for Tenant: read, render, apply, report. The logic lives in model, effective and render."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import kopf
from pydantic import ValidationError

from .. import kube
from ..api import (
    ANNOTATION_ACTOR,
    GROUP,
    LABEL_MANAGED_BY,
    LABEL_PRIMARY_NAMESPACE,
    LABEL_TENANT,
    VERSION,
    tenant_owned_selector,
    tenant_selector,
)
from ..audit import audit
from ..conditions import set_condition
from ..metrics import TENANTS, track_reconcile
from ..options import IDENTITY
from ..database.provision import DatabaseError
from ..iprestriction.handlers import follow_tenant_namespaces
from ..securitypolicy.handlers import load_policy
from ..securitypolicy.model import SecurityPolicySpec
from . import database, render
from .model import TenantSpec

CONFLICT_RETRY_SECONDS = 30
RETRY_BACKOFF = 5  # after an unexpected error (a dropped apiserver connection): kopf's default is 60 s
RECONCILE_CONCURRENCY = 16  # tenants provisioned at once; the others wait their turn (kopf queues their events)
RECONCILES = asyncio.Semaphore(RECONCILE_CONCURRENCY)
LABEL_RETAINED_FROM = f"{GROUP}/retained-from"
PRUNED_KINDS = (("rbac.authorization.k8s.io/v1", "RoleBinding"), ("networking.k8s.io/v1", "NetworkPolicy"))
SCALABLE_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"))



class NamespaceConflict(Exception):
    """A namespace the tenant wants exists and belongs to somebody else."""


async def ensure_namespace(desired: dict[str, Any], slug: str, known: bool) -> None:
    """Creates the namespace, or re-applies it when it is already the tenant's; never adopts another's.

    A namespace the tenant's status does not list yet is created straight away (one request on the common path);
    one that exists is checked before it is applied.
    """
    name = desired["metadata"]["name"]
    if not known:
        try:
            await kube.create(desired)
            return
        except kube.ConflictError:
            pass
    existing = await kube.get("v1", "Namespace", name)
    if existing is None:
        await kube.create(desired)
        return
    labels = (existing.get("metadata") or {}).get("labels") or {}
    if labels.get(LABEL_TENANT) != slug:
        raise NamespaceConflict(name)
    if existing["metadata"].get("deletionTimestamp"):
        raise kopf.TemporaryError(f"namespace {name} is still terminating", delay=5)
    await kube.apply(desired)


async def release_namespace(name: str, slug: str) -> None:
    """Retains a namespace: it stops being the tenant's (labels and owner removed) but keeps its data."""
    labels = {LABEL_MANAGED_BY: None, LABEL_TENANT: None, LABEL_PRIMARY_NAMESPACE: None, LABEL_RETAINED_FROM: slug}
    await kube.merge_patch("v1", "Namespace", name, {"metadata": {"labels": labels, "ownerReferences": None}})


async def retire_namespaces(names: Iterable[str], slug: str, spec: TenantSpec) -> None:
    retain = spec.deletionPolicy is not None and spec.deletionPolicy.namespaces == "Retain"
    if retain:
        await kube.gather_limited(release_namespace(name, slug) for name in names)
    else:
        await kube.gather_limited(kube.delete("v1", "Namespace", name) for name in names)


async def remove_stale_namespaces(slug: str, spec: TenantSpec, desired: list[str]) -> list[str]:
    owned = await kube.list_names("v1", "Namespace", tenant_selector(slug))
    stale = render.stale_names(owned, desired)
    await retire_namespaces(stale, slug, spec)
    return stale


async def prune(state: render.DesiredState, slug: str) -> None:
    """Deletes bindings and policies the spec no longer asks for (the kinds whose desired set can shrink)."""
    selector = tenant_owned_selector(slug)
    for api_version, kind in PRUNED_KINDS:
        for namespace in state.namespace_names:
            existing = await kube.list_names(api_version, kind, selector, namespace=namespace)
            stale = render.stale_names(existing, state.names_of(kind, namespace))
            await kube.gather_limited(kube.delete(api_version, kind, name, namespace) for name in stale)


async def scale_workloads(namespaces: list[str], suspend: bool) -> int:
    """Suspends (to zero, recording replicas) or resumes (restoring them) Deployments and StatefulSets."""
    changed = 0
    for api_version, kind in SCALABLE_KINDS:
        for namespace in namespaces:
            for workload in await kube.list_objects(api_version, kind, namespace=namespace):
                patch = _scaling_patch(workload, suspend)
                if patch is not None:
                    await kube.merge_patch(api_version, kind, workload["metadata"]["name"], patch, namespace)
                    changed += 1
    return changed


def _scaling_patch(workload: dict[str, Any], suspend: bool) -> dict[str, Any] | None:
    annotations = workload["metadata"].get("annotations") or {}
    if not suspend:
        return render.resumption_patch(annotations)
    replicas = (workload.get("spec") or {}).get("replicas", 1)
    if render.SUSPENDED_REPLICAS_ANNOTATION in annotations or replicas == 0:
        return None
    return render.suspension_patch(replicas)


def read_spec(spec: Any) -> TenantSpec:
    try:
        return TenantSpec.model_validate(dict(spec))
    except ValidationError as error:
        raise kopf.PermanentError(f"invalid spec: {error}") from error


class Report:
    """Collects the conditions of one reconcile and writes them, with the phase, into the status patch."""

    def __init__(self, status: dict[str, Any], generation: int) -> None:
        self.conditions = list(status.get("conditions") or [])
        self.generation = generation
        self.failed: list[tuple[str, str]] = []  # (reason, "Condition: message")

    def set(self, type_: str, ok: bool, reason: str, message: str) -> None:
        self.conditions = set_condition(
            self.conditions, type_, "True" if ok else "False", reason, message, self.generation
        )
        if not ok and type_ != "Ready":
            self.failed.append((reason, f"{type_}: {message}"))

    def write(self, patch: kopf.Patch, slug: str, namespaces: list[str], phase: str) -> None:
        if self.failed:
            reasons = {reason for reason, _ in self.failed}
            reason = reasons.pop() if len(reasons) == 1 else "MultipleFailures"
            self.set("Ready", False, reason, "; ".join(message for _, message in self.failed))
            phase = "Failed"
        else:
            self.set("Ready", True, "Suspended" if phase == "Suspended" else "Provisioned", f"tenant {slug} is {phase.lower()}")
        patch.status["observedGeneration"] = self.generation
        patch.status["phase"] = phase
        patch.status["slug"] = slug
        patch.status["namespaces"] = namespaces
        patch.status["primaryNamespace"] = namespaces[0]
        patch.status["conditions"] = self.conditions


async def apply_area(report: Report, condition: str, objects: list[dict[str, Any]], what: str) -> None:
    try:
        await kube.gather_limited(kube.apply(obj) for obj in objects)
    except Exception as error:  # reported in status, then retried by kopf
        report.set(condition, False, "ApplyFailed", f"{what}: {error}")
        raise
    report.set(condition, True, "Applied", f"{len(objects)} {what} object(s) applied")


@kopf.on.resume(GROUP, VERSION, "tenants", backoff=RETRY_BACKOFF)
@kopf.on.create(GROUP, VERSION, "tenants", backoff=RETRY_BACKOFF)
@kopf.on.update(GROUP, VERSION, "tenants", backoff=RETRY_BACKOFF)
async def reconcile_tenant(
    name: str,
    uid: str,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    body: kopf.Body,
    patch: kopf.Patch,
    reason: kopf.Reason,
    old: Any,
    new: Any,
    retry: int,
    logger: logging.Logger,
    ip_restrictions_by_tenant: kopf.Index,
    **_: Any,
) -> None:
    if reason == kopf.Reason.RESUME and already_reconciled(status, meta):
        return  # an operator restart does not re-apply a fleet that is already in shape
    async with RECONCILES:  # a burst (a restart, a thousand new tenants) finishes tenants in turn, not all late
        with track_reconcile("Tenant"):
            slug = name
            tenant_spec = read_spec(spec)
            report = Report(dict(status), int(meta.get("generation") or 0))
            policy = await security_policy_of(tenant_spec, report, patch, slug)
            state = render.desired_state(slug, uid, tenant_spec, policy, IDENTITY.subject)
            names = state.namespace_names
            known = set(status.get("namespaces") or [])
            first_steps = [provision_namespaces(state, slug, report, patch, body, known)]
            if not status.get("phase"):
                message = f"provisioning {len(names)} namespace(s)"
                first_steps.append(announce_phase(name, report, "Provisioning", message))
            await kube.together(*first_steps)
            first_spec = reason == kopf.Reason.CREATE and meta.get("generation") == 1
            removed = [] if first_spec else await remove_stale_namespaces(slug, tenant_spec, names)
            await follow_tenant_namespaces(slug, names, ip_restrictions_by_tenant)

            try:
                await kube.together(  # independent of each other once the namespaces exist
                    apply_area(report, "RBACReady", state.rbac, "RBAC"),
                    apply_area(report, "QuotaReady", state.quota, "quota"),
                    apply_area(report, "NetworkReady", state.network, "network"),
                    kube.gather_limited(kube.apply(obj) for obj in state.settings),
                    reconcile_database(report, patch, body, slug, uid, tenant_spec, state, meta, dict(status), retry),
                )
                if not first_spec:  # objects of an earlier spec can exist only once the spec has changed
                    await prune(state, slug)
            finally:
                phase = "Suspended" if tenant_spec.status == "suspended" else "Active"
                report.write(patch, slug, names, phase)

            was_suspended = (status or {}).get("phase") == "Suspended"
            if tenant_spec.status == "suspended" or was_suspended:
                await scale_workloads(names, suspend=tenant_spec.status == "suspended")
            announce(reason, body, slug, tenant_spec, old, new, removed)


async def provision_namespaces(
    state: render.DesiredState, slug: str, report: Report, patch: kopf.Patch, body: kopf.Body, known: set[str]
) -> None:
    """Every namespace exists and is the tenant's, or the tenant reports the conflict and nothing else is applied."""
    names = state.namespace_names
    try:
        await kube.gather_limited(
            ensure_namespace(ns, slug, ns["metadata"]["name"] in known) for ns in state.namespaces
        )
    except NamespaceConflict as conflict:
        message = (
            f"namespace {conflict} already exists and is not managed for tenant {slug}; "
            "delete or rename it, or choose another namespace"
        )
        report.set("NamespacesReady", False, "NamespaceConflict", message)
        report.write(patch, slug, names, "Failed")
        kopf.warn(body, reason="NamespaceConflict", message=message)
        raise kopf.TemporaryError(message, delay=CONFLICT_RETRY_SECONDS) from conflict
    report.set("NamespacesReady", True, "Provisioned", f"{len(names)} namespace(s): {', '.join(names)}")


async def security_policy_of(
    spec: TenantSpec, report: Report, patch: kopf.Patch, slug: str
) -> SecurityPolicySpec | None:
    """The referenced SecurityPolicy; while it is missing nothing is applied, so no weaker policy slips in."""
    if not spec.securityPolicyRef:
        report.conditions = [c for c in report.conditions if c.get("type") != "SecurityPolicyReady"]
        return None
    policy = await load_policy(spec.securityPolicyRef)
    if policy is None:
        message = f"SecurityPolicy {spec.securityPolicyRef} not found; nothing is applied until it exists"
        report.set("SecurityPolicyReady", False, "PolicyNotFound", message)
        report.write(patch, slug, render.namespace_names(slug, spec), "Failed")
        raise kopf.TemporaryError(message, delay=CONFLICT_RETRY_SECONDS)
    report.set("SecurityPolicyReady", True, "Applied", f"SecurityPolicy {spec.securityPolicyRef} applied")
    return policy


def database_backoff(retry: int) -> float:
    return float(min(120, 5 * 2**retry))


async def reconcile_database(
    report: Report,
    patch: kopf.Patch,
    body: kopf.Body,
    slug: str,
    uid: str,
    spec: TenantSpec,
    state: render.DesiredState,
    meta: kopf.Meta,
    status: dict[str, Any],
    retry: int,
) -> None:
    if not database.database_enabled(spec):
        if status.get("database"):
            outcome = await database.retire(slug, spec)
            patch.status["database"] = None
            report.conditions = [c for c in report.conditions if c.get("type") != "DatabaseReady"]
            kopf.info(body, reason="DatabaseRetired", message=f"[severity=high] {outcome}")
            audit("TENANT_DATABASE_RETIRED", "high", slug, actor=actor_of(body), outcome=outcome)
        return
    primary = state.namespace_names[0]
    rotating = database.rotation_requested(meta, status)
    try:
        provisioned = await database.provision(
            slug, uid, spec, primary, meta, status, state.config.compute.databaseConnections
        )
    except DatabaseError as error:
        report.set("DatabaseReady", False, error.reason, error.message)
        if error.schema_version is not None:
            patch.status["database"] = {**(status.get("database") or {}), "schemaVersion": error.schema_version}
        raise kopf.TemporaryError(error.message, delay=database_backoff(retry)) from None
    patch.status["database"] = provisioned
    message = f"database {provisioned['name']} at schema {provisioned['schemaVersion']}"
    report.set("DatabaseReady", True, "Provisioned", message)
    if rotating:
        kopf.info(body, reason="DatabasePasswordRotated", message="[severity=high] database password rotated")
        audit("TENANT_DB_PASSWORD_ROTATED", "high", slug, actor=actor_of(body), database=provisioned["name"])


async def announce_phase(name: str, report: Report, phase: str, message: str) -> None:
    """Writes a transitional phase at once, so kubectl shows it while the work is under way."""
    report.conditions = set_condition(report.conditions, "Ready", "False", phase, message, report.generation)
    status = {"phase": phase, "conditions": report.conditions}
    await kube.merge_patch_status(f"{GROUP}/{VERSION}", "Tenant", name, status)


def already_reconciled(status: kopf.Status, meta: kopf.Meta) -> bool:
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    generation = meta.get("generation")
    return status.get("observedGeneration") == generation and ready.get("observedGeneration") == generation and (
        ready.get("status") == "True"
    )


def spec_changes(old: Any, new: Any) -> dict[str, dict[str, Any]]:
    """before/after of the top-level spec fields that changed."""
    before = dict((old or {}).get("spec") or {})
    after = dict((new or {}).get("spec") or {})
    changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    return {
        "before": {key: before.get(key) for key in changed},
        "after": {key: after.get(key) for key in changed},
    }


def actor_of(body: kopf.Body) -> str | None:
    return (body.metadata.get("annotations") or {}).get(ANNOTATION_ACTOR)


def announce(
    reason: kopf.Reason, body: kopf.Body, slug: str, spec: TenantSpec, old: Any, new: Any, removed: list[str]
) -> None:
    actor = actor_of(body)
    by = f" by {actor}" if actor else ""
    if reason == kopf.Reason.CREATE:
        message = f"[severity=high] tenant {slug} provisioned on plan {spec.plan}{by}"
        kopf.info(body, reason="TenantCreated", message=message)
        audit("TENANT_CREATED", "high", slug, actor=actor, configuration=spec.model_dump(exclude_none=True))
        return
    if reason != kopf.Reason.UPDATE:
        return
    changes = spec_changes(old, new)
    if not changes["after"] and not changes["before"]:
        return
    before, after = changes["before"], changes["after"]
    if "plan" in after:
        message = f"[severity=medium] plan changed from {before.get('plan') or 'basic'} to {after['plan']}{by}"
        kopf.info(body, reason="TenantPlanChanged", message=message)
        plan_change = {"before": before.get("plan"), "after": after["plan"]}
        audit("TENANT_PLAN_CHANGED", "medium", slug, actor=actor, changes=plan_change)
    if "status" in after or "status" in before:
        if spec.status == "suspended":
            message = f"[severity=high] workloads scaled to zero, new pods blocked{by}"
            kopf.info(body, reason="TenantSuspended", message=message)
            audit("TENANT_SUSPENDED", "high", slug, actor=actor)
        else:
            kopf.info(body, reason="TenantResumed", message=f"[severity=medium] workloads restored{by}")
            audit("TENANT_RESUMED", "medium", slug, actor=actor)
    fields = ", ".join(sorted(after.keys() | before.keys()))
    kopf.info(body, reason="TenantUpdated", message=f"[severity=medium] changed: {fields}{by}")
    audit("TENANT_UPDATED", "medium", slug, actor=actor, changes=changes, removedNamespaces=removed)


@kopf.on.event(GROUP, VERSION, "tenants")
async def tally_tenant(type: str, uid: str, spec: kopf.Spec, status: kopf.Status, **_: Any) -> None:
    if type == "DELETED":
        TENANTS.gone(uid)
    else:
        TENANTS.seen(uid, status.get("phase") or "Provisioning", spec.get("plan", "basic"))


@kopf.on.delete(GROUP, VERSION, "tenants", backoff=RETRY_BACKOFF)
async def decommission_tenant(
    name: str, spec: kopf.Spec, meta: kopf.Meta, status: kopf.Status, body: kopf.Body, **_: Any
) -> None:
    with track_reconcile("Tenant"):
        tenant_spec = TenantSpec.model_validate(dict(spec))
        report = Report(dict(status), int(meta.get("generation") or 0))
        await announce_phase(name, report, "Decommissioning", "removing what the tenant owns")
        database_outcome = None
        if database.database_enabled(tenant_spec) or status.get("database"):
            try:
                database_outcome = await database.retire(name, tenant_spec)
            except database.ServerUnavailable as error:
                if status.get("database"):
                    raise kopf.TemporaryError(f"database not retired yet: {error}", delay=30) from None
                database_outcome = f"no database was provisioned ({error})"
            except DatabaseError as error:
                raise kopf.TemporaryError(f"database not retired yet: {error}", delay=30) from None
        owned = await kube.list_names("v1", "Namespace", tenant_selector(name))
        await retire_namespaces(owned, name, tenant_spec)
        policy = tenant_spec.deletionPolicy.namespaces if tenant_spec.deletionPolicy else "Delete"
        verb = "retained" if policy == "Retain" else "deleted"
        message = f"[severity=high] tenant {name} decommissioned; namespaces {verb}: {', '.join(owned) or 'none'}"
        if database_outcome:
            message += f"; {database_outcome}"
        kopf.info(body, reason="TenantDecommissioned", message=message)
        audit(
            "TENANT_DECOMMISSIONED",
            "high",
            name,
            actor=actor_of(body),
            namespacePolicy=policy,
            database=database_outcome,
            **{f"{verb}Namespaces": owned},
        )
