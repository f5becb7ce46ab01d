"""A real PostgreSQL server (Debian's package) on loopback, in a throwaway data directory.

    python -m tests.cluster.postgres up [DIR]   # prints host port user password; DIR must be reachable by the postgres user
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .localcluster import LOOPBACK, free_port

SUPERUSER = "postgres"


def postgres_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise FileNotFoundError("PostgreSQL server binaries not found: apt-get install postgresql")
    return Path(candidates[-1]).parent


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the package's postgres user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    password: str = field(repr=False)
    bindir: Path = field(default_factory=postgres_bindir)

    @property
    def host(self) -> str:
        return LOOPBACK

    def dsn(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        return (
            f"host={self.host} port={self.port} dbname={dbname} user={user} "
            f"password={password if password is not None else self.password} connect_timeout=5"
        )

    def _ctl(self, *args: str) -> None:
        _run(_as_postgres_user([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-w", *args]))

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses={LOOPBACK} -c max_connections=300"
        self._ctl("-o", options, "-l", str(self.data_dir / "server.log"), "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def is_running(self) -> bool:
        result = subprocess.run(
            [str(self.bindir / "pg_isready"), "-h", self.host, "-p", str(self.port)], capture_output=True
        )
        return result.returncode == 0


def create_server(base: Path) -> PostgresServer:
    """initdb with SCRAM authentication and a random superuser password, then start it."""
    bindir = postgres_bindir()
    data_dir = base / "pgdata"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    password = secrets.token_urlsafe(24)
    password_file = base / "pwfile"
    password_file.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
        shutil.chown(password_file, "postgres", "postgres")
        base.chmod(0o755)
    _run(
        _as_postgres_user(
            [
                str(bindir / "initdb"),
                "-D", str(data_dir),
                "-U", SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={password_file}",
                "--no-sync",
            ]
        )
    )
    password_file.unlink()
    server = PostgresServer(data_dir=data_dir, port=free_port(), password=password, bindir=bindir)
    server.start()
    deadline = time.monotonic() + 30
    while not server.is_running():
        if time.monotonic() > deadline:
            raise TimeoutError((data_dir / "server.log").read_text())
        time.sleep(0.2)
    return server


if __name__ == "__main__":
    folder = Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/tenant-operator-postgres")
    folder.mkdir(parents=True, exist_ok=True)
    previous = PostgresServer(data_dir=folder / "pgdata", port=0, password="")
    if previous.data_dir.exists():
        subprocess.run(_as_postgres_user([str(previous.bindir / "pg_ctl"), "-D", str(previous.data_dir), "stop"]),
                       capture_output=True)
    started = create_server(folder)
    print(started.host, started.port, SUPERUSER, started.password)
