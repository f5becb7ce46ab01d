"""The audit trail: one structured JSON log line per change, next to a Kubernetes Event on the object."""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from .conditions import now_rfc3339

Severity = Literal["low", "medium", "high"]

audit_logger = logging.getLogger("tenant_operator.audit")


def audit_record(
    event: str,
    severity: Severity,
    tenant: str | None,
    actor: str | None = None,
    changes: dict[str, Any] | None = None,
    **details: Any,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "audit": True,
        "time": now_rfc3339(),
        "event": event,
        "severity": severity,
        "tenant": tenant,
        "actor": actor,
    }
    if changes is not None:
        record["changes"] = changes
    record.update(details)
    return record


def audit(event: str, severity: Severity, tenant: str | None, **fields: Any) -> dict[str, Any]:
    record = audit_record(event, severity, tenant, **fields)
    audit_logger.info(json.dumps(record, sort_keys=True, default=str))
    return record
