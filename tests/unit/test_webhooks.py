"""The admission webhooks kopf configures carry matchConditions: called on creates and spec changes only."""

from __future__ import annotations

import kopf
from kopf._cogs.structs import references, reviews
from kopf._core.engines import admission as kopf_admission

from tenant_operator import runtime  # noqa: F401  (registers the handlers and installs the wrapper)
from tenant_operator.webhooks import SPEC_CHANGED, SPEC_ONLY_WEBHOOKS

RESOURCES = [
    references.Resource("tenancy.io", "v1alpha1", "tenants"),
    references.Resource("tenancy.io", "v1alpha1", "iprestrictions"),
    references.Resource("apps", "v1", "deployments"),
]


def built() -> dict[str, dict]:
    handlers = kopf.get_default_registry()._webhooks.get_all_handlers()
    client_config = reviews.WebhookClientConfig(url="https://127.0.0.1:9443")
    webhooks = kopf_admission.build_webhooks(
        handlers, resources=RESOURCES, name_suffix="tenancy.io", client_config=client_config
    )
    return {webhook["name"].removesuffix(".tenancy.io"): webhook for webhook in webhooks}


def test_the_configuration_manager_builds_through_the_wrapper() -> None:
    assert getattr(kopf_admission.build_webhooks, "with_match_conditions", False)


def test_spec_only_webhooks_are_called_on_create_and_spec_change_only() -> None:
    webhooks = built()
    for handler_id in SPEC_ONLY_WEBHOOKS:
        assert webhooks[handler_id]["matchConditions"] == [SPEC_CHANGED], handler_id


def test_other_webhooks_keep_no_conditions() -> None:
    assert "matchConditions" not in built()["end-of-life-versions"]


def test_the_tenant_checks_share_one_webhook_of_each_kind() -> None:
    tenant_webhooks = [name for name, webhook in built().items() if webhook["rules"][0]["resources"] == ["tenants"]]
    assert sorted(tenant_webhooks) == ["tenant-defaults", "tenant-validation"]
