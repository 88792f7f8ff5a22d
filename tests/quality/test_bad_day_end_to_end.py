"""Issue 5's acceptance, through the whole pipeline on a generated sample.

A bad day lands (every amount negative): publication is blocked, the last good segments stay with
their as-of date, one sensor tick brings the alert to a local webhook, a local SMTP server and the
JSONL file, and the check metadata names the failing expectations. Then a clean day publishes.
"""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.quality.checks import GATE
from pipelines.quality.sensors import alert_on_run_failure
from pipelines.run import landed_days, materialize_history
from pipelines.settings import get_paths
from tests.conftest import make_workspace, sample_end

# ~32 order lines a day: the size of the default sample's café (2,000 customers); a tiny shop's
# 3-line day would only warn (docs/quality.md, small days)
CUSTOMERS = 2000
DAYS = 21
END = sample_end()
BAD_DAY, CLEAN_DAY = END - timedelta(days=1), END
POS_GATE = ("raw/pos_order_lines", GATE)


def hold_back(incoming: Path, day: date, store: Path) -> None:
    for folder in incoming.glob(f"*/{day.isoformat()}"):
        shutil.move(folder, store / folder.parent.name / folder.name)


def land(store: Path, day: date, incoming: Path) -> None:
    for folder in store.glob(f"*/{day.isoformat()}"):
        shutil.move(folder, incoming / folder.parent.name / folder.name)


def negate_every_amount(order_lines: Path) -> int:
    """Rewrite one day's POS export with every unit price negative; returns its line count."""
    header, *rows = gzip.decompress(order_lines.read_bytes()).decode().splitlines()
    price = header.split(",").index("unit_price")
    bad = []
    for row in rows:
        values = row.split(",")
        values[price] = f"-{values[price]}"
        bad.append(",".join(values))
    order_lines.write_bytes(gzip.compress("\n".join([header, *bad, ""]).encode()))
    return len(rows)


def published(warehouse: Path) -> dict:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            "publication": con.sql(
                "select as_of_date, run_id from segments.publication"
            ).fetchall(),
            "segments_as_of": con.sql(
                "select distinct as_of_date from segments.customer_segments"
            ).fetchall(),
            "segments": con.sql(
                "select customer_key, rfm_segment, cluster_name from segments.customer_segments "
                "order by customer_key"
            ).fetchall(),
        }


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], object]:
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from pipelines.sample_data import generate

    sample = tmp_path / "sample"
    generate(sample, customers=CUSTOMERS, days=DAYS, end_date=END, seed=5)
    workspace = make_workspace(tmp_path / "shop", sample)
    for key, value in workspace.env().items():
        monkeypatch.setenv(key, value)
    return workspace


def test_a_bad_day_blocks_publication_alerts_once_and_a_clean_day_publishes(
    tmp_path: Path, shop, alert_env, webhook, mailbox
) -> None:
    incoming, store = get_paths().incoming, tmp_path / "not_landed_yet"
    for source in ("crm", "pos", "web"):
        (store / source).mkdir(parents=True)
    for day in (BAD_DAY, CLEAN_DAY):
        hold_back(incoming, day, store)
    days = landed_days()

    history = materialize_history(days[0], days[-1])

    assert history.success, [e.step_key for e in history.all_events if e.is_step_failure]
    before = published(shop.warehouse)
    ((first_as_of, first_run),) = before["publication"]
    assert first_run == history.run_id
    assert before["segments_as_of"] == [(first_as_of,)]

    # the bad day lands: its POS export has every amount negative
    land(store, BAD_DAY, incoming)
    lines = negate_every_amount(incoming / "pos" / BAD_DAY.isoformat() / "order_lines.csv.gz")
    assert lines >= 20, "the bad day must be a usual day of the café, not a tiny one"
    with dg.DagsterInstance.get() as instance:
        cursor = alert_on_run_failure.evaluate_tick(
            dg.build_sensor_context(instance=instance)
        ).cursor

        bad = materialize_history(BAD_DAY, BAD_DAY)

        assert not bad.success
        gate = check_evaluations(bad)[POS_GATE]
        assert not gate.passed
        failed = {f["expectation"]: f for f in gate.metadata["failed"].value}
        assert set(failed) == {
            "quarantined_share_of_rows_read_at_most",
            "row_count_not_collapsing_vs_median_of_previous_7_days",
        }
        # every line quarantined, nearly all as invalid_amount (a planted defect may come first)
        (share,) = failed["quarantined_share_of_rows_read_at_most"]["sample_unexpected_values"]
        assert share.startswith(f"{BAD_DAY}: {lines} of {lines} rows quarantined (invalid_amount")
        assert "quarantined_share_of_rows_read_at_most" in gate.metadata["failures"].value
        assert Path(gate.metadata["data_docs"].value).is_file()
        assert not bad.asset_materializations_for_node("published_segments")
        # the last good publication stays, and says which day it is valid for
        assert published(shop.warehouse) == before

        # one sensor tick brings every alert of the blocked run; the next tick adds nothing
        tick = alert_on_run_failure.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=cursor)
        )
        alert_on_run_failure.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=tick.cursor)
        )

    alerts = [posted["alert"] for posted in webhook.received]
    assert {a["run_id"] for a in alerts} == {bad.run_id}
    pos_alert = next(a for a in alerts if (a["asset"], a["check"]) == POS_GATE)
    assert pos_alert["severity"] == "ERROR"
    assert {f["expectation"] for f in pos_alert["failed_expectations"]} == set(failed)
    assert pos_alert["run_url"].endswith(f"/runs/{bad.run_id}")
    assert len(mailbox.messages) == len(alerts)
    assert any(
        "quarantined_share_of_rows_read_at_most" in m.get_content()
        and "raw/pos_order_lines" in m["Subject"]
        for m in mailbox.messages
    )
    jsonl = [json.loads(line) for line in (get_paths().alerts / "alerts.jsonl").open()]
    assert sorted(r["alert_id"] for r in jsonl) == sorted(a["alert_id"] for a in alerts)

    # a clean day lands and publishes
    land(store, CLEAN_DAY, incoming)

    clean = materialize_history(CLEAN_DAY, CLEAN_DAY)

    assert clean.success, [e.step_key for e in clean.all_events if e.is_step_failure]
    assert check_evaluations(clean)[POS_GATE].passed
    after = published(shop.warehouse)
    ((as_of, run_id),) = after["publication"]
    assert run_id == clean.run_id and as_of > first_as_of
    assert after["segments_as_of"] == [(as_of,)]
