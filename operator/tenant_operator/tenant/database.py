"""The Tenant's database, as kopf handlers use it: read the options and the tenant, call provisioning, report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import kopf

from .. import kube
from ..api import API_VERSION, GROUP, VERSION
from ..conditions import now_rfc3339
from ..database.provision import DatabaseError, Provisioned, ensure_database, retire_database
from ..database.servers import ServerUnavailable, load_server

__all__ = ["DatabaseError", "ServerUnavailable", "database_enabled", "provision", "retire"]
from ..metrics import DATABASE_FAILURES, DATABASE_PROVISION_SECONDS
from ..options import DATABASE
from .model import TenantSpec
from .render import namespace_names

ROTATE_ANNOTATION = "tenancy.io/rotate-db-password"


def database_enabled(spec: TenantSpec) -> bool:
    return spec.database is not None and spec.database.enabled


def server_name(spec: TenantSpec) -> str:
    return (spec.database and spec.database.serverRef) or DATABASE.default_server


def rotation_request(meta: kopf.Meta) -> str | None:
    return (meta.get("annotations") or {}).get(ROTATE_ANNOTATION)


async def extra_migrations(spec: TenantSpec, namespace: str) -> dict[str, str]:
    name = spec.database.migrationsConfigMap if spec.database else None
    if not name:
        return {}
    config_map = await kube.get("v1", "ConfigMap", name, namespace)
    if config_map is None:
        raise DatabaseError("InvalidMigrations", f"ConfigMap {namespace}/{name} with migrations not found")
    return dict(config_map.get("data") or {})


def rotation_requested(meta: kopf.Meta, status: dict[str, Any]) -> bool:
    request = rotation_request(meta)
    return request is not None and request != (status.get("database") or {}).get("rotationHandled")


async def provision(
    slug: str, uid: str, spec: TenantSpec, namespace: str, meta: kopf.Meta, status: dict[str, Any], limit: int
) -> dict[str, Any]:
    """Provisions or re-checks the database; returns status.database. Raises DatabaseError."""
    started = time.perf_counter()
    previous = status.get("database") or {}
    request = rotation_request(meta)
    rotate = rotation_requested(meta, status)
    try:
        server = await load_server(DATABASE.namespace, server_name(spec))
        result: Provisioned = await ensure_database(
            slug, uid, namespace, server, limit, await extra_migrations(spec, namespace), rotate
        )
    except ServerUnavailable as error:
        DATABASE_FAILURES.labels(reason="ServerNotConfigured").inc()
        raise DatabaseError("ServerNotConfigured", str(error)) from None
    except DatabaseError as error:
        DATABASE_FAILURES.labels(reason=error.reason).inc()
        raise
    DATABASE_PROVISION_SECONDS.observe(time.perf_counter() - started)
    return {
        "server": result.server,
        "name": result.name,
        "secretName": result.secret_name,
        "schemaVersion": result.schema_version,
        "passwordRotatedAt": now_rfc3339() if result.password_rotated else previous.get("passwordRotatedAt"),
        "rotationHandled": request if rotate else previous.get("rotationHandled"),
    }


async def retire(slug: str, spec: TenantSpec) -> str:
    """Applies spec.database.deletionPolicy; returns what happened, for the Event and the audit line."""
    policy = spec.database.deletionPolicy if spec.database else "Retain"
    server = await load_server(DATABASE.namespace, server_name(spec))
    return await retire_database(slug, server, policy, Path(DATABASE.archive_dir))


MIGRATIONS_REVISION_ANNOTATION = "tenancy.io/migrations-revision"


@kopf.index(GROUP, VERSION, "tenants")
async def tenants_by_migrations_config_map(name: str, spec: kopf.Spec, **_: Any) -> dict[tuple[str, str], str] | None:
    tenant_spec = TenantSpec.model_validate(dict(spec))
    if not (database_enabled(tenant_spec) and tenant_spec.database and tenant_spec.database.migrationsConfigMap):
        return None
    primary = namespace_names(name, tenant_spec)[0]
    return {(primary, tenant_spec.database.migrationsConfigMap): name}


@kopf.on.event("", "v1", "configmaps")
async def pick_up_new_migrations(
    type: str | None,
    name: str,
    namespace: str,
    meta: kopf.Meta,
    tenants_by_migrations_config_map: kopf.Index,
    **_: Any,
) -> None:
    """A tenant's migrations ConfigMap changed: nudge the tenant (a metadata patch) so it migrates now.

    A raw event handler: kopf keeps no state on ConfigMaps, and only the index decides whether to act.
    """
    if type not in ("ADDED", "MODIFIED"):
        return
    for tenant in tenants_by_migrations_config_map.get((namespace, name), []):
        revision = str(meta.get("resourceVersion"))
        await kube.nudge(API_VERSION, "Tenant", tenant, MIGRATIONS_REVISION_ANNOTATION, revision)
