"""kopf handlers for version enforcement: the inventory in each Tenant's status, one daemon per VersionPolicy for
the calendar (compliance, notices, forced upgrades), and an admission check for end-of-life Deployments.

Everything is computed from the operator's indexes; the API is written only when something changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

import kopf
from kubernetes_asyncio.dynamic.exceptions import ConflictError

from .. import kube
from ..api import API_VERSION, GROUP, LABEL_PRODUCT, VERSION, workload_version
from ..audit import audit
from ..clock import CLOCK
from ..conditions import set_condition
from . import build, metrics, notices
from .compliance import end_of_life, extension_request, judge, notice_schedule, notices_to_send
from .model import VersionPolicySpec

POLICY_TICK_SECONDS = 30.0
logger = logging.getLogger("tenant_operator.versions")
FORCED_LABEL = f"{GROUP}/forced-by"


# --- indexes --------------------------------------------------------------------------------------------------
@kopf.index("apps", "v1", "deployments", labels={LABEL_PRODUCT: kopf.PRESENT})
async def product_deployments(namespace: str, name: str, labels: kopf.Labels, spec: kopf.Spec, meta: kopf.Meta,
                        **_: Any) -> dict[str, build.DeployedProduct]:
    version = workload_version(labels, spec)
    in_rollout = any(ref.get("kind") == "UpdateRollout" for ref in meta.get("ownerReferences") or [])
    selector = tuple(sorted(((spec.get("selector") or {}).get("matchLabels") or {}).items()))
    return {namespace: build.DeployedProduct(namespace, name, labels[LABEL_PRODUCT], version,
                                             int(spec.get("replicas", 1)), str(meta.get("creationTimestamp")),
                                             in_rollout, selector)}


@kopf.index(GROUP, VERSION, "versionpolicies")
async def policies_by_product(name: str, spec: kopf.Spec, **_: Any) -> dict[str, tuple[str, str]]:
    return {str(spec.get("product")): (name, json.dumps(dict(spec), sort_keys=True))}


@kopf.index(GROUP, VERSION, "tenants")
async def tenant_versions(name: str, status: kopf.Status, **_: Any) -> dict[str, tuple[tuple[str, ...], str]]:
    """Per tenant: its namespaces and its status.versions (as JSON, to compare with what would be written)."""
    return {name: (tuple(status.get("namespaces") or []), json.dumps(status.get("versions") or {}, sort_keys=True))}


EXTENSION_REQUEST_PREFIX = f"{GROUP}/extension-request."


@kopf.index(GROUP, VERSION, "tenants")
async def extension_requests(name: str, annotations: kopf.Annotations, **_: Any) -> dict[str, tuple[str, str]] | None:
    """product -> (tenant, request) for every tenancy.io/extension-request.<product> annotation."""
    found = {key[len(EXTENSION_REQUEST_PREFIX):]: (name, value) for key, value in annotations.items()
             if key.startswith(EXTENSION_REQUEST_PREFIX)}
    return found or None


def policies_for(product: str, index: Mapping[str, Any]) -> list[build.Policy]:
    return [build.Policy(name, VersionPolicySpec.model_validate(json.loads(spec)))
            for name, spec in index.get(product, [])]


def all_policies(index: Mapping[str, Any]) -> list[build.Policy]:
    return [policy for product in list(index) for policy in policies_for(product, index)]


def tenant_record(tenant: str, index: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]] | None:
    for namespaces, versions in index.get(tenant, []):
        return namespaces, json.loads(versions)
    return None


# --- the inventory --------------------------------------------------------------------------------------------
class InventoryWriter:
    """One refresh at a time per tenant, each computed from the indexes as they are once it runs (so a slow,
    stale computation never lands after a fresh one), and nothing written twice."""

    def __init__(self) -> None:
        self.locks: dict[str, asyncio.Lock] = {}
        self.written: dict[str, dict[str, Any]] = {}

    def lock(self, tenant: str) -> asyncio.Lock:
        return self.locks.setdefault(tenant, asyncio.Lock())

    async def refresh(self, tenant: str, indexes: dict[str, Mapping[str, Any]], today: date) -> None:
        async with self.lock(tenant):
            record = tenant_record(tenant, indexes["tenant_versions"])
            if record is None:
                self.locks.pop(tenant, None)
                self.written.pop(tenant, None)
                return
            namespaces, current = record
            inventory = build.build_inventory(
                tenant, build.gather(indexes["product_deployments"], namespaces),
                build.gather(indexes["rollouts_by_namespace"], namespaces), all_policies(indexes["policies_by_product"]),
                today,
            ).model_dump(mode="json", exclude=build.NOTICE_FIELDS)  # the notices keep those; null would erase them
            metrics.COMPLIANCE.record(tenant, inventory["products"], today)
            if inventory in (self.written.get(tenant), build.comparable(current)):
                return
            if not (inventory["products"] or inventory["updateHistory"] or inventory["pendingUpdates"] or current):
                return
            await kube.merge_patch_status(API_VERSION, "Tenant", tenant, {"versions": inventory})
            self.written[tenant] = inventory


INVENTORY = InventoryWriter()


async def refresh_inventory(tenant: str, indexes: dict[str, Mapping[str, Any]], today: date) -> None:
    await INVENTORY.refresh(tenant, indexes, today)


def indexes_of(kwargs: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {name: kwargs[name] for name in ("tenant_versions", "product_deployments", "rollouts_by_namespace",
                                            "policies_by_product", "tenant_of_namespace", "extension_requests")}


def tenant_of(namespace: str, index: Mapping[str, Any]) -> str | None:
    return next(iter(index.get(namespace, [])), None)


@kopf.on.event("apps", "v1", "deployments", labels={LABEL_PRODUCT: kopf.PRESENT})
async def deployment_changed(namespace: str, **kwargs: Any) -> None:
    indexes = indexes_of(kwargs)
    tenant = tenant_of(namespace, indexes["tenant_of_namespace"])
    if tenant:
        await refresh_inventory(tenant, indexes, CLOCK.now().date())


@kopf.on.event(GROUP, VERSION, "updaterollouts")
async def rollout_changed(namespace: str, **kwargs: Any) -> None:
    await deployment_changed(namespace=namespace, **kwargs)


# --- the calendar: one daemon per policy ----------------------------------------------------------------------
def tenants_running(product: str, indexes: dict[str, Mapping[str, Any]]) -> dict[str, build.DeployedProduct]:
    """Tenant -> its live Deployment of the product."""
    running: dict[str, list[build.DeployedProduct]] = {}
    for namespace in list(indexes["product_deployments"]):
        tenant = tenant_of(namespace, indexes["tenant_of_namespace"])
        if tenant:
            running.setdefault(tenant, []).extend(
                d for d in indexes["product_deployments"].get(namespace, []) if d.product == product)
    return {tenant: live[0] for tenant, found in running.items() if (live := build.live_products(found))}


async def evaluate_policy(name: str, spec: VersionPolicySpec, body: kopf.Body,
                          indexes: dict[str, Mapping[str, Any]]) -> dict[str, int]:
    today = CLOCK.now().date()
    counts = {"Compliant": 0, "InGracePeriod": 0, "NonCompliant": 0}
    for tenant, deployment in sorted(tenants_running(spec.product, indexes).items()):
        if spec.tenants and tenant not in spec.tenants:
            continue
        verdict = judge(spec, tenant, deployment.version, today)
        counts[verdict.compliance] += 1
        await refresh_inventory(tenant, indexes, today)
        if deployment.version:
            await send_due_notices(name, spec, tenant, deployment.version, indexes, today)
        await flush_digest(tenant, indexes, today)
        if verdict.enforce and spec.enforcement.action == "ForceUpgrade":
            await force_upgrade(name, spec, tenant, deployment, indexes)
        if spec.enforcement.action == "RestrictAccess":
            await RESTRICTIONS.settle(name, tenant, deployment, verdict)
    return counts


class AccessRestrictions:
    """RestrictAccess: the NetworkPolicy exists exactly while the tenant's product is non-compliant. Which ones
    exist is known from one label-selected list per policy at start, then from what this process did."""

    def __init__(self) -> None:
        self.known: dict[str, set[tuple[str, str]]] = {}  # policy -> {(namespace, product)}

    async def load(self, policy: str) -> None:
        existing = await kube.list_objects("networking.k8s.io/v1", "NetworkPolicy",
                                           label_selector=f"{build.RESTRICTED_LABEL}={policy}")
        self.known[policy] = {(item["metadata"]["namespace"], item["metadata"]["name"]) for item in existing}

    async def settle(self, policy: str, tenant: str, deployment: build.DeployedProduct, verdict: Any) -> None:
        key = (deployment.namespace, build.restriction_name(deployment.product))
        restricted = key in self.known.setdefault(policy, set())
        if verdict.enforce and not restricted:
            await kube.apply(build.access_restriction(deployment, policy, str(verdict.reason)))
            self.known[policy].add(key)
            message = f"ingress to {deployment.product} stopped: {verdict.reason}"
            audit("ACCESS_RESTRICTED", "high", tenant, product=deployment.product, version=deployment.version,
                  policy=policy, namespace=deployment.namespace)
            tenant_body = await kube.get(API_VERSION, "Tenant", tenant)
            if tenant_body:
                kopf.warn(tenant_body, reason="AccessRestricted", message=f"[severity=high] {message}")
        elif not verdict.enforce and restricted:
            await kube.delete("networking.k8s.io/v1", "NetworkPolicy", key[1], key[0])
            self.known[policy].discard(key)
            audit("ACCESS_RESTORED", "medium", tenant, product=deployment.product, version=deployment.version,
                  policy=policy, namespace=deployment.namespace)


RESTRICTIONS = AccessRestrictions()


async def send_due_notices(name: str, spec: VersionPolicySpec, tenant: str, version: str,
                           indexes: dict[str, Mapping[str, Any]], today: date) -> None:
    record = tenant_record(tenant, indexes["tenant_versions"])
    sent_by_product = ((record[1] if record else {}).get("noticesSent") or {})
    schedule = notice_schedule(spec, name, tenant, version)
    current_keys = {notice.key for notice in schedule}
    sent = {key for key in sent_by_product.get(spec.product, []) if key in current_keys}
    to_send, handled = notices_to_send(schedule, sent, today)
    if not handled:
        return
    async with INVENTORY.lock(tenant):  # a tenant's notices and digest queue change one writer at a time
        tenant_body = await kube.get(API_VERSION, "Tenant", tenant)
        if tenant_body is None:
            return
        versions: dict[str, Any] = {"noticesSent": {spec.product: sorted(sent | set(handled))}}
        if notices.wants_digest(tenant_body):
            queued = notices.queued(tenant_body)
            for notice in to_send:
                queued.append(notices.announce(tenant_body, spec.product, version, notice, today))
            versions["digest"] = queued
        else:
            for notice in to_send:
                await notices.deliver(tenant_body, spec.product, version, notice)
        await kube.merge_patch_status(API_VERSION, "Tenant", tenant, {"versions": versions})


async def flush_digest(tenant: str, indexes: dict[str, Mapping[str, Any]], today: date) -> None:
    """Yesterday's (and older) queued notices go out as one e-mail and one webhook."""
    record = tenant_record(tenant, indexes["tenant_versions"])
    if not record or not any(n["queuedOn"] < today.isoformat() for n in record[1].get("digest") or []):
        return
    async with INVENTORY.lock(tenant):
        tenant_body = await kube.get(API_VERSION, "Tenant", tenant)
        if tenant_body is None:
            return
        queued = notices.queued(tenant_body)
        ready = [n for n in queued if n["queuedOn"] < today.isoformat()]
        if ready:
            await notices.deliver_digest(tenant_body, ready, today)
            await kube.merge_patch_status(API_VERSION, "Tenant", tenant, {"versions": {"digest": [
                n for n in queued if n["queuedOn"] >= today.isoformat()]}})


def forced_rollout_name(product: str, version: str) -> str:
    return f"{product}-forced-{re.sub(r'[^a-z0-9-]+', '-', version.lower())}"[:63].strip("-")


async def force_upgrade(name: str, spec: VersionPolicySpec, tenant: str, deployment: build.DeployedProduct,
                        indexes: dict[str, Mapping[str, Any]]) -> None:
    """An UpdateRollout to the target version; it waits for the tenant's window and approval by itself."""
    target = str(spec.enforcement.targetVersion)
    if judge(spec, tenant, target, CLOCK.now().date()).compliance != "Compliant":
        return  # the target itself would not comply: nothing sensible to force
    rollout_name = forced_rollout_name(spec.product, target)
    existing = [r for r in indexes["rollouts_by_namespace"].get(deployment.namespace, []) if r.name == rollout_name]
    if existing:
        return
    rollout = {
        "apiVersion": API_VERSION, "kind": "UpdateRollout",
        "metadata": {"name": rollout_name, "namespace": deployment.namespace, "labels": {FORCED_LABEL: name}},
        "spec": {"product": spec.product, "version": target, "deploymentRef": deployment.name,
                 "image": str(spec.enforcement.image).replace("{version}", target),
                 "activeService": spec.enforcement.activeService or spec.product},
    }
    try:
        await kube.create(rollout)
    except ConflictError:
        return
    message = f"forced upgrade of {spec.product} from {deployment.version} to {target} scheduled ({rollout_name})"
    tenant_ref = {"apiVersion": API_VERSION, "kind": "Tenant", "metadata": {"name": tenant}}
    kopf.warn(await kube.get(API_VERSION, "Tenant", tenant) or tenant_ref, reason="ForcedUpgradeScheduled",
              message=f"[severity=high] {message}")
    audit("FORCED_UPGRADE_SCHEDULED", "high", tenant, product=spec.product, fromVersion=deployment.version,
          toVersion=target, policy=name, rollout=f"{deployment.namespace}/{rollout_name}")


REQUESTS_SEEN: set[tuple[str, str, str]] = set()


def requests_for(name: str, policy: VersionPolicySpec, indexes: dict[str, Mapping[str, Any]],
                 body: kopf.Body) -> list[dict[str, str]]:
    """The tenants' extension requests for this product, each announced once when it arrives."""
    requests = sorted((extension_request(policy, tenant, value)
                       for tenant, value in indexes["extension_requests"].get(policy.product, [])
                       if not policy.tenants or tenant in policy.tenants), key=lambda r: r["tenant"])
    for request in requests:
        seen = (name, request["tenant"], request["until"])
        if request["state"] == "Pending" and seen not in REQUESTS_SEEN:
            REQUESTS_SEEN.add(seen)
            kopf.info(body, reason="ExtensionRequested", message=f"[severity=medium] tenant {request['tenant']} asks "
                      f"for grace until {request['until']}: {request['reason']}")
            audit("EXTENSION_REQUESTED", "medium", request["tenant"], product=policy.product, policy=name,
                  until=request["until"], reason=request["reason"])
    return requests


@kopf.daemon(GROUP, VERSION, "versionpolicies", cancellation_backoff=5, cancellation_timeout=10)
async def enforce_version_policy(name: str, spec: kopf.Spec, body: kopf.Body, stopped: kopf.DaemonStopped,
                                 **kwargs: Any) -> None:
    indexes = indexes_of(kwargs)
    last_status: dict[str, Any] = {}
    await RESTRICTIONS.load(name)
    while not stopped:
        policy = VersionPolicySpec.model_validate(dict(spec))
        counts = await evaluate_policy(name, policy, body, indexes)
        status = {"tenants": sum(counts.values()), "compliant": counts["Compliant"],
                  "inGracePeriod": counts["InGracePeriod"], "nonCompliant": counts["NonCompliant"],
                  "observedGeneration": body.metadata.get("generation"),
                  "extensionRequests": requests_for(name, policy, indexes, body)}
        if status != last_status:
            conditions = set_condition(list((body.get("status") or {}).get("conditions") or []), "Ready", "True",
                                       "Evaluated", f"{status['tenants']} tenant(s) run {policy.product}",
                                       int(body.metadata.get("generation") or 0))
            await kube.merge_patch_status(API_VERSION, "VersionPolicy", name,
                                          {**status, "conditions": conditions,
                                           "evaluatedAt": CLOCK.now().isoformat(timespec="seconds")})
            last_status = status
        await stopped.wait(CLOCK.wait_cap(POLICY_TICK_SECONDS))
    logger.info("version policy %s: daemon stopped (%s)", name, stopped.reason)


# --- admission: no new Deployments of end-of-life versions ----------------------------------------------------
@kopf.on.validate("apps", "v1", "deployments", operations=["CREATE"], ignore_failures=True,
                  labels={LABEL_PRODUCT: kopf.PRESENT}, id="end-of-life-versions")
async def refuse_end_of_life_versions(namespace: str, labels: kopf.Labels, spec: kopf.Spec, **kwargs: Any) -> None:
    product = labels.get(LABEL_PRODUCT)
    version = workload_version(labels, spec)
    tenant = tenant_of(namespace, kwargs["tenant_of_namespace"])
    if not product or not version or not tenant:
        return
    today = CLOCK.now().date()
    for policy in policies_for(str(product), kwargs["policies_by_product"]):
        if policy.spec.enforcement.action != "BlockDeployments" or not policy.covers(str(product), tenant):
            continue
        eol = end_of_life(policy.spec, str(version))
        if eol is not None and today >= eol:
            raise kopf.AdmissionError(
                f"{product} {version} reached end of life on {eol} (VersionPolicy {policy.name}): new Deployments "
                f"of it are refused; deploy a supported version", code=403)
