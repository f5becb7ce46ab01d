"""Admission webhooks for Tenant (served by kopf): what the CRD schema and CEL cannot check alone."""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from ..api import ANNOTATION_ACTOR, FINALIZER, GROUP, VERSION
from ..schedule import UpdatePreferences
from .identity import display_name_key, slugify


@kopf.index(GROUP, VERSION, "tenants")
async def tenants_by_display_name(name: str, spec: kopf.Spec, **_: Any) -> dict[str, str]:
    return {display_name_key(spec.get("displayName") or ""): name}


# One mutating and one validating webhook for Tenants: each webhook is an HTTPS call from the apiserver on every
# write (the operator's own metadata patches included), so the checks share a call instead of making one each.
@kopf.on.mutate(GROUP, VERSION, "tenants", operations=["CREATE", "UPDATE"], id="tenant-defaults")
async def tenant_defaults(
    operation: str, body: kopf.Body, spec: kopf.Spec, old: Any, new: Any, userinfo: dict[str, Any],
    patch: kopf.Patch, **_: Any,
) -> None:
    if operation == "CREATE":
        slug_from_display_name(body, spec, patch)
        add_finalizer(body, patch)
    record_actor(operation, old, new, userinfo, patch)


def add_finalizer(body: kopf.Body, patch: kopf.Patch) -> None:
    """A Tenant is born with the operator's finalizer, so kopf need not add it in a write (and an event) of its
    own before provisioning starts. Admission attributes it to the creator as an Update, so a later server-side
    apply of the creator's YAML (which never lists it) does not take it away."""
    finalizers = list(body.metadata.get("finalizers") or [])
    if FINALIZER not in finalizers:
        patch.metadata["finalizers"] = [*finalizers, FINALIZER]


def slug_from_display_name(body: kopf.Body, spec: kopf.Spec, patch: kopf.Patch) -> None:
    """A Tenant created with generateName only is named (its slug) after its display name."""
    if not body.metadata.get("name") and spec.get("displayName"):
        patch.metadata["name"] = slugify(spec["displayName"])


def record_actor(operation: str, old: Any, new: Any, userinfo: dict[str, Any], patch: kopf.Patch) -> None:
    """Stamps who changed the spec, so the audit trail names the actor; the operator's own writes never do."""
    if operation == "CREATE" or (old or {}).get("spec") != (new or {}).get("spec"):
        patch.metadata.setdefault("annotations", {})[ANNOTATION_ACTOR] = userinfo.get("username", "unknown")


@kopf.on.validate(GROUP, VERSION, "tenants", operations=["CREATE", "UPDATE"], id="tenant-validation")
async def validate_tenant(body: kopf.Body, spec: kopf.Spec, tenants_by_display_name: kopf.Index, **_: Any) -> None:
    unique_display_name(body, spec, tenants_by_display_name)
    valid_update_preferences(spec)


def unique_display_name(body: kopf.Body, spec: kopf.Spec, tenants_by_display_name: kopf.Index) -> None:
    display_name = spec.get("displayName") or ""
    name = body.metadata.get("name")
    others = sorted(other for other in tenants_by_display_name.get(display_name_key(display_name), []) if other != name)
    if others:
        raise kopf.AdmissionError(
            f"spec.displayName: {display_name!r} is already used by tenant {others[0]}; "
            "display names are unique across the platform",
            code=409,
        )


def valid_update_preferences(spec: kopf.Spec) -> None:
    """Time zones are checked against the operator's zone database, which CEL cannot see."""
    if spec.get("updates") is None:
        return
    try:
        UpdatePreferences.model_validate(dict(spec["updates"]))
    except ValidationError as error:
        problems = "; ".join(
            f"spec.updates.{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}" for issue in error.errors()
        )
        raise kopf.AdmissionError(problems, code=422) from error
