"""Delivering one notification to a tenant's admin contacts, on every channel the tenant set up."""

from __future__ import annotations

import base64
from typing import Any

from .. import kube
from .send import post_webhook, send_email

HMAC_KEY = "hmac-key"


async def hmac_key(namespace: str, secret_name: str | None) -> bytes | None:
    if not secret_name:
        return None
    secret = await kube.get("v1", "Secret", secret_name, namespace)
    encoded = ((secret or {}).get("data") or {}).get(HMAC_KEY)
    if encoded is None:
        raise RuntimeError(f"Secret {namespace}/{secret_name} has no {HMAC_KEY}")
    return base64.b64decode(encoded)


async def notify_tenant_admins(
    tenant: dict[str, Any], event: str, template: str, context: dict[str, Any]
) -> dict[str, str]:
    """Sends on each configured channel; returns channel -> 'sent' or the failure (never raises)."""
    settings = (tenant.get("spec") or {}).get("notifications") or {}
    primary = ((tenant.get("status") or {}).get("primaryNamespace")) or tenant["metadata"]["name"]
    outcomes: dict[str, str] = {}
    if settings.get("emails"):
        try:
            await send_email(settings["emails"], template, context)
            outcomes["email"] = "sent"
        except Exception as error:  # reported in status; a mail outage must not undo the change
            outcomes["email"] = f"failed: {error}"
    webhook = settings.get("webhook")
    if webhook:
        try:
            key = await hmac_key(primary, webhook.get("secretName"))
            await post_webhook(webhook["url"], key, event, context)
            outcomes["webhook"] = "sent"
        except Exception as error:
            outcomes["webhook"] = f"failed: {error}"
    return outcomes
