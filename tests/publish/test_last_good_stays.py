"""The last good publication stays: a failed or skipped publish leaves tables, exports and report."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.publish.tables import PublishError
from tests.publish.fixture_warehouse import FIRST_AS_OF, SECOND_AS_OF, write_candidates

PUBLISHED_STATE = {
    "segments": "select * from segments.customer_segments order by all",
    "history": "select * from segments.segment_membership_history order by all",
    "transitions": "select * from segments.segment_transitions order by all",
    "kpis": "select * from segments.segment_kpis order by all",
    "publication": "select as_of_date, run_id from segments.publication",
}


def published_state(site) -> dict[str, list[tuple]]:
    return {name: site.rows(sql) for name, sql in PUBLISHED_STATE.items()}


def files_state(site) -> dict[str, bytes]:
    return {
        str(p.relative_to(site.exports.parent)): p.read_bytes()
        for folder in (site.exports, site.reports)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def first_published(site, publish):
    write_candidates(site.warehouse, FIRST_AS_OF)
    publish(run_id="good-run")
    return published_state(site), files_state(site)


def test_missing_candidates_leave_the_last_publication(site, publish, first_published):
    tables, files = first_published
    with duckdb.connect(str(site.warehouse)) as con:
        con.execute("drop table candidate.customer_segments")

    with pytest.raises(
        PublishError, match=r"candidate.customer_segments does not exist.*2025-06-01"
    ):
        publish(run_id="no-candidates")

    assert published_state(site) == tables
    assert site.rows("select as_of_date from segments.publication") == [(FIRST_AS_OF,)]
    assert files_state(site) == files


def test_a_failure_mid_publish_rolls_every_table_back(site, publish, first_published):
    tables, files = first_published
    write_candidates(site.warehouse, SECOND_AS_OF)
    # profiles are published after the customer segments: breaking them fails half way
    with duckdb.connect(str(site.warehouse)) as con:
        con.execute("alter table candidate.segment_profiles drop column rules")

    with pytest.raises(PublishError, match=r"candidate.segment_profiles lacks .*rules"):
        publish(run_id="broken-profiles")

    assert published_state(site) == tables
    assert site.rows("select count(*), max(as_of_date) from segments.customer_segments") == [
        (12, FIRST_AS_OF)
    ]
    assert files_state(site) == files
    assert not (site.exports / "2025-06-08").exists()


def test_a_failure_while_writing_the_exports_publishes_nothing(site, publish, first_published):
    tables, files = first_published
    write_candidates(site.warehouse, SECOND_AS_OF)
    # the email lists need marts.customers; without it the exports fail inside the transaction
    with duckdb.connect(str(site.warehouse)) as con:
        con.execute("alter table marts.customers rename to customers_moved")

    with pytest.raises(duckdb.CatalogException, match="customers"):
        publish(run_id="no-customers")

    assert published_state(site) == tables
    assert files_state(site) == files
    assert not [p for p in site.exports.iterdir() if p.name.startswith(".")]


def test_an_older_as_of_cannot_replace_a_newer_publication(site, publish, first_published):
    write_candidates(site.warehouse, SECOND_AS_OF)
    publish(run_id="second")
    state = published_state(site)
    write_candidates(site.warehouse, FIRST_AS_OF)

    with pytest.raises(PublishError, match="as of 2025-06-01, older than the published 2025-06-08"):
        publish(run_id="late-replay")
    assert published_state(site) == state


def test_candidates_of_two_dates_are_refused(site, publish, first_published):
    tables, _ = first_published
    write_candidates(site.warehouse, SECOND_AS_OF)
    with duckdb.connect(str(site.warehouse)) as con:
        con.execute(
            f"update candidate.customer_segments set as_of_date = '{FIRST_AS_OF}' "
            "where customer_key = 'c13'"
        )
    with pytest.raises(PublishError, match="as_of_date must hold one date"):
        publish()
    assert published_state(site) == tables
