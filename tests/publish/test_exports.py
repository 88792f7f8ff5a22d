"""Exports: Parquet snapshots of every published table, email lists with consenting customers only."""

from __future__ import annotations

import csv
import dataclasses
import json

import duckdb

from pipelines.publish.config import load_publishing_config
from pipelines.publish.exports import snapshot_path
from pipelines.publish.publication import remove_stale_staging
from pipelines.publish.tables import PUBLISHED_TABLES
from tests.publish.fixture_warehouse import (
    CUSTOMERS,
    FIRST_AS_OF,
    SECOND_AS_OF,
    SECOND_SEGMENTS,
    write_candidates,
    write_predictions,
)


def test_no_customer_without_consent_in_any_email_list(site, publish):
    write_candidates(site.warehouse, SECOND_AS_OF)
    write_predictions(site.warehouse, SECOND_AS_OF)
    outcome = publish()

    consenting = {email for _, _, email, consent in CUSTOMERS if consent and email}
    lists = sorted((outcome.export_dir / "email").rglob("*.csv"))
    assert lists, "no email list was written"
    exported: set[str] = set()
    for path in lists:
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                assert row["email"] in consenting, f"{path.name}: {row['email']} has no consent"
                exported.add(row["email"])
    assert "ben@example.com" not in exported  # on file, but never consented
    assert exported == consenting


def test_an_email_list_holds_its_segment_with_key_figures(site, publish):
    write_candidates(site.warehouse, SECOND_AS_OF)
    outcome = publish()

    with (outcome.export_dir / "email" / "rfm_segment" / "at-risk.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    # At risk: c03 (Cleo, consented), c06 (no address), c07 (Gus, consented)
    assert [(r["email"], r["first_name"], r["segment"]) for r in rows] == [
        ("cleo@example.com", "Cleo", "At risk"),
        ("gus@example.com", "Gus", "At risk"),
    ]
    assert set(rows[0]) >= {"days_since_last_order", "orders_last_365_days", "lifetime_spend"}
    assert {SECOND_SEGMENTS[k][0] for k in ("c03", "c07")} == {"At risk"}
    # a segment with no reachable customer still gets its (empty) list, so a tool sees it
    with (outcome.export_dir / "email" / "rfm_segment" / "loyal.csv").open(newline="") as handle:
        assert list(csv.DictReader(handle)) == []


def test_parquet_snapshots_match_the_published_tables_and_latest_points_at_them(site, publish):
    write_candidates(site.warehouse, SECOND_AS_OF)
    outcome = publish(run_id="run-42")

    assert outcome.export_dir == site.exports / "2025-06-08"
    with duckdb.connect(str(site.warehouse), read_only=True) as con:
        for table in PUBLISHED_TABLES:
            snapshot = snapshot_path(outcome.export_dir, table)
            if snapshot.is_dir():  # the membership history: a folder of Parquet files
                snapshot = snapshot / "*.parquet"
            published = con.execute(f"select * from segments.{table} order by all").fetchall()
            exported = con.execute(f"select * from '{snapshot}' order by all").fetchall()
            assert exported == published, table
    latest = json.loads((site.exports / "latest.json").read_text())
    assert latest["as_of_date"] == "2025-06-08"
    assert latest["path"] == "2025-06-08"
    assert latest["run_id"] == "run-42"
    assert not list(site.exports.glob(".*")), "a staging folder was left behind"


def test_folders_an_interrupted_publish_left_are_cleared_but_published_ones_kept(site, publish):
    write_candidates(site.warehouse, SECOND_AS_OF)
    publish()
    (site.exports / ".staging-2025-06-09-deadbeef" / "email").mkdir(parents=True)
    (site.exports / ".retired-2025-06-08-cafebabe").mkdir()

    removed = remove_stale_staging(site.exports)

    assert sorted(p.name for p in removed) == [
        ".retired-2025-06-08-cafebabe",
        ".staging-2025-06-09-deadbeef",
    ]
    assert sorted(p.name for p in site.exports.iterdir()) == ["2025-06-08", "latest.json"]


def test_only_the_newest_publications_are_kept_and_other_files_stay(site, publish):
    config = dataclasses.replace(load_publishing_config(), keep_publications=1)
    write_candidates(site.warehouse, FIRST_AS_OF)
    publish(config=config)
    (site.exports / "campaigns").mkdir()  # a person's own folder is not a publication

    write_candidates(site.warehouse, SECOND_AS_OF)
    outcome = publish(config=config)

    assert sorted(p.name for p in site.exports.iterdir()) == sorted(
        ["campaigns", SECOND_AS_OF.isoformat(), "latest.json"]
    )
    assert sorted(p.name for p in site.reports.iterdir()) == [
        f"{SECOND_AS_OF.isoformat()}.html",
        "latest.html",
    ]
    assert outcome.export_dir.exists() and outcome.report_path.exists()
