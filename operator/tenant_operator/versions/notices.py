"""Delivering a version notice on every channel the tenant prefers: an Event on the Tenant, e-mail and webhook."""

from __future__ import annotations

from datetime import date
from typing import Any

import kopf

from ..audit import audit
from ..clock import CLOCK
from ..notifications.deliver import notify_tenant_admins
from .compliance import Notice

TEMPLATE = "version-notice"
EVENT = "version.notice"
DIGEST_TEMPLATE = "version-digest"
DIGEST_EVENT = "version.digest"


def notice_context(tenant: dict[str, Any], product: str, version: str, notice: Notice) -> dict[str, Any]:
    return {
        "tenant": tenant["metadata"]["name"],
        "tenant_name": (tenant.get("spec") or {}).get("displayName", tenant["metadata"]["name"]),
        "product": product, "version": version, "kind": notice.kind, "due": notice.due.isoformat(),
        "message": notice.message, "key": notice.key, "timestamp": CLOCK.now().isoformat(timespec="seconds"),
    }


async def deliver(tenant: dict[str, Any], product: str, version: str, notice: Notice) -> dict[str, str]:
    context = notice_context(tenant, product, version, notice)
    kopf.warn(tenant, reason="VersionNotice", message=f"[severity=medium] {notice.message} ({notice.kind})")
    outcomes = await notify_tenant_admins(tenant, EVENT, TEMPLATE, context)
    audit("VERSION_NOTICE_SENT", "medium", tenant["metadata"]["name"], product=product, version=version,
          notice=notice.kind, due=notice.due.isoformat(), channels=outcomes)
    return outcomes


def wants_digest(tenant: dict[str, Any]) -> bool:
    return ((tenant.get("spec") or {}).get("notifications") or {}).get("digest") == "daily"


def queued(tenant: dict[str, Any]) -> list[dict[str, Any]]:
    return list((((tenant.get("status") or {}).get("versions") or {}).get("digest")) or [])


def announce(tenant: dict[str, Any], product: str, version: str, notice: Notice, today: date) -> dict[str, Any]:
    """The Event now; e-mail and webhook wait for the daily digest. Returns the queue entry."""
    kopf.warn(tenant, reason="VersionNotice", message=f"[severity=medium] {notice.message} ({notice.kind})")
    audit("VERSION_NOTICE_QUEUED", "low", tenant["metadata"]["name"], product=product, version=version,
          notice=notice.kind, due=notice.due.isoformat())
    return {"product": product, "version": version, "kind": notice.kind, "due": notice.due.isoformat(),
            "message": notice.message, "queuedOn": today.isoformat()}


async def deliver_digest(tenant: dict[str, Any], entries: list[dict[str, Any]], today: date) -> dict[str, str]:
    context = {
        "tenant": tenant["metadata"]["name"],
        "tenant_name": (tenant.get("spec") or {}).get("displayName", tenant["metadata"]["name"]),
        "notices": entries, "count": len(entries), "day": today.isoformat(),
        "timestamp": CLOCK.now().isoformat(timespec="seconds"),
    }
    outcomes = await notify_tenant_admins(tenant, DIGEST_EVENT, DIGEST_TEMPLATE, context)
    audit("VERSION_DIGEST_SENT", "medium", tenant["metadata"]["name"], notices=[e["kind"] for e in entries],
          channels=outcomes)
    return outcomes
