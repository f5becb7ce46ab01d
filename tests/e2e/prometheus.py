"""A real Prometheus server (Debian's /usr/bin/prometheus) on loopback, scraping an exporter the test controls.

The exporter serves its own prometheus_client registry; a test sets gauges on it and reads them back through
Prometheus's HTTP API once a scrape (every second) has picked them up. A missing binary fails, never skips.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from tests.cluster.localcluster import LOOPBACK, free_port
from tests.e2e.processes import stop_process
from tests.e2e.receivers import running

PROMETHEUS_BINARY = Path("/usr/bin/prometheus")
EXPORTER_JOB = "exporter"
LOG_TAIL = 4000


class Exporter:
    """An HTTP /metrics endpoint on loopback with its own registry; gauges are created on first set."""

    def __init__(self) -> None:
        self.port = free_port()
        self.registry = CollectorRegistry()
        self._gauges: dict[str, tuple[Gauge, tuple[str, ...]]] = {}
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def target(self) -> str:
        """host:port, as a Prometheus scrape config names it."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.target}/metrics"

    def start(self) -> None:
        self._server, self._thread = start_http_server(self.port, addr=LOOPBACK, registry=self.registry)

    def set(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        """Sets gauge `name` (for these labels) to value; the gauge's label names come from its first set."""
        labels = labels or {}
        gauge = self._gauge(name, tuple(sorted(labels)))
        (gauge.labels(**labels) if labels else gauge).set(value)

    def _gauge(self, name: str, label_names: tuple[str, ...]) -> Gauge:
        if name not in self._gauges:
            gauge = Gauge(name, f"{name}, set by the test", labelnames=label_names, registry=self.registry)
            self._gauges[name] = (gauge, label_names)
        gauge, known = self._gauges[name]
        if known != label_names:
            raise ValueError(f"gauge {name} has labels {list(known)}, not {list(label_names)}")
        return gauge

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None


def scrape_config(target: str) -> dict[str, Any]:
    """Scrapes and evaluates every second, so a value a test sets shows up within about a second."""
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": EXPORTER_JOB, "static_configs": [{"targets": [target]}]}],
    }


class PrometheusServer:
    """/usr/bin/prometheus with a generated config, its data and log under base, listening on loopback only."""

    def __init__(self, base: Path, target: str) -> None:
        self.base = base
        self.target = target
        self.port = free_port()
        self.log_path = base / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_after: float | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 60) -> None:
        started = time.monotonic()
        self._spawn()
        deadline = started + timeout
        self._wait_for(self._answers_ready, deadline, "/-/ready to answer 200")
        self._wait_for(self._target_up, deadline, f'up{{job="{EXPORTER_JOB}"}} to be 1')
        self.ready_after = time.monotonic() - started

    def _spawn(self) -> None:
        if not PROMETHEUS_BINARY.is_file():
            raise FileNotFoundError(
                f"{PROMETHEUS_BINARY} is missing: install the Debian package (apt-get install prometheus; .ci/run does)"
            )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self._command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.base
            )

    def _command(self) -> list[str]:
        config = self.base / "prometheus.yml"
        config.write_text(yaml.safe_dump(scrape_config(self.target)))
        empty = self.base / "consoles"  # not Debian's /etc/prometheus templates: nothing outside base is read
        empty.mkdir(exist_ok=True)
        return [
            str(PROMETHEUS_BINARY),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.base / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            f"--web.console.templates={empty}",
            f"--web.console.libraries={empty}",
        ]

    def _wait_for(self, probe: Callable[[], bool], deadline: float, what: str) -> None:
        while time.monotonic() < deadline:
            self._check_running()
            if probe():
                return
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"prometheus: timed out waiting for {what}:\n{self.logs()[-LOG_TAIL:]}")

    def _check_running(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            code = self.process.returncode
            self.process = None
            raise RuntimeError(f"prometheus exited with {code}:\n{self.logs()[-LOG_TAIL:]}")

    def _answers_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _target_up(self) -> bool:
        samples = self.query(f'up{{job="{EXPORTER_JOB}"}}')
        return any(sample["value"][1] == "1" for sample in samples)

    def query(self, expr: str) -> list[Any]:
        """The result of an instant query (for a vector: [{"metric": {...}, "value": [time, "text"]}, ...])."""
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        try:
            with urllib.request.urlopen(address, timeout=5) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:  # 400/422: a bad expression; the body says why
            body = json.load(error)
        if body.get("status") != "success":
            raise AssertionError(f"prometheus query {expr!r} failed: {body.get('errorType')}: {body.get('error')}")
        return body["data"]["result"]

    def stop(self, timeout: float = 15) -> None:
        stop_process(self.process, timeout=timeout)
        self.process = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def exporter() -> Iterator[Exporter]:
    """A /metrics endpoint on loopback that the prometheus fixture scrapes; tests set gauges on it."""
    yield from running(Exporter())


@pytest.fixture(scope="session")
def prometheus(exporter: Exporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A real Prometheus on loopback scraping the exporter every second, started once it reports the target up."""
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), exporter.target)
    server.start()
    print(f"\nprometheus ready in {server.ready_after:.1f}s")
    try:
        yield server
    finally:
        server.stop()
