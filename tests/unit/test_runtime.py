"""kopf settings of the operator: where the diff base lives, and which log lines are dropped."""

from __future__ import annotations

import json
import logging

import kopf

from tenant_operator.runtime import QuietObservers, StatusDiffBase

LEGACY_KEY = "operator.tenancy.io/last-handled-configuration"


def tenant(annotations: dict[str, str] | None = None, status: dict | None = None) -> kopf.Body:
    return kopf.Body({
        "apiVersion": "tenancy.io/v1alpha1", "kind": "Tenant",
        "metadata": {"name": "acme", "annotations": annotations or {}},
        "spec": {"displayName": "Acme", "plan": "basic"},
        "status": status or {},
    })


def test_the_diff_base_is_stored_in_status_only() -> None:
    storage = StatusDiffBase()
    body = tenant()
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    assert json.loads(patch["status"]["lastHandledConfiguration"])["spec"] == {"displayName": "Acme", "plan": "basic"}
    assert "metadata" not in patch  # no metadata write: the status report carries it


def test_a_diff_base_left_in_the_annotation_by_an_earlier_version_is_read_then_moved() -> None:
    storage = StatusDiffBase()
    legacy = json.dumps({"spec": {"displayName": "Acme", "plan": "premium"}})
    body = tenant(annotations={LEGACY_KEY: legacy})
    assert storage.fetch(body=body) == {"spec": {"displayName": "Acme", "plan": "premium"}}
    assert LEGACY_KEY not in (storage.build(body=body).get("metadata", {}).get("annotations") or {})
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=storage.build(body=body))
    assert patch["metadata"]["annotations"][LEGACY_KEY] is None
    assert "lastHandledConfiguration" in patch["status"]


def test_status_wins_over_the_annotation() -> None:
    storage = StatusDiffBase()
    body = tenant(annotations={LEGACY_KEY: json.dumps({"spec": {"plan": "old"}})},
                  status={"lastHandledConfiguration": json.dumps({"spec": {"plan": "new"}})})
    assert storage.fetch(body=body) == {"spec": {"plan": "new"}}


def record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)


def test_observers_and_webhooks_succeed_quietly_while_failures_and_change_handlers_are_logged() -> None:
    quiet = QuietObservers({"tally_tenant"})
    assert not quiet.filter(record("Handler 'tally_tenant' succeeded."))
    assert not quiet.filter(record("Webhook 'tenant-validation' succeeded."))
    assert quiet.filter(record("Handler 'reconcile_tenant' succeeded."))
    assert quiet.filter(record("Handler 'tally_tenant' failed with an exception and will try again in 1 seconds: x",
                               logging.ERROR))
