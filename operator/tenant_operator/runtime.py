"""Operator start-up: kopf settings, the handlers of every kind, and the client's life cycle."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from . import kube
from .api import FINALIZER, GROUP, KOPF_PREFIX
from .certificates import ensure_certificate
from .clock import CLOCK  # noqa: F401  (set by the CLI)
from .options import IDENTITY, DATABASE, NOTIFICATIONS, PEERING, ROLLOUTS, WEBHOOK, WebhookOptions  # noqa: F401  (set by the CLI)
from .fleet import handlers as fleet_handlers  # noqa: F401  (registers them)
from .iprestriction import handlers as ip_restriction_handlers  # noqa: F401  (registers them)
from .rollout import handlers as rollout_handlers  # noqa: F401  (registers them)
from .securitypolicy import handlers as security_policy_handlers  # noqa: F401  (registers them)
from .tenant import admission as tenant_admission  # noqa: F401  (registers the Tenant webhooks)
from .tenant import handlers as tenant_handlers  # noqa: F401  (registers the Tenant handlers)
from .versions import handlers as version_handlers  # noqa: F401  (registers them)


def configure_webhook(settings: kopf.OperatorSettings, options: WebhookOptions) -> None:
    hosts = list(dict.fromkeys([options.host, "localhost", "127.0.0.1"]))
    cert, key = ensure_certificate(options.cert_dir, hosts)
    settings.admission.server = kopf.WebhookServer(
        addr=options.bind, port=options.port, host=options.host, certfile=cert, pkeyfile=key, cafile=cert
    )
    if options.manage_configuration:
        settings.admission.managed = GROUP


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    # Progress and the last-handled spec live in annotations: status stays ours, and spec is never written.
    # kopf ignores every annotation under its own prefix, so it must not be tenancy.io (user-facing annotations
    # such as tenancy.io/rotate-db-password have to trigger handlers).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.batching.error_delays = (1, 2, 5, 10, 30, 60)
    settings.peering.priority = PEERING.priority
    settings.peering.lifetime = PEERING.lifetime
    if WEBHOOK.port:
        configure_webhook(settings, WEBHOOK)
    await kube.connect()
    IDENTITY.subject = await kube.own_subject()


@kopf.on.cleanup()
async def disconnect(**_: Any) -> None:
    await kube.close()
