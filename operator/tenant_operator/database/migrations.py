"""Versioned schema migrations: the operator's base ones, then the tenant's own from a ConfigMap.

Each runs in its own transaction as the tenant's role (so the tenant owns what it creates) and is recorded in
tenant_operator_migrations, so nothing is applied twice and a failure leaves the last good version.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

FILENAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
TABLE = "tenant_operator_migrations"
LOCK_KEY = 0x74656E616E74  # advisory lock: one migration run per database at a time


class MigrationError(Exception):
    def __init__(self, message: str, last_good: str) -> None:
        super().__init__(message)
        self.last_good = last_good


@dataclass(frozen=True)
class Migration:
    source: str  # "base" (shipped with the operator) or "tenant" (from the tenant's ConfigMap)
    version: int
    name: str
    body: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.body.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.source}/{self.name}"


def parse_migrations(files: dict[str, str], source: str) -> list[Migration]:
    """Migrations from file name -> SQL, in version order; names must be NNNN_words.sql and versions unique."""
    migrations = []
    for name, body in files.items():
        match = FILENAME.match(name)
        if match is None:
            raise ValueError(f"{source} migration {name!r}: names must look like 0001_create_orders.sql")
        migrations.append(Migration(source, int(match.group(1)), name, body))
    versions = [migration.version for migration in migrations]
    duplicates = sorted({version for version in versions if versions.count(version) > 1})
    if duplicates:
        raise ValueError(f"{source} migrations repeat version(s) {duplicates}")
    return sorted(migrations, key=lambda migration: migration.version)


def base_migrations() -> list[Migration]:
    folder = resources.files("tenant_operator.database") / "migrations"
    files = {entry.name: entry.read_text() for entry in folder.iterdir() if entry.name.endswith(".sql")}
    return parse_migrations(files, "base")


def pending(applied: dict[tuple[str, int], str], migrations: list[Migration]) -> list[Migration]:
    """What is left to apply; an applied migration whose text changed since is an error, not a re-run."""
    for migration in migrations:
        recorded = applied.get((migration.source, migration.version))
        if recorded is not None and recorded != migration.checksum:
            raise ValueError(f"migration {migration.label} changed after it was applied; add a new one instead")
    return [m for m in migrations if (m.source, m.version) not in applied]


def schema_version(applied: dict[tuple[str, int], str]) -> str:
    """e.g. 'base:2,tenant:1': the last version applied from each source."""
    latest: dict[str, int] = {}
    for source, version in applied:
        latest[source] = max(version, latest.get(source, 0))
    return ",".join(f"{source}:{latest[source]}" for source in sorted(latest)) or "none"


async def _applied(connection: psycopg.AsyncConnection) -> dict[tuple[str, int], str]:
    rows = await (await connection.execute(sql.SQL("SELECT source, version, checksum FROM {}").format(
        sql.Identifier(TABLE)))).fetchall()
    return {(source, version): checksum for source, version, checksum in rows}


async def apply_migrations(connection: psycopg.AsyncConnection, role: str, migrations: list[Migration]) -> str:
    """Applies what is pending; returns the schema version. The connection is the admin's, to the tenant's db."""
    await connection.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (source text NOT NULL, version integer NOT NULL, name text NOT NULL, "
            "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (source, version))"
        ).format(sql.Identifier(TABLE))
    )
    await connection.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(TABLE), sql.Identifier(role)))
    applied = await _applied(connection)
    for migration in pending(applied, migrations):
        try:
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
                if (migration.source, migration.version) in await _applied(connection):
                    continue  # applied by a concurrent run while we waited for the lock
                await connection.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
                await connection.execute(sql.SQL(migration.body))  # type: ignore[arg-type]
                await connection.execute("RESET ROLE")
                await connection.execute(
                    sql.SQL("INSERT INTO {} (source, version, name, checksum) VALUES (%s, %s, %s, %s)").format(
                        sql.Identifier(TABLE)
                    ),
                    [migration.source, migration.version, migration.name, migration.checksum],
                )
        except psycopg.Error as error:
            raise MigrationError(
                f"migration {migration.label} failed: {str(error).strip()}", schema_version(applied)
            ) from error
        applied[(migration.source, migration.version)] = migration.checksum
    return schema_version(applied)
