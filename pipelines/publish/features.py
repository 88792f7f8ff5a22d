"""The feature rows a publication describes: the features snapshot its segments were made from.

KPIs, the e-mail lists and the report show each published customer's features as of the
publication's date. That is one snapshot of `marts.customer_features`, the latest on or before
the as-of date (segmentation reads that same snapshot), so these queries filter on its date. An
earlier form ranked every customer's rows over the whole history ("latest row per customer on or
before the date") and gave the same rows for every published customer, but read every snapshot:
at tier L 78M rows on each of three reads, about a third of the publish step.
"""

from __future__ import annotations

from datetime import date

import duckdb

FEATURES = "marts.customer_features"


def features_snapshot(con: duckdb.DuckDBPyConnection, as_of: date) -> date | None:
    """The latest snapshot date on or before `as_of` (None when there is none)."""
    return con.execute(
        f"select max(as_of_date) from {FEATURES} where as_of_date <= $as_of", {"as_of": as_of}
    ).fetchall()[0][0]


def snapshot_features_sql(columns: str = "*") -> str:
    """Select `columns` of one snapshot's rows; parameter $features_as_of (from `features_snapshot`)."""
    return f"select {columns} from {FEATURES} as features where as_of_date = $features_as_of"
