"""One real run of every asset on the tiny sample, as `make run` does it."""

from __future__ import annotations

import duckdb

from pipelines.run import landed_days, materialize_history, segment_summary


def test_full_history_materializes_and_publishes_one_row_per_customer(workspace) -> None:
    days = landed_days()
    assert days, "the sample landed no files"

    result = materialize_history(days[0], days[-1])

    assert result.success
    with duckdb.connect(str(workspace.warehouse), read_only=True) as con:
        customers = con.sql("select count(*) from marts.customers").fetchone()[0]
        rows, keys = con.sql(
            "select count(*), count(distinct customer_key) from segments.customer_segments"
        ).fetchone()
        as_of_dates = con.sql(
            "select count(distinct as_of_date) from segments.customer_segments"
        ).fetchone()[0]
    assert customers > 0
    assert rows == keys == customers
    assert as_of_dates == 1
    summary = segment_summary()
    assert "customers" in summary and "share" in summary
