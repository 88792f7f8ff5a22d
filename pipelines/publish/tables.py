"""Replace the published `segments.*` tables from the checked candidates, in one transaction.

The published state only ever moves from one complete publication to the next: every table is
written inside one DuckDB transaction, and any error rolls all of them back, so a consumer sees
either the previous as-of date everywhere or the new one everywhere.

History tables are kept across runs and re-publishing an as-of date first undoes what the earlier
publication of that date wrote, so running the same day twice gives the same rows.

- `segment_membership_history`: one row per customer, segment type and stay in a segment;
  `valid_from` inclusive, `valid_to` exclusive (null while the customer is still there).
- `segment_transitions`: per as-of date and segment type, how many customers went from which
  segment to which, stays included; a null `from_segment` is a customer without a segment of that
  type before (new), a null `to_segment` one who no longer has one.
- `segment_changes`: the customers whose segment of a type changed at the published as-of date
  (replaced every run). A customer appearing for the first time counts once the type was published
  before, so the very first publication does not flood welcome flows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from pipelines.catalog import table_columns, table_exists
from pipelines.publish.config import PublishingConfig
from pipelines.publish.kpis import write_segment_kpis

CANDIDATE_SEGMENTS = "candidate.customer_segments"
CANDIDATE_PROFILES = "candidate.segment_profiles"
CANDIDATE_PREDICTIONS = "candidate.customer_predictions"

PREDICTION_COLUMNS = {
    "expected_purchases_90d": "double",
    "expected_purchases_365d": "double",
    "p_alive": "double",
    "clv_12m": "double",
    "value_tier": "varchar",
    "churn_probability": "double",
    "churn_risk_band": "varchar",
    "predictive_segment": "varchar",
}
PROFILE_COLUMNS = ("segment_type", "segment", "description", "rules")

# Every table this stage publishes, in the order they are exported.
PUBLISHED_TABLES = (
    "customer_segments",
    "segment_profiles",
    "segment_kpis",
    "segment_membership_history",
    "segment_transitions",
    "segment_changes",
    "publication",
)


class PublishError(RuntimeError):
    """The candidates cannot be published; the previous publication stays in place."""


@dataclass(frozen=True)
class Publication:
    """What one publish wrote: the as-of date every `segments.*` table is valid for, and counts."""

    as_of_date: date
    published_at: datetime
    run_id: str
    customers: int
    segment_types: tuple[str, ...]
    profiles: int
    kpi_rows: int
    transitions: int
    changes: int
    history_rows: int
    predictions: str  # how the predictive columns were filled, in a sentence


def _published(con: duckdb.DuckDBPyConnection, column: str) -> object | None:
    """`column` of the one publication row; None before the first publication."""
    if not table_exists(con, "segments.publication"):
        return None
    rows = con.execute(f"select {column} from segments.publication").fetchall()
    return rows[0][0] if rows else None


def published_as_of(con: duckdb.DuckDBPyConnection) -> date | None:
    """The as-of date the published `segments.*` tables are valid for; None before the first."""
    return _published(con, "as_of_date")


def published_run_id(con: duckdb.DuckDBPyConnection) -> str | None:
    """The run that wrote the published `segments.*` tables; None before the first publication."""
    return _published(con, "run_id")


def _require_columns(con: duckdb.DuckDBPyConnection, table: str, needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in table_columns(con, table)]
    if missing:
        raise PublishError(
            f"{table} lacks the contract column(s) {', '.join(missing)} "
            f"(expected per docs/data-model.md); nothing was published"
        )


def candidate_as_of(con: duckdb.DuckDBPyConnection, config: PublishingConfig) -> date:
    """Check the candidate segments can be published and return their single as-of date."""
    if not table_exists(con, CANDIDATE_SEGMENTS):
        raise PublishError(
            f"{CANDIDATE_SEGMENTS} does not exist: segmentation has not written candidates; "
            f"the published segments stay as of {published_as_of(con)}"
        )
    _require_columns(
        con, CANDIDATE_SEGMENTS, ("customer_key", "as_of_date", *config.required_segment_types)
    )
    dates = [
        r[0]
        for r in con.execute(f"select distinct as_of_date from {CANDIDATE_SEGMENTS}").fetchall()
    ]
    if len(dates) != 1 or dates[0] is None:
        raise PublishError(
            f"{CANDIDATE_SEGMENTS}.as_of_date must hold one date, found {sorted(map(str, dates))}"
        )
    null_keys, repeated_keys = con.execute(
        f"select count(*) filter (where customer_key is null), count(customer_key) - "
        f"count(distinct customer_key) from {CANDIDATE_SEGMENTS}"
    ).fetchall()[0]
    if null_keys or repeated_keys:
        raise PublishError(
            f"{CANDIDATE_SEGMENTS}.customer_key must be unique and not null, found "
            f"{null_keys} null and {repeated_keys} repeated"
        )
    as_of = dates[0]
    previous = published_as_of(con)
    if previous is not None and as_of < previous:
        raise PublishError(
            f"{CANDIDATE_SEGMENTS} is as of {as_of}, older than the published {previous}: "
            f"history only moves forward, so the publication as of {previous} stays"
        )
    return as_of


def _predictions_select(con: duckdb.DuckDBPyConnection, as_of: date) -> tuple[str, str, str]:
    """The predictive columns' select list, the join clause, and a sentence on what was used."""
    nulls = ", ".join(f"null::{kind} as {name}" for name, kind in PREDICTION_COLUMNS.items())
    if not table_exists(con, CANDIDATE_PREDICTIONS):
        return nulls, "", f"{CANDIDATE_PREDICTIONS} absent: predictive columns are null"
    _require_columns(
        con, CANDIDATE_PREDICTIONS, ("customer_key", "as_of_date", *PREDICTION_COLUMNS)
    )
    dates = [
        r[0]
        for r in con.execute(f"select distinct as_of_date from {CANDIDATE_PREDICTIONS}").fetchall()
    ]
    if as_of not in dates:
        return (
            nulls,
            "",
            f"{CANDIDATE_PREDICTIONS} is as of {sorted(map(str, dates))}, not {as_of}: "
            f"predictive columns are null",
        )
    columns = ", ".join(
        f"predictions.{name}::{kind} as {name}" for name, kind in PREDICTION_COLUMNS.items()
    )
    join = (
        f"left join {CANDIDATE_PREDICTIONS} as predictions "
        f"on predictions.customer_key = candidate.customer_key "
        f"and predictions.as_of_date = candidate.as_of_date"
    )
    return columns, join, f"joined from {CANDIDATE_PREDICTIONS} as of {as_of}"


def present_segment_types(
    con: duckdb.DuckDBPyConnection, config: PublishingConfig
) -> tuple[str, ...]:
    """Required types, plus optional types the published customers have at least one value of."""
    columns = table_columns(con, "segments.customer_segments")
    optional = [t for t in config.optional_segment_types if t in columns]
    counts = (
        con.execute(
            "select "
            + ", ".join(f"count({t})" for t in optional)
            + " from segments.customer_segments"
        ).fetchall()[0]
        if optional
        else ()
    )
    return config.required_segment_types + tuple(
        t for t, n in zip(optional, counts, strict=True) if n
    )


def _write_customer_segments(con: duckdb.DuckDBPyConnection, as_of: date) -> str:
    predictive_columns, join, note = _predictions_select(con, as_of)
    # the candidate's own copies of predictive columns (if any) give way to the predictions table
    candidate_columns = [
        c for c in table_columns(con, CANDIDATE_SEGMENTS) if c not in PREDICTION_COLUMNS
    ]
    con.execute(
        f"""
        create or replace table segments.customer_segments as
        select {", ".join(f"candidate.{c}" for c in candidate_columns)}, {predictive_columns}
        from {CANDIDATE_SEGMENTS} as candidate
        {join}
        order by candidate.customer_key
        """
    )
    return note


def _write_memberships(con: duckdb.DuckDBPyConnection, segment_types: tuple[str, ...]) -> None:
    """This publication's (customer, segment type, segment), nulls left out, as a temp table."""
    selects = [
        f"select customer_key::varchar as customer_key, '{t}' as segment_type, {t}::varchar as segment "
        f"from segments.customer_segments where {t} is not null"
        for t in segment_types
    ]
    con.execute(
        "create or replace temp table publish_memberships as " + " union all ".join(selects)
    )


def _write_profiles(con: duckdb.DuckDBPyConnection) -> None:
    if table_exists(con, CANDIDATE_PROFILES):
        _require_columns(con, CANDIDATE_PROFILES, PROFILE_COLUMNS)
        con.execute(
            f"create or replace table segments.segment_profiles as select * from {CANDIDATE_PROFILES}"
        )
        return
    # without the segmentation stage's profiles, publish sizes so the table still exists
    con.execute(
        """
        create or replace table segments.segment_profiles as
        select segment_type, segment, null::varchar as description, null::varchar as rules,
               count(*) as customers,
               count(*) / (select count(*) from segments.customer_segments) as share
        from publish_memberships
        group by segment_type, segment
        order by segment_type, customers desc
        """
    )


def _write_history(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    con.execute(
        """
        create table if not exists segments.segment_membership_history (
            customer_key varchar, segment_type varchar, segment varchar,
            valid_from date, valid_to date
        )
        """
    )
    con.execute(
        """
        create table if not exists segments.segment_transitions (
            as_of_date date, segment_type varchar, from_segment varchar, to_segment varchar,
            customers bigint
        )
        """
    )
    params = {"as_of": as_of}
    # undo an earlier publication of this same as-of date, so re-publishing is idempotent
    con.execute("delete from segments.segment_membership_history where valid_from = $as_of", params)
    con.execute(
        "update segments.segment_membership_history set valid_to = null where valid_to = $as_of",
        params,
    )
    con.execute("delete from segments.segment_transitions where as_of_date = $as_of", params)

    con.execute(
        """
        create or replace temp table publish_moves as
        with previous as (
            select customer_key, segment_type, segment
            from segments.segment_membership_history
            where valid_to is null
        ),
        types_published_before as (
            select distinct segment_type from segments.segment_membership_history
        )
        select
            coalesce(previous.customer_key, current.customer_key) as customer_key,
            coalesce(previous.segment_type, current.segment_type) as segment_type,
            previous.segment as previous_segment,
            current.segment as new_segment,
            coalesce(previous.segment_type, current.segment_type)
                in (select segment_type from types_published_before) as type_published_before
        from previous
        full outer join publish_memberships as current
            on current.customer_key = previous.customer_key
            and current.segment_type = previous.segment_type
        """
    )
    con.execute(
        """
        insert into segments.segment_transitions
        select $as_of, segment_type, previous_segment, new_segment, count(*)
        from publish_moves
        group by segment_type, previous_segment, new_segment
        order by segment_type, previous_segment nulls first, new_segment nulls first
        """,
        params,
    )
    con.execute(
        """
        update segments.segment_membership_history as history
        set valid_to = $as_of
        from publish_moves as moves
        where history.valid_to is null
            and history.customer_key = moves.customer_key
            and history.segment_type = moves.segment_type
            and moves.previous_segment is distinct from moves.new_segment
        """,
        params,
    )
    con.execute(
        """
        insert into segments.segment_membership_history
        select customer_key, segment_type, new_segment, $as_of, null
        from publish_moves
        where new_segment is not null and previous_segment is distinct from new_segment
        order by customer_key, segment_type
        """,
        params,
    )
    con.execute(
        """
        create or replace table segments.segment_changes as
        select customer_key, segment_type, previous_segment, new_segment, $as_of as as_of_date
        from publish_moves
        where new_segment is not null
            and previous_segment is distinct from new_segment
            and type_published_before
        order by segment_type, new_segment, customer_key
        """,
        params,
    )


def _count(con: duckdb.DuckDBPyConnection, sql: str, as_of: date | None = None) -> int:
    return con.execute(sql, {"as_of": as_of} if as_of is not None else {}).fetchall()[0][0]


def publish_tables(
    con: duckdb.DuckDBPyConnection,
    config: PublishingConfig,
    *,
    run_id: str,
    published_at: datetime | None = None,
    before_commit: Callable[[duckdb.DuckDBPyConnection, Publication], None] | None = None,
) -> Publication:
    """Replace every `segments.*` table from the candidates in one transaction.

    `before_commit` runs inside the transaction once every table is written (it sees the new
    tables); if it raises, nothing is published. Raises PublishError when the candidates cannot be
    published; the previous publication then stays as it was.
    """
    as_of = candidate_as_of(con, config)
    published_at = published_at or datetime.now().replace(microsecond=0)
    con.execute("begin transaction")
    try:
        con.execute("create schema if not exists segments")
        predictions_note = _write_customer_segments(con, as_of)
        segment_types = present_segment_types(con, config)
        _write_memberships(con, segment_types)
        _write_profiles(con)
        _write_history(con, as_of)
        write_segment_kpis(con, as_of, config.kpis)
        publication = Publication(
            as_of_date=as_of,
            published_at=published_at,
            run_id=run_id,
            customers=_count(con, "select count(*) from segments.customer_segments"),
            segment_types=segment_types,
            profiles=_count(con, "select count(*) from segments.segment_profiles"),
            kpi_rows=_count(
                con, "select count(*) from segments.segment_kpis where as_of_date = $as_of", as_of
            ),
            transitions=_count(
                con,
                "select count(*) from segments.segment_transitions where as_of_date = $as_of",
                as_of,
            ),
            changes=_count(con, "select count(*) from segments.segment_changes"),
            history_rows=_count(con, "select count(*) from segments.segment_membership_history"),
            predictions=predictions_note,
        )
        con.execute(
            """
            create or replace table segments.publication as
            select $as_of::date as as_of_date, $published_at::timestamp as published_at,
                   $run_id as run_id, $customers::bigint as customers,
                   $segment_types as segment_types, $profiles::bigint as profiles,
                   $kpi_rows::bigint as kpi_rows, $transitions::bigint as transitions,
                   $changes::bigint as changes, $history_rows::bigint as history_rows,
                   $predictions as predictions
            """,
            {
                "as_of": as_of,
                "published_at": published_at,
                "run_id": run_id,
                "customers": publication.customers,
                "segment_types": ",".join(segment_types),
                "profiles": publication.profiles,
                "kpi_rows": publication.kpi_rows,
                "transitions": publication.transitions,
                "changes": publication.changes,
                "history_rows": publication.history_rows,
                "predictions": predictions_note,
            },
        )
        con.execute("drop table if exists publish_moves")
        con.execute("drop table if exists publish_memberships")
        if before_commit is not None:
            before_commit(con, publication)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return publication
