"""Operator start-up: kopf settings, the handlers of every kind, and the client's life cycle."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from . import kube
from .api import FINALIZER, GROUP
from .tenant import handlers as tenant_handlers  # noqa: F401  (registers the Tenant handlers)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    # Progress and the last-handled spec live in annotations: status stays ours, and spec is never written.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.batching.error_delays = (1, 2, 5, 10, 30, 60)
    await kube.connect()


@kopf.on.cleanup()
async def disconnect(**_: Any) -> None:
    await kube.close()
