"""Alerts: one per failure, sent to a Slack-compatible webhook, by email and always to a JSONL file.

Configured by environment variables (read when sending, so a test or a deployment sets them late):

- `ALERT_WEBHOOK_URL`: a Slack-compatible incoming webhook (JSON body with a `text` field)
- `ALERT_SMTP_HOST`, `ALERT_SMTP_PORT` (default 25), `ALERT_SMTP_USER`, `ALERT_SMTP_PASSWORD`,
  `ALERT_SMTP_STARTTLS` (1/true to upgrade the connection; the server certificate is verified,
  against `ALERT_SMTP_CA_FILE` if set), `ALERT_EMAIL_FROM`, `ALERT_EMAIL_TO` (comma-separated)
- `DAGSTER_UI_URL`: base of the run links (default http://127.0.0.1:3000)

`data/alerts/alerts.jsonl` holds one record per alert with its stable id (run id + check or step);
an id already there is never sent again, so sensor re-ticks and step retries do not repeat alerts.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pipelines.settings import get_paths

DEFAULT_UI_URL = "http://127.0.0.1:3000"
ALERTS_FILE = "alerts.jsonl"


@dataclass(frozen=True)
class Alert:
    """One failure, with what a person needs to act on it."""

    alert_id: str  # stable: "<run id>:<check or step>"
    kind: str  # check_failed | step_failed | run_failed
    severity: str  # ERROR | WARN
    run_id: str
    job_name: str
    asset: str | None  # e.g. "raw/pos_order_lines"
    check: str | None  # e.g. "quality_gate"
    summary: str  # what failed, in one or two sentences
    run_url: str
    failed_expectations: list[dict[str, Any]] = field(default_factory=list)
    data_docs: str | None = None

    @property
    def title(self) -> str:
        where = f"{self.asset} ({self.check})" if self.check else (self.asset or self.job_name)
        what = {"check_failed": "check failed", "step_failed": "step failed"}.get(
            self.kind, "run failed"
        )
        return f"[{self.severity}] {what}: {where}"

    def text(self) -> str:
        """Plain text body shared by the webhook and the email."""
        lines = [self.title, self.summary]
        for failure in self.failed_expectations[:10]:
            parts = [f"- {failure.get('expectation')}"]
            if "observed_value" in failure:
                parts.append(f"observed {json.dumps(failure['observed_value'], default=str)}")
            if "unexpected_count" in failure:
                parts.append(f"{failure['unexpected_count']} unexpected")
            if failure.get("sample_unexpected_values"):
                sample = json.dumps(failure["sample_unexpected_values"][:5], default=str)
                parts.append(f"e.g. {sample}")
            lines.append(", ".join(parts))
        if len(self.failed_expectations) > 10:
            lines.append(f"- and {len(self.failed_expectations) - 10} more")
        if self.data_docs:
            lines.append(f"Data Docs: {self.data_docs}")
        lines.append(f"Run: {self.run_url}")
        return "\n".join(lines)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    ca_file: str | None = None


@dataclass(frozen=True)
class AlertSettings:
    alerts_dir: Path
    ui_url: str = DEFAULT_UI_URL
    webhook_url: str | None = None
    smtp: SmtpSettings | None = None

    @classmethod
    def from_env(cls) -> AlertSettings:
        env = os.environ
        smtp = None
        if env.get("ALERT_SMTP_HOST"):
            recipients = tuple(
                r.strip() for r in env.get("ALERT_EMAIL_TO", "").split(",") if r.strip()
            )
            if not recipients:
                raise ValueError("ALERT_SMTP_HOST is set but ALERT_EMAIL_TO names no recipient")
            port = env.get("ALERT_SMTP_PORT", "25")
            if not port.isdigit():
                raise ValueError(f"ALERT_SMTP_PORT must be a port number, found {port!r}")
            smtp = SmtpSettings(
                host=env["ALERT_SMTP_HOST"],
                port=int(port),
                sender=env.get("ALERT_EMAIL_FROM", "segments-pipeline@localhost"),
                recipients=recipients,
                user=env.get("ALERT_SMTP_USER") or None,
                password=env.get("ALERT_SMTP_PASSWORD") or None,
                starttls=env.get("ALERT_SMTP_STARTTLS", "").lower() in ("1", "true", "yes"),
                ca_file=env.get("ALERT_SMTP_CA_FILE") or None,
            )
        return cls(
            alerts_dir=get_paths().alerts,
            ui_url=env.get("DAGSTER_UI_URL", DEFAULT_UI_URL).rstrip("/"),
            webhook_url=env.get("ALERT_WEBHOOK_URL") or None,
            smtp=smtp,
        )


def run_url(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/runs/{run_id}"


def send_webhook(url: str, alert: Alert, timeout: float = 10) -> None:
    """POST a Slack-compatible message (`text`) with the alert's fields beside it."""
    body = json.dumps({"text": alert.text(), "alert": asdict(alert)}, default=str).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if response.status >= 300:
            raise RuntimeError(f"webhook {url} answered HTTP {response.status}")


def send_email(smtp: SmtpSettings, alert: Alert, timeout: float = 10) -> None:
    message = EmailMessage()
    message["Subject"] = alert.title
    message["From"] = smtp.sender
    message["To"] = ", ".join(smtp.recipients)
    message["X-Alert-Id"] = alert.alert_id
    message.set_content(alert.text())
    with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout) as server:
        if smtp.starttls:
            server.starttls(context=ssl.create_default_context(cafile=smtp.ca_file))
        if smtp.user:
            server.login(smtp.user, smtp.password or "")
        server.send_message(message)


def sent_alert_ids(alerts_dir: Path) -> set[str]:
    path = alerts_dir / ALERTS_FILE
    if not path.exists():
        return set()
    ids = set()
    for line in path.read_text().splitlines():
        if line.strip():
            ids.add(json.loads(line)["alert_id"])
    return ids


def dispatch(alerts: list[Alert], settings: AlertSettings) -> list[dict[str, Any]]:
    """Send each alert not sent before to every configured destination and record it.

    A destination that fails is recorded with its error and not retried: a repeated alert is worse
    than a missed channel when the JSONL file and the other channel still hold it.
    """
    settings.alerts_dir.mkdir(parents=True, exist_ok=True)
    already = sent_alert_ids(settings.alerts_dir)
    records = []
    for alert in alerts:
        if alert.alert_id in already:
            continue
        deliveries: dict[str, str] = {}
        if settings.webhook_url:
            deliveries["webhook"] = _attempt(send_webhook, settings.webhook_url, alert)
        if settings.smtp:
            deliveries["email"] = _attempt(send_email, settings.smtp, alert)
        record = {
            **asdict(alert),
            "title": alert.title,
            "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "deliveries": deliveries,
        }
        with (settings.alerts_dir / ALERTS_FILE).open("a") as out:
            out.write(json.dumps(record, default=str) + "\n")
        already.add(alert.alert_id)
        records.append(record)
    return records


def _attempt(send: Any, destination: Any, alert: Alert) -> str:
    try:
        send(destination, alert)
    except Exception as exc:  # any failure of one channel must not stop the others
        return f"failed: {type(exc).__name__}: {exc}"
    return "sent"
