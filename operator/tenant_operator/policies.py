"""Admission rules the apiserver enforces by itself (ValidatingAdmissionPolicy, CEL): no webhook round trip."""

from __future__ import annotations

from typing import Any

from .api import GROUP

PREVENT_DELETION = f"{GROUP}-prevent-tenant-deletion"


def prevent_deletion_policy() -> list[dict[str, Any]]:
    """DELETE of a Tenant with spec.preventDeletion: true is refused with a message naming the field."""
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": PREVENT_DELETION, "labels": {"app.kubernetes.io/part-of": "tenant-operator"}},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [GROUP],
                        "apiVersions": ["*"],
                        "operations": ["DELETE"],
                        "resources": ["tenants"],
                    }
                ]
            },
            "validations": [
                {
                    "expression": "!has(oldObject.spec.preventDeletion) || !oldObject.spec.preventDeletion",
                    "messageExpression": (
                        "'tenant ' + oldObject.metadata.name + ' has spec.preventDeletion: true; "
                        "set it to false before deleting the tenant'"
                    ),
                    "reason": "Forbidden",
                }
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": PREVENT_DELETION, "labels": {"app.kubernetes.io/part-of": "tenant-operator"}},
        "spec": {"policyName": PREVENT_DELETION, "validationActions": ["Deny"]},
    }
    return [policy, binding]
