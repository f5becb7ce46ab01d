"""PostgreSQL servers, given to the operator by reference: a Secret with an admin connection per server."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from .. import kube

SERVER_LABEL = "tenancy.io/database-server"
KEYS = ("host", "port", "user", "password")


class ServerUnavailable(Exception):
    """The server's Secret is missing or incomplete; the message names what, never a value."""


@dataclass(frozen=True)
class Server:
    name: str
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    sslmode: str = "prefer"
    dbname: str = "postgres"

    def connect_kwargs(self, dbname: str | None = None) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": dbname or self.dbname,
            "sslmode": self.sslmode,
            "connect_timeout": 5,
            "application_name": "tenant-operator",
        }


def decode_secret_data(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def server_from_secret(name: str, secret: dict[str, Any]) -> Server:
    labels = (secret.get("metadata") or {}).get("labels") or {}
    if labels.get(SERVER_LABEL) != "true":
        raise ServerUnavailable(f"Secret {name} is not labelled {SERVER_LABEL}=true")
    data = decode_secret_data(secret)
    missing = [key for key in KEYS if not data.get(key)]
    if missing:
        raise ServerUnavailable(f"Secret {name} lacks {', '.join(missing)}")
    return Server(
        name=name,
        host=data["host"],
        port=int(data["port"]),
        user=data["user"],
        password=data["password"],
        sslmode=data.get("sslmode", "prefer"),
        dbname=data.get("dbname", "postgres"),
    )


async def load_server(namespace: str, name: str) -> Server:
    secret = await kube.get("v1", "Secret", name, namespace)
    if secret is None:
        raise ServerUnavailable(f"database server Secret {namespace}/{name} not found")
    return server_from_secret(name, secret)
