import base64

import pytest

from tenant_operator.database.migrations import base_migrations, parse_migrations, pending, schema_version
from tenant_operator.database.naming import IDENTIFIER_MAX_BYTES, database_identifier
from tenant_operator.database.provision import connection_secret, scrub
from tenant_operator.database.scram import scram_sha256_verifier
from tenant_operator.database.servers import Server, ServerUnavailable, server_from_secret


def test_identifiers_are_injective_and_within_postgres_limits() -> None:
    assert database_identifier("acme-corp") == "tenant_acme_corp"
    assert database_identifier("a" * 40) == "tenant_" + "a" * 40
    long_one, long_two = database_identifier("x" * 70), database_identifier("x" * 69 + "y")
    assert len(long_one.encode()) <= IDENTIFIER_MAX_BYTES and long_one != long_two


def test_scram_verifier_format_is_what_postgres_stores() -> None:
    verifier = scram_sha256_verifier("secret", salt=b"0123456789abcdef")
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    assert method == "SCRAM-SHA-256"
    assert iterations_salt == "4096:" + base64.b64encode(b"0123456789abcdef").decode()
    stored, server = keys.split(":")
    assert len(base64.b64decode(stored)) == len(base64.b64decode(server)) == 32
    assert scram_sha256_verifier("secret") != scram_sha256_verifier("secret")  # fresh salt each time


def test_migrations_are_ordered_and_validated() -> None:
    migrations = parse_migrations({"0002_b.sql": "B", "0001_a.sql": "A"}, "tenant")
    assert [m.name for m in migrations] == ["0001_a.sql", "0002_b.sql"]
    with pytest.raises(ValueError, match="names must look like"):
        parse_migrations({"create.sql": "X"}, "tenant")
    with pytest.raises(ValueError, match="repeat version"):
        parse_migrations({"0001_a.sql": "A", "0001_b.sql": "B"}, "tenant")


def test_pending_skips_applied_and_refuses_edited_migrations() -> None:
    first, second = parse_migrations({"0001_a.sql": "A", "0002_b.sql": "B"}, "tenant")
    assert pending({("tenant", 1): first.checksum}, [first, second]) == [second]
    with pytest.raises(ValueError, match="changed after it was applied"):
        pending({("tenant", 1): "other"}, [first, second])


def test_schema_version_names_the_last_version_of_each_source() -> None:
    assert schema_version({}) == "none"
    assert schema_version({("base", 1): "x", ("base", 2): "y", ("tenant", 1): "z"}) == "base:2,tenant:1"
    assert [m.label for m in base_migrations()] == ["base/0001_base.sql", "base/0002_audit_log.sql"]


def secret(data: dict[str, str], labelled: bool = True) -> dict:
    labels = {"tenancy.io/database-server": "true"} if labelled else {}
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    return {"metadata": {"labels": labels}, "data": encoded}


def test_server_secrets_must_be_labelled_and_complete_and_never_print_the_password() -> None:
    server = server_from_secret("pg", secret({"host": "db", "port": "5432", "user": "admin", "password": "pw"}))
    assert (server.host, server.port, server.sslmode) == ("db", 5432, "prefer")
    assert "pw" not in repr(server)
    with pytest.raises(ServerUnavailable, match="not labelled"):
        server_from_secret("pg", secret({"host": "db"}, labelled=False))
    with pytest.raises(ServerUnavailable, match="lacks port, user, password"):
        server_from_secret("pg", secret({"host": "db"}))


def test_connection_secret_has_the_usual_keys() -> None:
    server = Server("pg", "db.example", 5432, "admin", "adminpw", sslmode="require")
    rendered = connection_secret("acme", "uid", "acme", server, "tenant_acme", "tenant_acme", "pw")
    data = {key: base64.b64decode(value).decode() for key, value in rendered["data"].items()}
    assert data["DATABASE_URL"] == "postgresql://tenant_acme:pw@db.example:5432/tenant_acme?sslmode=require"
    assert (data["PGHOST"], data["PGPORT"], data["PGDATABASE"], data["PGUSER"]) == (
        "db.example", "5432", "tenant_acme", "tenant_acme")
    assert "adminpw" not in str(rendered)


def test_scrub_hides_secrets_in_messages() -> None:
    assert scrub("password=hunter2 failed", "hunter2", "") == "password=*** failed"
