"""Alert senders against a real local webhook receiver and SMTP server, without Dagster."""

from __future__ import annotations

import json

from pipelines.quality.alerts import Alert, AlertSettings, dispatch
from pipelines.settings import get_paths


def price_alert(run_id: str = "run-1") -> Alert:
    return Alert(
        alert_id=f"{run_id}:raw/pos_order_lines:quality_gate",
        kind="check_failed",
        severity="ERROR",
        run_id=run_id,
        job_name="daily_refresh",
        asset="raw/pos_order_lines",
        check="quality_gate",
        summary="1 ERROR expectation(s) failed on raw.pos_order_lines",
        run_url=f"http://dagster.cafe.test:3000/runs/{run_id}",
        failed_expectations=[
            {
                "expectation": "expect_column_values_to_be_between(unit_price)",
                "severity": "ERROR",
                "unexpected_count": 20,
                "sample_unexpected_values": [-3.5, -3.5],
            }
        ],
    )


def test_one_alert_reaches_webhook_mailbox_and_jsonl(alert_env, webhook, mailbox) -> None:
    records = dispatch([price_alert()], AlertSettings.from_env())

    assert records[0]["deliveries"] == {"webhook": "sent", "email": "sent"}
    (posted,) = webhook.received
    assert posted["alert"]["asset"] == "raw/pos_order_lines"
    assert "expect_column_values_to_be_between(unit_price)" in posted["text"]
    assert "http://dagster.cafe.test:3000/runs/run-1" in posted["text"]
    (mail,) = mailbox.messages
    assert mail["Subject"] == "[ERROR] check failed: raw/pos_order_lines (quality_gate)"
    assert mail["To"] == "owner@cafe.test, data@cafe.test"
    assert "20 unexpected" in mail.get_content()
    lines = (get_paths().alerts / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(line)["alert_id"] for line in lines] == [
        "run-1:raw/pos_order_lines:quality_gate"
    ]


def test_an_alert_already_sent_is_not_sent_again(alert_env, webhook, mailbox) -> None:
    settings = AlertSettings.from_env()
    dispatch([price_alert()], settings)

    again = dispatch([price_alert(), price_alert("run-2")], settings)

    assert [r["run_id"] for r in again] == ["run-2"]
    assert len(webhook.received) == 2 and len(mailbox.messages) == 2


def test_a_dead_webhook_is_recorded_and_email_still_goes(alert_env, mailbox, monkeypatch) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "http://127.0.0.1:9/closed")

    (record,) = dispatch([price_alert()], AlertSettings.from_env())

    assert record["deliveries"]["webhook"].startswith("failed: URLError")
    assert record["deliveries"]["email"] == "sent"
    assert len(mailbox.messages) == 1


def test_without_destinations_the_jsonl_file_still_gets_the_alert(monkeypatch) -> None:
    for key in ("ALERT_WEBHOOK_URL", "ALERT_SMTP_HOST"):
        monkeypatch.delenv(key, raising=False)

    (record,) = dispatch([price_alert()], AlertSettings.from_env())

    assert record["deliveries"] == {}
    assert (get_paths().alerts / "alerts.jsonl").exists()


def test_email_goes_over_starttls_with_a_login(secure_mailbox, monkeypatch) -> None:
    monkeypatch.delenv("ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("ALERT_SMTP_HOST", secure_mailbox.host)
    monkeypatch.setenv("ALERT_SMTP_PORT", str(secure_mailbox.port))
    monkeypatch.setenv("ALERT_SMTP_STARTTLS", "true")
    monkeypatch.setenv("ALERT_SMTP_CA_FILE", secure_mailbox.ca_file)
    monkeypatch.setenv("ALERT_SMTP_USER", "alerts")
    monkeypatch.setenv("ALERT_SMTP_PASSWORD", "s3cret")
    monkeypatch.setenv("ALERT_EMAIL_TO", "owner@cafe.test")

    (record,) = dispatch([price_alert()], AlertSettings.from_env())

    assert record["deliveries"] == {"email": "sent"}
    assert secure_mailbox.logins == [("alerts", "s3cret")]
    (mail,) = secure_mailbox.messages
    assert mail["X-Alert-Id"] == "run-1:raw/pos_order_lines:quality_gate"
