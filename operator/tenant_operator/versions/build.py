"""A tenant's version inventory, built from what the operator's indexes hold. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, NamedTuple

from ..rollout.gates import IndexedRollout
from .compliance import Verdict, judge
from .inventory import PendingUpdate, ProductVersion, UpdateRecord, VersionInventory
from .model import VersionPolicySpec

SEVERITY = {"Compliant": 0, "InGracePeriod": 1, "NonCompliant": 2}
HISTORY_LENGTH = 20
FINISHED = ("Completed", "RolledBack", "Failed")


class DeployedProduct(NamedTuple):
    namespace: str
    name: str
    product: str
    version: str | None
    replicas: int
    created: str
    in_rollout: bool = False  # a green Deployment its UpdateRollout still owns: not live yet
    selector: tuple[tuple[str, str], ...] = ()  # the Deployment's matchLabels


class Policy(NamedTuple):
    name: str
    spec: VersionPolicySpec

    def covers(self, product: str, tenant: str) -> bool:
        return self.spec.product == product and (not self.spec.tenants or tenant in self.spec.tenants)


def gather(index: Mapping[str, Iterable[Any]], namespaces: Iterable[str]) -> list[Any]:
    return [entry for namespace in namespaces for entry in index.get(namespace, [])]


def live_products(deployments: list[DeployedProduct]) -> list[DeployedProduct]:
    """Per product, the live Deployment: the newest with replicas that no unfinished rollout still owns (a
    scaled-down standby and a green under test are not live)."""
    live: dict[str, DeployedProduct] = {}
    for deployment in sorted(deployments, key=lambda d: d.created):
        if deployment.replicas > 0 and not deployment.in_rollout:
            live[deployment.product] = deployment
    return [live[product] for product in sorted(live)]


def judge_all(policies: list[Policy], tenant: str, product: str, version: str | None,
              today: date) -> tuple[Verdict, str | None]:
    """The worst verdict of the policies that cover the product for this tenant."""
    verdicts = [(judge(policy.spec, tenant, version, today), policy.name) for policy in policies
                if policy.covers(product, tenant)]
    if not verdicts:
        return Verdict("Compliant"), None
    return max(verdicts, key=lambda pair: SEVERITY[pair[0].compliance])


def product_entry(deployment: DeployedProduct, verdict: Verdict, policy: str | None) -> ProductVersion:
    return ProductVersion(
        product=deployment.product, version=deployment.version, namespace=deployment.namespace,
        deployment=deployment.name, compliance=verdict.compliance, reason=verdict.reason,
        endOfLife=verdict.end_of_life.isoformat() if verdict.end_of_life else None,
        graceEnds=verdict.grace_ends.isoformat() if verdict.grace_ends else None,
        graceDaysRemaining=verdict.grace_days_remaining, policy=policy,
    )


def build_inventory(tenant: str, deployments: list[DeployedProduct], rollouts: list[IndexedRollout],
                    policies: list[Policy], today: date) -> VersionInventory:
    products = [product_entry(d, *judge_all(policies, tenant, d.product, d.version, today))
                for d in live_products(deployments)]
    finished = sorted((r for r in rollouts if r.phase in FINISHED), key=lambda r: r.finished_at or "", reverse=True)
    pending = sorted((r for r in rollouts if r.phase not in FINISHED), key=lambda r: (r.product, r.name))
    return VersionInventory(
        compliance=max((p.compliance for p in products), key=SEVERITY.__getitem__, default="Compliant"),
        products=products,
        pendingUpdates=[PendingUpdate(product=r.product, version=r.version, rollout=f"{r.namespace}/{r.name}",
                                      phase=r.phase) for r in pending],
        updateHistory=[UpdateRecord(product=r.product, fromVersion=r.from_version, toVersion=r.version,
                                    outcome=r.phase, finishedAt=r.finished_at,  # type: ignore[arg-type]
                                    rollout=f"{r.namespace}/{r.name}") for r in finished[:HISTORY_LENGTH]],
        updateSuccessRate=round(sum(r.phase == "Completed" for r in finished) / len(finished), 3) if finished else None,
    )


def comparable(versions: Mapping[str, Any] | None) -> dict[str, Any]:
    """status.versions without the notices' bookkeeping, to tell whether a write would change anything."""
    return {key: value for key, value in (versions or {}).items() if key not in NOTICE_FIELDS}


NOTICE_FIELDS = {"noticesSent", "digest"}  # written by the notices, not by the inventory


RESTRICTED_LABEL = "tenancy.io/restricted-by"


def restriction_name(product: str) -> str:
    return f"version-restricted-{product}"[:63]


def access_restriction(deployment: DeployedProduct, policy: str, reason: str) -> dict[str, Any]:
    """A NetworkPolicy that admits no ingress to the product's pods (its Deployment's selector)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": restriction_name(deployment.product), "namespace": deployment.namespace,
            "labels": {RESTRICTED_LABEL: policy},
            "annotations": {"tenancy.io/reason": reason},
        },
        "spec": {"podSelector": {"matchLabels": dict(deployment.selector)}, "policyTypes": ["Ingress"],
                 "ingress": []},
    }
