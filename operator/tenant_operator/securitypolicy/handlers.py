"""kopf handlers for SecurityPolicy: a change reaches every tenant that uses the policy, and is audited."""

from __future__ import annotations

from typing import Any

import kopf

from .. import kube
from ..api import API_VERSION, GROUP, VERSION
from ..audit import audit
from ..conditions import set_condition
from ..metrics import track_reconcile
from .model import SecurityPolicySpec

# Written on a Tenant when its policy changes: a metadata change that makes the Tenant reconcile at once.
REVISION_ANNOTATION = f"{GROUP}/security-policy-revision"


@kopf.index(GROUP, VERSION, "tenants")
async def tenants_by_security_policy(name: str, spec: kopf.Spec, **_: Any) -> dict[str, str] | None:
    ref = spec.get("securityPolicyRef")
    return {ref: name} if ref else None


async def load_policy(name: str) -> SecurityPolicySpec | None:
    policy = await kube.get(API_VERSION, "SecurityPolicy", name)
    return SecurityPolicySpec.model_validate(policy.get("spec") or {}) if policy else None


async def notify_tenants(tenants: list[str], revision: str) -> None:
    await kube.gather_limited(
        kube.nudge(API_VERSION, "Tenant", tenant, REVISION_ANNOTATION, revision) for tenant in tenants
    )


@kopf.on.create(GROUP, VERSION, "securitypolicies")
@kopf.on.update(GROUP, VERSION, "securitypolicies")
async def propagate_security_policy(
    name: str,
    body: kopf.Body,
    meta: kopf.Meta,
    status: kopf.Status,
    old: Any,
    new: Any,
    reason: kopf.Reason,
    patch: kopf.Patch,
    tenants_by_security_policy: kopf.Index,
    **_: Any,
) -> None:
    with track_reconcile("SecurityPolicy"):
        generation = int(meta.get("generation") or 0)
        tenants = sorted(tenants_by_security_policy.get(name, []))
        await notify_tenants(tenants, f"{name}/{generation}")
        message = f"applied to {len(tenants)} tenant(s)"
        conditions = set_condition(list(status.get("conditions") or []), "Ready", "True", "Propagated", message,
                                   generation)
        patch.status["observedGeneration"] = generation
        patch.status["tenants"] = tenants
        patch.status["conditions"] = conditions
        if reason == kopf.Reason.UPDATE:
            before, after = (old or {}).get("spec") or {}, (new or {}).get("spec") or {}
            kopf.info(body, reason="SecurityPolicyUpdated", message=f"[severity=high] policy {name} {message}")
            audit(
                "SECURITY_POLICY_UPDATED",
                "high",
                None,
                policy=name,
                tenants=tenants,
                changes={"before": before, "after": after},
            )
