"""A PostgreSQL database per tenant, against the real PostgreSQL server and the real kube-apiserver."""

from __future__ import annotations

import base64
import signal

import psycopg
import pytest

from tests.cluster.plugin import ClusterHandle
from tests.cluster.postgres import PostgresServer
from tests.e2e.helpers import (
    apply,
    audit_lines,
    condition,
    delete_tenant,
    eventually,
    events_for,
    wait_for_condition,
    wait_for_event,
    get_json,
    tenant_manifest,
    wait_ready,
)
from tests.e2e.operator_process import OperatorProcess

pytestmark = pytest.mark.e2e

SECRET_KEYS = {"DATABASE_URL", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE"}


def with_database(name: str, display: str, database: str = "{enabled: true}", extra: str = "") -> str:
    return tenant_manifest(name, display, f"  database: {database}\n{extra}")


def credentials(cluster: ClusterHandle, namespace: str) -> dict[str, str]:
    secret = get_json(cluster, "secret", "tenant-database", "-n", namespace)
    assert secret is not None, f"no tenant-database Secret in {namespace}"
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def connect(creds: dict[str, str], dbname: str | None = None, password: str | None = None) -> psycopg.Connection:
    return psycopg.connect(
        host=creds["PGHOST"],
        port=creds["PGPORT"],
        dbname=dbname or creds["PGDATABASE"],
        user=creds["PGUSER"],
        password=password or creds["PGPASSWORD"],
        connect_timeout=5,
        autocommit=True,
    )


def admin(postgres: PostgresServer, dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(postgres.dsn(dbname), autocommit=True)


def scalar(connection: psycopg.Connection, query: str, *params: object) -> object:
    row = connection.execute(query, params or None).fetchone()
    return row[0] if row else None


def assert_never_leaked(cluster: ClusterHandle, operator: OperatorProcess, tenant: str, *secrets: str) -> None:
    logs = operator.logs()
    events = str(events_for(cluster, "Tenant", tenant))
    status = str((get_json(cluster, "tenant", tenant) or {}).get("status"))
    for secret in secrets:
        assert secret not in logs and secret not in events and secret not in status


def test_database_role_secret_and_base_schema(
    cluster: ClusterHandle, operator: OperatorProcess, database_server: PostgresServer
) -> None:
    apply(cluster, with_database("lambda", "Lambda", extra="  plan: premium"))
    try:
        tenant = wait_ready(cluster, "lambda")
        assert condition(tenant, "DatabaseReady")["status"] == "True"
        status = tenant["status"]["database"]
        assert status["name"] == "tenant_lambda" and status["secretName"] == "tenant-database"
        assert status["schemaVersion"] == "base:2"
        creds = credentials(cluster, "lambda")
        assert set(creds) == SECRET_KEYS
        assert creds["PGDATABASE"] == creds["PGUSER"] == "tenant_lambda"
        with psycopg.connect(creds["DATABASE_URL"], connect_timeout=5) as conn:
            tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
            assert {"app_users", "app_settings", "audit_log", "tenant_operator_migrations"} <= tables
            assert scalar(conn, "SELECT tableowner FROM pg_tables WHERE tablename = 'app_users'") == "tenant_lambda"
            conn.execute("INSERT INTO app_users (email) VALUES ('a@lambda.example')")
        with admin(database_server) as conn:
            role = conn.execute(
                "SELECT rolcanlogin, rolcreatedb, rolcreaterole, rolsuper, rolconnlimit FROM pg_roles "
                "WHERE rolname = 'tenant_lambda'"
            ).fetchone()
            assert role == (True, False, False, False, 25)  # the premium plan's connection limit
            verifier = scalar(conn, "SELECT rolpassword FROM pg_authid WHERE rolname = 'tenant_lambda'")
            assert str(verifier).startswith("SCRAM-SHA-256$")
        assert_never_leaked(cluster, operator, "lambda", creds["PGPASSWORD"], database_server.password)
    finally:
        delete_tenant(cluster, "lambda")


def test_tenants_are_isolated_from_each_other(
    cluster: ClusterHandle, operator: OperatorProcess, database_server: PostgresServer
) -> None:
    apply(cluster, with_database("mu", "Mu"))
    apply(cluster, with_database("nu", "Nu"))
    try:
        wait_ready(cluster, "mu")
        wait_ready(cluster, "nu")
        mu, nu = credentials(cluster, "mu"), credentials(cluster, "nu")
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            connect(mu, dbname=nu["PGDATABASE"])
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect(mu, dbname=nu["PGDATABASE"], password=nu["PGPASSWORD"] + "x")
        with connect(mu) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE DATABASE sneaky")
        with connect(mu) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE ROLE sneaky")
        with admin(database_server) as conn:
            conn.execute("DROP ROLE IF EXISTS outsider")
            conn.execute("CREATE ROLE outsider LOGIN PASSWORD 'outsider-pw'")
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            connect({**mu, "PGUSER": "outsider"}, password="outsider-pw")
        with admin(database_server) as conn:
            assert scalar(conn, "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'tenant_mu'") == 10  # basic
    finally:
        delete_tenant(cluster, "mu")
        delete_tenant(cluster, "nu")


MIGRATIONS = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: schema, namespace: xi}}
data:
{entries}
"""


def migrations_config_map(**files: str) -> str:
    entries = "\n".join(f"  {name}: |\n    {body}" for name, body in files.items())
    return MIGRATIONS.format(entries=entries)


def test_tenant_migrations_apply_once_in_order_and_stop_at_the_last_good_version(
    cluster: ClusterHandle, operator: OperatorProcess, database_server: PostgresServer
) -> None:
    apply(cluster, with_database("xi", "Xi", "{enabled: true, migrationsConfigMap: schema}"))
    try:
        eventually(lambda: get_json(cluster, "namespace", "xi"), what="namespace xi")
        apply(cluster, migrations_config_map(**{"0001_orders.sql": "CREATE TABLE orders (id int PRIMARY KEY);"}))
        tenant = eventually(
            lambda: (t := get_json(cluster, "tenant", "xi")) and (t["status"].get("database") or {}).get(
                "schemaVersion") == "base:2,tenant:1" and t,
            timeout=120,
            what="tenant migration applied",
        )
        assert condition(tenant, "DatabaseReady")["status"] == "True"

        apply(cluster, migrations_config_map(**{
            "0001_orders.sql": "CREATE TABLE orders (id int PRIMARY KEY);",
            "0002_broken.sql": "CREATE TABLE half (id int); SELECT no_such_function();",
        }))
        tenant = eventually(
            lambda: (t := get_json(cluster, "tenant", "xi")) and (c := condition(t, "DatabaseReady"))
            and c["reason"] == "MigrationFailed" and t,
            timeout=60,
            what="migration failure reported",
        )
        assert "tenant/0002_broken.sql failed" in condition(tenant, "DatabaseReady")["message"]
        assert condition(tenant, "Ready")["status"] == "False"
        assert tenant["status"]["database"]["schemaVersion"] == "base:2,tenant:1"
        creds = credentials(cluster, "xi")
        with connect(creds) as conn:
            assert scalar(conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'half'") == 0  # rolled back
            assert scalar(conn, "SELECT count(*) FROM tenant_operator_migrations") == 3

        apply(cluster, migrations_config_map(**{
            "0001_orders.sql": "CREATE TABLE orders (id int PRIMARY KEY);",
            "0002_broken.sql": "CREATE TABLE half (id int);",
        }))
        eventually(
            lambda: (get_json(cluster, "tenant", "xi")["status"].get("database") or {}).get("schemaVersion")
            == "base:2,tenant:2",
            timeout=150,
            what="fixed migration applied on retry",
        )
        wait_ready(cluster, "xi")
        with connect(creds) as conn:
            assert scalar(conn, "SELECT count(*) FROM tenant_operator_migrations") == 4
            assert scalar(conn, "SELECT tableowner FROM pg_tables WHERE tablename = 'half'") == "tenant_xi"

        # A migration added to a tenant in shape is picked up from the ConfigMap change alone.
        apply(cluster, migrations_config_map(**{
            "0001_orders.sql": "CREATE TABLE orders (id int PRIMARY KEY);",
            "0002_broken.sql": "CREATE TABLE half (id int);",
            "0003_invoices.sql": "CREATE TABLE invoices (id int PRIMARY KEY);",
        }))
        eventually(
            lambda: (get_json(cluster, "tenant", "xi")["status"].get("database") or {}).get("schemaVersion")
            == "base:2,tenant:3",
            timeout=30,
            what="new migration applied after the ConfigMap changed",
        )
    finally:
        delete_tenant(cluster, "xi")


def test_password_rotation_replaces_the_secret_and_the_old_password_stops_working(
    cluster: ClusterHandle, operator: OperatorProcess, database_server: PostgresServer
) -> None:
    apply(cluster, with_database("omicron", "Omicron"))
    try:
        wait_ready(cluster, "omicron")
        old = credentials(cluster, "omicron")
        connect(old).close()
        cluster.kubectl("annotate", "tenant", "omicron", "tenancy.io/rotate-db-password=2026-11-23T10:00:00Z")
        new = eventually(
            lambda: (c := credentials(cluster, "omicron"))["PGPASSWORD"] != old["PGPASSWORD"] and c,
            what="Secret rotated",
        )
        eventually(lambda: (get_json(cluster, "tenant", "omicron")["status"]["database"]).get("rotationHandled"),
                   what="rotation recorded")
        connect(new).close()
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect(old)
        wait_for_event(cluster, "Tenant", "omicron", "DatabasePasswordRotated")
        assert_never_leaked(cluster, operator, "omicron", old["PGPASSWORD"], new["PGPASSWORD"])
    finally:
        delete_tenant(cluster, "omicron")


def test_server_down_is_reported_and_the_tenant_converges_when_it_is_back(
    cluster: ClusterHandle, operator: OperatorProcess, database_server: PostgresServer
) -> None:
    database_server.stop()
    try:
        apply(cluster, with_database("pi", "Pi"))
        tenant = wait_for_condition(cluster, "tenant", "pi", "DatabaseReady", timeout=60)
        database_ready = condition(tenant, "DatabaseReady")
        assert database_ready["reason"] == "ServerUnavailable"
        assert "Connection refused" in database_ready["message"] or "connection" in database_ready["message"]
        assert condition(tenant, "Ready")["status"] == "False"
        assert condition(tenant, "NamespacesReady")["status"] == "True"  # the rest is provisioned meanwhile
    finally:
        database_server.start()
    try:
        wait_ready_long = eventually(
            lambda: condition(get_json(cluster, "tenant", "pi"), "Ready")["status"] == "True",
            timeout=150,
            what="tenant Ready once the server is back",
        )
        assert wait_ready_long
        connect(credentials(cluster, "pi")).close()
        assert 'tenant_operator_database_failures_total{reason="ServerUnavailable"}' in operator.metrics()
        assert "tenant_operator_database_provision_duration_seconds_count" in operator.metrics()
    finally:
        delete_tenant(cluster, "pi")


def test_restart_mid_provisioning_leaves_one_role_and_one_database(
    cluster: ClusterHandle, operator: OperatorProcess, database_server: PostgresServer
) -> None:
    apply(cluster, with_database("rho", "Rho"))
    try:
        eventually(lambda: get_json(cluster, "namespace", "rho"), interval=0.05, what="provisioning started")
        operator.stop(signal.SIGKILL)
        operator.start()
        wait_ready(cluster, "rho")
        with admin(database_server) as conn:
            assert scalar(conn, "SELECT count(*) FROM pg_roles WHERE rolname = 'tenant_rho'") == 1
            assert scalar(conn, "SELECT count(*) FROM pg_database WHERE datname = 'tenant_rho'") == 1
        connect(credentials(cluster, "rho")).close()
    finally:
        delete_tenant(cluster, "rho")


@pytest.mark.parametrize("policy", ["Retain", "Archive", "Delete"])
def test_decommission_follows_the_database_deletion_policy(
    cluster: ClusterHandle, operator: OperatorProcess, database_server: PostgresServer, policy: str
) -> None:
    name = f"sigma-{policy.lower()}"
    database = "tenant_" + name.replace("-", "_")
    apply(cluster, with_database(name, f"Sigma {policy}", f"{{enabled: true, deletionPolicy: {policy}}}"))
    wait_ready(cluster, name)
    archives_before = set(operator.archive_dir.glob(f"{database}-*.dump")) if operator.archive_dir.exists() else set()
    delete_tenant(cluster, name)
    eventually(lambda: get_json(cluster, "tenant", name) is None, what="tenant gone")
    with admin(database_server) as conn:
        db_exists = scalar(conn, "SELECT count(*) FROM pg_database WHERE datname = %s", database) == 1
        login = scalar(conn, "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", database)
    record = [r for r in audit_lines(operator.logs()) if r["event"] == "TENANT_DECOMMISSIONED" and r["tenant"] == name]
    event = [wait_for_event(cluster, "Tenant", name, "TenantDecommissioned")["message"]]
    if policy == "Retain":
        assert db_exists and login is False
        assert "retained database" in record[-1]["database"] and "retained database" in event[-1]
    elif policy == "Archive":
        assert not db_exists and login is None
        archives = set(operator.archive_dir.glob(f"{database}-*.dump")) - archives_before
        assert len(archives) == 1 and archives.pop().read_bytes().startswith(b"PGDMP")
        assert "archived database" in record[-1]["database"]
    else:
        assert not db_exists and login is None
        assert "deleted database" in record[-1]["database"]
    if policy == "Retain":
        with admin(database_server) as conn:
            conn.execute(f"DROP DATABASE {database}")
            conn.execute(f"DROP ROLE {database}")


def test_server_is_chosen_per_tenant_and_must_be_a_labelled_server_secret(
    cluster: ClusterHandle, operator: OperatorProcess, database_server: PostgresServer
) -> None:
    from tests.e2e.operator_process import DATABASE_NAMESPACE

    for name, labelled in (("postgres-eu", True), ("not-a-server", False)):
        manifest = cluster.kubectl(
            "create", "secret", "generic", name, "-n", DATABASE_NAMESPACE,
            f"--from-literal=host={database_server.host}", f"--from-literal=port={database_server.port}",
            "--from-literal=user=postgres", f"--from-literal=password={database_server.password}",
            "--from-literal=sslmode=disable", "--dry-run=client", "-o", "yaml",
        ).stdout
        cluster.kubectl("apply", "-f", "-", input_text=manifest)
        if labelled:
            cluster.kubectl("label", "secret", name, "-n", DATABASE_NAMESPACE, "tenancy.io/database-server=true")
    apply(cluster, with_database("tau", "Tau", "{enabled: true, serverRef: postgres-eu}"))
    apply(cluster, with_database("upsilon", "Upsilon", "{enabled: true, serverRef: not-a-server}"))
    try:
        assert wait_ready(cluster, "tau")["status"]["database"]["server"] == "postgres-eu"
        tenant = wait_for_condition(cluster, "tenant", "upsilon", "DatabaseReady")
        database_ready = condition(tenant, "DatabaseReady")
        assert database_ready["reason"] == "ServerNotConfigured"
        assert "not-a-server is not labelled tenancy.io/database-server=true" in database_ready["message"]
        assert get_json(cluster, "secret", "tenant-database", "-n", "upsilon") is None
    finally:
        delete_tenant(cluster, "tau")
        delete_tenant(cluster, "upsilon")  # never provisioned: nothing holds the delete


def test_a_database_the_operator_did_not_make_is_never_adopted(
    cluster: ClusterHandle, operator: OperatorProcess, database_server: PostgresServer
) -> None:
    with admin(database_server) as conn:
        conn.execute("CREATE DATABASE tenant_phi")
    apply(cluster, with_database("phi", "Phi"))
    try:
        tenant = wait_for_condition(cluster, "tenant", "phi", "DatabaseReady")
        database_ready = condition(tenant, "DatabaseReady")
        assert database_ready["reason"] == "DatabaseConflict"
        assert "database tenant_phi exists and is not managed for tenant phi" in database_ready["message"]
        with admin(database_server) as conn:
            assert scalar(conn, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname='tenant_phi'") == (
                "postgres")
    finally:
        cluster.kubectl("patch", "tenant", "phi", "--type=merge", "-p",
                        '{"spec":{"database":{"enabled":false}}}', check=False)
        delete_tenant(cluster, "phi")
        with admin(database_server) as conn:
            conn.execute("DROP DATABASE IF EXISTS tenant_phi")
            conn.execute("DROP ROLE IF EXISTS tenant_phi")


def test_a_half_made_database_is_completed(
    cluster: ClusterHandle, operator: OperatorProcess, database_server: PostgresServer
) -> None:
    """The state a crash between 'role made' and 'database made' leaves behind."""
    with admin(database_server) as conn:
        conn.execute("CREATE ROLE tenant_chi LOGIN PASSWORD 'stale-password'")
        conn.execute("COMMENT ON ROLE tenant_chi IS 'managed by tenant-operator for tenant chi'")
    apply(cluster, with_database("chi", "Chi"))
    try:
        wait_ready(cluster, "chi")
        creds = credentials(cluster, "chi")
        with connect(creds) as conn:
            assert scalar(conn, "SELECT current_database()") == "tenant_chi"
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect(creds, password="stale-password")
    finally:
        delete_tenant(cluster, "chi")
