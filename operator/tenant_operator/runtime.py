"""Operator start-up: kopf settings, the handlers of every kind, and the client's life cycle."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from . import kube, readiness, webhooks
from .api import FINALIZER, GROUP, KOPF_PREFIX, LEGACY_KOPF_PREFIX
from .conditions import LAST_HANDLED_FIELD
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


webhooks.install()
readiness.install()


def configure_webhook(settings: kopf.OperatorSettings, options: WebhookOptions) -> None:
    hosts = list(dict.fromkeys([options.host, "localhost", "127.0.0.1"]))
    cert, key = ensure_certificate(options.cert_dir, hosts)
    settings.admission.server = kopf.WebhookServer(
        addr=options.bind, port=options.port, host=options.host, certfile=cert, pkeyfile=key, cafile=cert
    )
    if options.manage_configuration:
        settings.admission.managed = GROUP


class QuietObservers(logging.Filter):
    """Drops the "succeeded" line kopf logs for every event an index or a raw event handler sees, and for every
    admission review: with a thousand tenants they were most of the log (and a share of the operator's CPU) and
    said nothing. Their failures are still logged, and so is every change handler's success."""

    def __init__(self, quiet_ids: set[str]) -> None:
        super().__init__()
        self.quiet_ids = quiet_ids

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if record.levelno != logging.INFO or not isinstance(message, str) or not message.endswith("' succeeded."):
            return True
        kind, _, quoted = message.partition(" '")
        return not (kind == "Webhook" or (kind == "Handler" and quoted.removesuffix("' succeeded.") in self.quiet_ids))


def observer_ids(registry: kopf.OperatorRegistry) -> set[str]:
    observers = [*registry._indexing.get_all_handlers(), *registry._watching.get_all_handlers()]
    return {str(handler.id) for handler in observers}


class StatusDiffBase(kopf.StatusDiffBaseStorage):
    """The last-handled spec in status.lastHandledConfiguration: kopf writes it with the handler's status report,
    one write per reconcile instead of a metadata patch plus a status patch (and one watch event instead of two).

    Objects handled by earlier versions keep it in an annotation: read from there until the next store, which
    removes the annotation.
    """

    def __init__(self) -> None:
        super().__init__(field=f"status.{LAST_HANDLED_FIELD}")
        self.legacy = kopf.AnnotationsDiffBaseStorage(prefix=LEGACY_KOPF_PREFIX, key="last-handled-configuration")

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> Any:
        return self.legacy.build(body=body, extra_fields=extra_fields)  # without the legacy annotation

    def fetch(self, *, body: kopf.Body) -> Any:
        return super().fetch(body=body) or self.legacy.fetch(body=body)

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        super().store(body=body, patch=patch, essence=essence)
        for key in self.legacy.make_keys(self.legacy.key, body=body):
            if key in body.metadata.annotations:
                patch.metadata.annotations[key] = None


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    logging.getLogger("kopf.objects").addFilter(QuietObservers(observer_ids(kopf.get_default_registry())))
    settings.persistence.finalizer = FINALIZER
    # Progress (retries of failing handlers) lives in annotations; spec is never written. kopf ignores every
    # annotation under its own prefix, so it must not be tenancy.io (user-facing annotations such as
    # tenancy.io/rotate-db-password have to trigger handlers).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = StatusDiffBase()
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
