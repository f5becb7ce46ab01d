"""Pure rendering for IpRestriction: the NetworkPolicy ipBlocks and the ingress-nginx source-range annotations."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..api import LABEL_OWNER_KIND, managed_labels
from .validation import Network, parse_entry

POLICY_NAME = "tenant-ip-restrictions"
WHITELIST = "nginx.ingress.kubernetes.io/whitelist-source-range"
DENYLIST = "nginx.ingress.kubernetes.io/denylist-source-range"
EVERYWHERE = ("0.0.0.0/0", "::/0")


def allowed_networks(spec: dict[str, Any]) -> list[Network]:
    entries = [*(spec.get("allowedIPs") or []), *(spec.get("allowedRanges") or [])]
    return [parse_entry(entry) for entry in entries] or [ipaddress.ip_network(net) for net in EVERYWHERE]


def blocked_networks(spec: dict[str, Any]) -> list[Network]:
    return [parse_entry(entry) for entry in spec.get("blockList") or []]


def ip_blocks(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """One ipBlock per allowed entry, with the blocked entries inside it as exceptions."""
    blocks = []
    blocked = blocked_networks(spec)
    for allowed in allowed_networks(spec):
        inside = [str(b) for b in blocked if b.version == allowed.version and b.subnet_of(allowed) and b != allowed]
        block: dict[str, Any] = {"cidr": str(allowed)}
        if inside:
            block["except"] = inside
        blocks.append({"ipBlock": block})
    return blocks


def network_policy(namespace: str, slug: str, owner: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": POLICY_NAME,
            "namespace": namespace,
            "labels": {**managed_labels(slug), LABEL_OWNER_KIND: "IpRestriction"},
            "ownerReferences": [owner],
        },
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": ip_blocks(spec)}]},
    }


def ingress_annotations(spec: dict[str, Any] | None) -> dict[str, str]:
    """What the operator owns on a tenant's Ingress; empty when restrictions are off (SSA then removes them)."""
    if not spec or not spec.get("enabled", True):
        return {}
    annotations = {WHITELIST: ",".join(str(n) for n in allowed_networks(spec))}
    blocked = blocked_networks(spec)
    if blocked:
        annotations[DENYLIST] = ",".join(str(n) for n in blocked)
    return annotations


def ingress_patch(name: str, namespace: str, uid: str, annotations: dict[str, str]) -> dict[str, Any]:
    """A server-side apply body that owns exactly these annotations on the Ingress, nothing else.

    The uid makes the apply fail instead of creating an empty Ingress when the Ingress was just deleted.
    """
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "uid": uid, "annotations": annotations},
    }
