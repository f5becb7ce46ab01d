"""kopf's peering resources, for leader election between replicas (`tenant-operator run --peering NAME`).

kopf keeps each running operator's priority and heartbeat in the peering object's status; the highest priority
acts, the others pause until its heartbeat expires.
"""

from __future__ import annotations

from typing import Any

PEERING_GROUP = "kopf.dev"
PEERINGS_FILE = f"{PEERING_GROUP}_peerings.yaml"


def peering_crd(kind: str, plural: str, scope: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{PEERING_GROUP}"},
        "spec": {
            "group": PEERING_GROUP,
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": "Operators that coordinate through kopf's peering: who is alive, at what priority.",
                    "properties": {"status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                              "description": "Each operator's priority and last heartbeat."}},
                }},
            }],
        },
    }


def peering_crds() -> list[dict[str, Any]]:
    return [peering_crd("ClusterKopfPeering", "clusterkopfpeerings", "Cluster"),
            peering_crd("KopfPeering", "kopfpeerings", "Namespaced")]
