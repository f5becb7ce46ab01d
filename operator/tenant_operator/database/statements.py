"""The SQL the operator runs, composed with safe identifier and literal quoting. Pure: nothing here connects."""

from __future__ import annotations

from psycopg import sql


def role_exists() -> sql.Composed:
    return sql.SQL("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s").format()


def database_exists() -> sql.Composed:
    return sql.SQL("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s").format()


def create_role(role: str, verifier: str, connection_limit: int) -> sql.Composed:
    return sql.SQL(
        "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
        "CONNECTION LIMIT {} PASSWORD {}"
    ).format(sql.Identifier(role), sql.Literal(connection_limit), sql.Literal(verifier))


def alter_role(role: str, verifier: str, connection_limit: int) -> sql.Composed:
    return sql.SQL(
        "ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
        "CONNECTION LIMIT {} PASSWORD {}"
    ).format(sql.Identifier(role), sql.Literal(connection_limit), sql.Literal(verifier))


def comment_on_role(role: str, comment: str) -> sql.Composed:
    return sql.SQL("COMMENT ON ROLE {} IS {}").format(sql.Identifier(role), sql.Literal(comment))


def create_database(database: str, owner: str) -> sql.Composed:
    return sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(owner))


def database_grants(database: str, role: str, comment: str) -> list[sql.Composed]:
    """Only the tenant's role may connect; PUBLIC's default CONNECT and TEMP are revoked."""
    return [
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(database), sql.Literal(comment)),
        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(role)),
        sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)),
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database), sql.Identifier(role)
        ),
    ]


def disable_login(role: str) -> sql.Composed:
    return sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role))


def terminate_connections() -> sql.Composed:
    return sql.SQL(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s OR usename = %s"
    ).format()


def drop_database(database: str) -> sql.Composed:
    return sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))


def drop_role(role: str) -> sql.Composed:
    return sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role))
