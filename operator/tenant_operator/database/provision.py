"""Provisioning a tenant's database on a real PostgreSQL server: idempotent, safe to repeat at any point."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg

from .. import kube
from ..api import managed_labels
from . import statements
from .migrations import Migration, MigrationError, apply_migrations, base_migrations, parse_migrations
from .naming import database_identifier, ownership_comment
from .scram import generate_password, scram_sha256_verifier
from .servers import Server, decode_secret_data

SECRET_NAME = "tenant-database"
PROVISIONING_CONCURRENCY = 4

_slots = asyncio.Semaphore(PROVISIONING_CONCURRENCY)


class DatabaseError(Exception):
    """A failure with a CamelCase reason for the DatabaseReady condition; messages never carry secrets."""

    def __init__(self, reason: str, message: str, schema_version: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.schema_version = schema_version


@dataclass(frozen=True)
class Provisioned:
    server: str
    name: str
    role: str
    secret_name: str
    schema_version: str
    password_rotated: bool


def scrub(message: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message


def connection_secret(
    slug: str, uid: str, namespace: str, server: Server, database: str, role: str, password: str
) -> dict[str, Any]:
    """The keys users know from other Postgres operators."""
    values = {
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "PGDATABASE": database,
        "PGUSER": role,
        "PGPASSWORD": password,
        "PGSSLMODE": server.sslmode,
        "DATABASE_URL": (
            f"postgresql://{role}:{password}@{server.host}:{server.port}/{database}?sslmode={server.sslmode}"
        ),
    }
    from ..tenant.render import owner_reference

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": SECRET_NAME,
            "namespace": namespace,
            "labels": managed_labels(slug),
            "ownerReferences": [owner_reference(slug, uid)],
        },
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
    }


async def stored_password(namespace: str) -> str | None:
    secret = await kube.get("v1", "Secret", SECRET_NAME, namespace)
    return decode_secret_data(secret).get("PGPASSWORD") if secret else None


async def _owner_comment(connection: psycopg.AsyncConnection, query: Any, name: str) -> tuple[bool, str | None]:
    row = await (await connection.execute(query, [name])).fetchone()
    return (row is not None, row[0] if row else None)


async def ensure_role(connection: psycopg.AsyncConnection, slug: str, role: str, password: str, limit: int) -> None:
    exists, comment = await _owner_comment(connection, statements.role_exists(), role)
    if exists and comment != ownership_comment(slug):
        raise DatabaseError("DatabaseConflict", f"role {role} exists and is not managed for tenant {slug}")
    verifier = scram_sha256_verifier(password)
    # One transaction: a crash between CREATE ROLE and COMMENT would leave a role the next run refuses as foreign.
    async with connection.transaction():
        if exists:
            await connection.execute(statements.alter_role(role, verifier, limit))
        else:
            try:
                async with connection.transaction():  # a savepoint, so a concurrent run's role can be taken over
                    await connection.execute(statements.create_role(role, verifier, limit))
            except psycopg.errors.DuplicateObject:  # made by a concurrent run: take the ALTER path
                await connection.execute(statements.alter_role(role, verifier, limit))
        await connection.execute(statements.comment_on_role(role, ownership_comment(slug)))


async def ensure_database_object(connection: psycopg.AsyncConnection, slug: str, database: str, role: str) -> None:
    exists, comment = await _owner_comment(connection, statements.database_exists(), database)
    if exists and comment not in (None, ownership_comment(slug)):
        raise DatabaseError("DatabaseConflict", f"database {database} exists and is not managed for tenant {slug}")
    if exists and comment is None:
        owner = await (await connection.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [database])).fetchone()
        if owner is None or owner[0] != role:
            raise DatabaseError("DatabaseConflict", f"database {database} exists and is not managed for tenant {slug}")
    if not exists:
        try:
            await connection.execute(statements.create_database(database, role))
        except psycopg.errors.DuplicateDatabase:
            pass  # made by a concurrent run; the grants below finish it
    for statement in statements.database_grants(database, role, ownership_comment(slug)):
        await connection.execute(statement)


async def ensure_database(
    slug: str,
    uid: str,
    namespace: str,
    server: Server,
    connection_limit: int,
    extra_migrations: dict[str, str],
    rotate: bool,
) -> Provisioned:
    """Role, database, grants, migrations and the connection Secret; converges from any partial state.

    The Secret is written before the role gets its password, so a crash in between leaves a Secret whose
    password the next run sets, never a role whose password is lost.
    """
    database = role = database_identifier(slug)
    try:
        tenant_migrations = parse_migrations(extra_migrations, "tenant")
    except ValueError as error:
        raise DatabaseError("InvalidMigrations", str(error)) from error
    async with _slots:
        password = None if rotate else await stored_password(namespace)
        rotated = password is None
        password = password or generate_password()
        await kube.apply(connection_secret(slug, uid, namespace, server, database, role, password))
        try:
            async with await psycopg.AsyncConnection.connect(**server.connect_kwargs(), autocommit=True) as admin:
                await ensure_role(admin, slug, role, password, connection_limit)
                await ensure_database_object(admin, slug, database, role)
            version = await migrate(server, database, role, [*base_migrations(), *tenant_migrations])
        except MigrationError as error:
            raise DatabaseError("MigrationFailed", scrub(str(error), password, server.password), error.last_good)
        except psycopg.OperationalError as error:
            raise DatabaseError("ServerUnavailable", scrub(str(error).strip(), password, server.password)) from None
        except psycopg.Error as error:
            raise DatabaseError("DatabaseError", scrub(str(error).strip(), password, server.password)) from None
    return Provisioned(server.name, database, role, SECRET_NAME, version, rotated)


async def migrate(server: Server, database: str, role: str, migrations: list[Migration]) -> str:
    async with await psycopg.AsyncConnection.connect(**server.connect_kwargs(database), autocommit=True) as conn:
        return await apply_migrations(conn, role, migrations)


async def retire_database(slug: str, server: Server, policy: str, archive_dir: Path) -> str:
    """Retain (login disabled), Archive (pg_dump, then drop) or Delete (drop). Returns what happened."""
    database = role = database_identifier(slug)
    try:
        async with await psycopg.AsyncConnection.connect(**server.connect_kwargs(), autocommit=True) as admin:
            exists, comment = await _owner_comment(admin, statements.database_exists(), database)
            if exists and comment != ownership_comment(slug):
                return f"left database {database} alone: it is not managed for tenant {slug}"
            if policy == "Retain":
                await admin.execute(statements.disable_login(role))
                return f"retained database {database}; role {role} can no longer log in"
            archive = None
            if policy == "Archive" and exists:
                archive = await dump_database(server, database, archive_dir)
            await admin.execute(statements.terminate_connections(), [database, role])
            await admin.execute(statements.drop_database(database))
            await admin.execute(statements.drop_role(role))
            if archive is not None:
                return f"archived database {database} to {archive}, then dropped it and role {role}"
            return f"deleted database {database} and role {role}"
    except psycopg.Error as error:
        raise DatabaseError("ServerUnavailable", scrub(str(error).strip(), server.password)) from None


def pg_dump_path() -> str:
    found = shutil.which("pg_dump")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))
    if not candidates:
        raise DatabaseError("ArchiveFailed", "pg_dump not found: install postgresql-client")
    return str(candidates[-1])


async def dump_database(server: Server, database: str, archive_dir: Path) -> Path:
    archive_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = archive_dir / f"{database}-{stamp}.dump"
    process = await asyncio.create_subprocess_exec(
        pg_dump_path(), "--format=custom", f"--file={target}",
        f"--host={server.host}", f"--port={server.port}", f"--username={server.user}", f"--dbname={database}",
        env={**os.environ, "PGPASSWORD": server.password, "PGSSLMODE": server.sslmode},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise DatabaseError("ArchiveFailed", scrub(stderr.decode().strip(), server.password))
    return target
