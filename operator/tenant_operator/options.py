"""Operator options set once by the command line, read by the handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class WebhookOptions:
    """Where the admission webhook listens, how the apiserver reaches it, and its certificate."""

    port: int = 0  # 0: no webhook server
    bind: str = "0.0.0.0"
    host: str = "127.0.0.1"
    cert_dir: Path = field(default_factory=lambda: Path("/tmp/tenant-operator-webhook"))
    manage_configuration: bool = True


WEBHOOK = WebhookOptions()


@dataclass
class DatabaseOptions:
    """Where the PostgreSQL servers' admin Secrets live, which one is the default, where archives go."""

    namespace: str = "tenant-operator-system"
    default_server: str = "postgres"
    archive_dir: Path = field(default_factory=lambda: Path("/var/lib/tenant-operator/archives"))


DATABASE = DatabaseOptions()


@dataclass
class NotificationOptions:
    """The SMTP server notifications are sent through."""

    smtp_host: str = ""
    smtp_port: int = 25
    sender: str = "tenant-operator@localhost"


NOTIFICATIONS = NotificationOptions()


@dataclass
class IdentityOptions:
    """Who the operator is to the apiserver (SelfSubjectReview at start-up), as an RBAC subject."""

    subject: dict[str, str] | None = None


IDENTITY = IdentityOptions()


@dataclass
class RolloutOptions:
    """Defaults for UpdateRollout checks."""

    prometheus_url: str = ""


ROLLOUTS = RolloutOptions()


@dataclass
class PeeringOptions:
    """Leader election between replicas through kopf's peering: the highest priority acts, the others pause."""

    priority: int = 0
    lifetime: int = 60  # seconds a silent peer counts as alive


PEERING = PeeringOptions()
