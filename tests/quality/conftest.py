"""Real local receivers for alerts: an HTTP webhook endpoint and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass
class Webhook:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A Slack-like incoming webhook that records every JSON body posted to it."""
    hook = Webhook(url="")

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """An SMTP server (aiosmtpd) that keeps every message it accepts."""
    box = Mailbox(host="127.0.0.1", port=_free_port())
    controller = Controller(box, hostname=box.host, port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def alert_env(monkeypatch: pytest.MonkeyPatch, webhook: Webhook, mailbox: Mailbox) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("ALERT_SMTP_HOST", mailbox.host)
    monkeypatch.setenv("ALERT_SMTP_PORT", str(mailbox.port))
    monkeypatch.setenv("ALERT_EMAIL_FROM", "pipeline@cafe.test")
    monkeypatch.setenv("ALERT_EMAIL_TO", "owner@cafe.test, data@cafe.test")
    monkeypatch.setenv("DAGSTER_UI_URL", "http://dagster.cafe.test:3000")
    for key in ("ALERT_SMTP_USER", "ALERT_SMTP_PASSWORD", "ALERT_SMTP_STARTTLS"):
        monkeypatch.delenv(key, raising=False)
