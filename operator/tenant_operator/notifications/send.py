"""Sending notifications. Rendering is pure; sending talks to the SMTP server or the webhook endpoint."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
from email.message import EmailMessage
from typing import Any

import aiohttp
import jinja2

from ..options import NOTIFICATIONS

SIGNATURE_HEADER = "X-Tenant-Operator-Signature"
EVENT_HEADER = "X-Tenant-Operator-Event"

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("tenant_operator.notifications", "templates"),
    autoescape=False,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def render_email(template: str, context: dict[str, Any]) -> tuple[str, str]:
    subject = _templates.get_template(f"{template}.subject.j2").render(context).strip()
    body = _templates.get_template(f"{template}.txt.j2").render(context)
    return subject, body


def sign(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def webhook_body(event: str, payload: dict[str, Any]) -> bytes:
    return json.dumps({"event": event, **payload}, sort_keys=True, default=str).encode()


async def send_email(recipients: list[str], template: str, context: dict[str, Any]) -> None:
    if not NOTIFICATIONS.smtp_host:
        raise RuntimeError("no SMTP server configured (--smtp-host)")
    subject, body = render_email(template, context)
    message = EmailMessage()
    message["From"] = NOTIFICATIONS.sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(body)

    def deliver() -> None:
        with smtplib.SMTP(NOTIFICATIONS.smtp_host, NOTIFICATIONS.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)

    await asyncio.to_thread(deliver)


async def post_webhook(url: str, key: bytes | None, event: str, payload: dict[str, Any]) -> None:
    body = webhook_body(event, payload)
    headers = {"Content-Type": "application/json", EVENT_HEADER: event}
    if key:
        headers[SIGNATURE_HEADER] = sign(key, body)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.post(url, data=body, headers=headers) as response:
            if response.status >= 300:
                raise RuntimeError(f"webhook answered {response.status}")
