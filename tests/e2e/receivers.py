"""Real servers on loopback that receive what the operator sends: SMTP (aiosmtpd) and HTTP webhooks."""

from __future__ import annotations

import email
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from tests.cluster.localcluster import LOOPBACK, free_port


class _Collector:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class MailSink:
    def __init__(self) -> None:
        self.collector = _Collector()
        self.port = free_port()
        self.controller = Controller(self.collector, hostname=LOOPBACK, port=self.port)

    @property
    def messages(self) -> list[Message]:
        return self.collector.messages

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class LoopbackHTTPServer:
    """A threaded HTTP server on 127.0.0.1 and a free port; subclasses answer in `answer`."""

    def __init__(self) -> None:
        self.port = free_port()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's hook name)
                owner.answer(self)

            def do_POST(self) -> None:  # noqa: N802
                owner.answer(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()


class WebhookSink(LoopbackHTTPServer):
    """Keeps every webhook POST it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Received] = []

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        self.requests.append(Received(request.path, dict(request.headers), request.rfile.read(length)))
        request.send_response(204)
        request.end_headers()


class HealthEndpoint(LoopbackHTTPServer):
    """An HTTP endpoint a rollout's HTTP check probes; the test flips it between healthy and failing."""

    def __init__(self) -> None:
        super().__init__()
        self.status = 200
        self.requests = 0
        self.first_failure_at: float | None = None  # when the first failing answer was sent (time.time())

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        status = self.status
        self.requests += 1
        if status >= 300 and self.first_failure_at is None:
            self.first_failure_at = time.time()
        request.send_response(status)
        request.send_header("Content-Length", "2")
        request.end_headers()
        request.wfile.write(b"ok" if status < 300 else b"no")

    @property
    def url(self) -> str:
        return f"{super().url}/healthz"

    def healthy(self) -> None:
        self.status, self.first_failure_at = 200, None

    def failing(self, status: int = 500) -> None:
        self.status = status


class Startable(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=Startable)


def running(server: S) -> Iterator[S]:
    """For fixtures: `yield from running(Server())` starts it and stops it after the test or session."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
