"""matchConditions on the admission webhooks kopf manages, so the apiserver calls them only when it matters.

kopf writes the Validating/MutatingWebhookConfigurations from its handlers but has no notion of matchConditions
(CEL evaluated by the apiserver before it calls a webhook). Without them every write of a Tenant, the operator's
own metadata patches included, costs an HTTPS round trip per webhook; with them only creates and spec changes do.
kopf builds the configurations in one function, which is wrapped here; tests/unit/test_webhooks.py fails when a
kopf upgrade moves it.
"""

from __future__ import annotations

from typing import Any

from kopf._core.engines import admission as kopf_admission

SPEC_CHANGED = {
    "name": "create-or-spec-change",
    "expression": "request.operation != 'UPDATE' || object.spec != oldObject.spec",
}

# Webhook handler ids whose checks read nothing but the spec.
SPEC_ONLY_WEBHOOKS = {"tenant-defaults", "tenant-validation", "validate-ip-restrictions"}


def add_match_conditions(webhooks: list[dict[str, Any]], handler_ids: list[str], suffix: str) -> list[dict[str, Any]]:
    names = {kopf_admission._normalize_name(handler_id, suffix=suffix) for handler_id in handler_ids}
    for webhook in webhooks:
        if webhook["name"] in names:
            webhook["matchConditions"] = [dict(SPEC_CHANGED)]
    return webhooks


def install() -> None:
    """Makes kopf's configuration manager write the conditions (idempotent)."""
    build = kopf_admission.build_webhooks
    if getattr(build, "with_match_conditions", False):
        return

    def build_webhooks(handlers_: Any, **kwargs: Any) -> list[dict[str, Any]]:
        handlers_ = list(handlers_)
        webhooks = build(handlers_, **kwargs)
        spec_only = [str(handler.id) for handler in handlers_ if str(handler.id) in SPEC_ONLY_WEBHOOKS]
        return add_match_conditions(webhooks, spec_only, kwargs["name_suffix"])

    build_webhooks.with_match_conditions = True  # type: ignore[attr-defined]
    kopf_admission.build_webhooks = build_webhooks
