"""Checks that compare a table with its own history or with another table, computed in DuckDB.

Great Expectations sees one slice at a time; these need the previous days, the previous as_of_date
or the features table, so they run as SQL where the data lives and report as `Outcome`s.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import duckdb

from pipelines.quality.config import FeatureRules, RawRules, SegmentRules
from pipelines.quality.results import Outcome

# raw table -> (source, entity) as `raw.quarantine` names them
RAW_ENTITIES = {
    "crm_contacts": ("crm", "contacts"),
    "crm_tickets": ("crm", "tickets"),
    "crm_email_events": ("crm", "email_events"),
    "pos_order_lines": ("pos", "order_lines"),
    "web_events": ("web", "events"),
}


def table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    # fetchall: DuckDB 2 keeps a partly fetched execute() result open on the connection
    (found,) = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    return bool(found[0])


def table_columns(con: duckdb.DuckDBPyConnection, qualified: str) -> list[str]:
    schema, name = qualified.split(".")
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    return [r[0] for r in rows]


def days_in_scope(
    con: duckdb.DuckDBPyConnection, table: str, first: date | None, last: date | None
) -> list[date]:
    """Loaded or quarantined days of `raw.<table>` in [first, last]; the latest day if no range."""
    source, entity = RAW_ENTITIES[table]
    quarantined = (
        "union select partition_date from raw.quarantine where source = $source and entity = $entity"
        if table_exists(con, "raw.quarantine")
        else ""
    )
    days = [
        r[0]
        for r in con.execute(
            f"select distinct _partition_date as day from raw.{table} {quarantined} order by 1",
            {"source": source, "entity": entity} if quarantined else {},
        ).fetchall()
    ]
    if first is None or last is None:
        return days[-1:]
    return [d for d in days if first <= d <= last]


def raw_volume_outcomes(
    con: duckdb.DuckDBPyConnection, table: str, days: list[date], rules: RawRules
) -> list[Outcome]:
    """Per validated day: rows vs the median of previous loaded days, and the quarantined share."""
    source, entity = RAW_ENTITIES[table]
    has_quarantine = table_exists(con, "raw.quarantine")
    quarantine_counts = (
        # a re-sent file's rows are quarantined as duplicate_row: harmless, so not counted
        "select partition_date as day, count(*) as quarantined from raw.quarantine "
        "where source = $source and entity = $entity and reason != 'duplicate_row' group by 1"
        if has_quarantine
        else "select null::date as day, 0 as quarantined where false"
    )
    window = f"rows between {rules.row_count.lookback_days} preceding and 1 preceding"
    stats = con.execute(
        f"""
        with loaded as (
            select _partition_date as day, count(*) as loaded from raw.{table} group by 1
        ),
        quarantined as ({quarantine_counts}),
        daily as (
            select coalesce(l.day, q.day) as day, coalesce(l.loaded, 0) as loaded,
                   coalesce(q.quarantined, 0) as quarantined
            from loaded l full join quarantined q on l.day = q.day
        )
        select day, loaded, quarantined,
               median(loaded) over (order by day {window}) as median_loaded,
               count(*) over (order by day {window}) as history_days
        from daily order by day
        """,
        {"source": source, "entity": entity} if has_quarantine else {},
    ).fetchall()
    in_scope = [row for row in stats if row[0] in set(days)]
    rule = rules.row_count
    collapsed, dropped, over_quarantined, observed = [], [], [], {}
    for day, loaded, quarantined, median_loaded, history_days in in_scope:
        observed[str(day)] = {"rows": loaded, "quarantined": quarantined}
        comparable = history_days >= rule.min_history_days and median_loaded
        if comparable and median_loaded >= rule.min_median_rows:
            observed[str(day)]["median_previous_days"] = float(median_loaded)
            line = f"{day}: {loaded} rows vs median {median_loaded:g}"
            if loaded < rule.collapse_ratio_to_median * median_loaded:
                collapsed.append(line)
            elif loaded < rule.drop_ratio_to_median * median_loaded:
                dropped.append(line)
        read = loaded + quarantined
        if read and quarantined / read > rules.max_quarantine_share:
            over_quarantined.append(f"{day}: {quarantined} of {read} rows quarantined")
    observed = _last_days(observed)
    history = (
        f"median of the previous {rule.lookback_days} loaded days (at least "
        f"{rule.min_history_days} days, median of {rule.min_median_rows} rows or more)"
    )
    return [
        Outcome(
            expectation=f"row_count_not_collapsing_vs_median_of_previous_{rule.lookback_days}_days",
            severity="ERROR",
            success=not collapsed,
            observed_value=observed,
            unexpected_count=len(collapsed),
            unexpected_sample=collapsed,
            detail=f"a day below {rule.collapse_ratio_to_median:.0%} of the {history} fails",
        ),
        Outcome(
            expectation=f"row_count_not_dropping_vs_median_of_previous_{rule.lookback_days}_days",
            severity="WARN",
            success=not dropped,
            observed_value=observed,
            unexpected_count=len(dropped),
            unexpected_sample=dropped,
            detail=f"a day below {rule.drop_ratio_to_median:.0%} of the {history} warns",
        ),
        Outcome(
            expectation="quarantined_share_of_rows_read_at_most",
            severity=rules.quarantine_severity,
            success=not over_quarantined,
            observed_value={d: v["quarantined"] for d, v in observed.items()},
            unexpected_count=len(over_quarantined),
            unexpected_sample=over_quarantined,
            detail=f"at most {rules.max_quarantine_share:.0%} of a day's rows may be quarantined",
        ),
    ]


def email_shape_outcome(
    con: duckdb.DuckDBPyConnection, table: str, days: list[date], max_share: float = 0.05
) -> Outcome:
    """Emails that do not look like `local@domain` (GX has no regex for DuckDB, so it is SQL)."""
    bad, filled = con.execute(
        f"""
        select count(*) filter (where not regexp_full_match(trim(email), '[^@\\s]+@[^@\\s]+')),
               count(email)
        from raw.{table} where _partition_date in (select unnest(?::date[]))
        """,
        [days],
    ).fetchall()[0]
    sample = [
        r[0]
        for r in con.execute(
            f"""
            select distinct email from raw.{table}
            where _partition_date in (select unnest(?::date[]))
              and not regexp_full_match(trim(email), '[^@\\s]+@[^@\\s]+')
            limit 10
            """,
            [days],
        ).fetchall()
    ]
    return Outcome(
        expectation="email_values_look_like_addresses(email)",
        severity="WARN",
        success=not filled or bad / filled <= max_share,
        observed_value={"malformed": bad, "with_email": filled},
        unexpected_count=bad,
        unexpected_percent=100 * bad / filled if filled else None,
        unexpected_sample=sample,
        detail=f"at most {max_share:.0%} of the filled emails may lack the local@domain shape (surrounding spaces allowed)",
    )


def order_line_outcomes(
    con: duckdb.DuckDBPyConnection, days: list[date], rules: RawRules
) -> list[Outcome]:
    """POS days: share of lines with a customer reference, returns share and net revenue."""
    window = f"rows between {rules.row_count.lookback_days} preceding and 1 preceding"
    rows = con.execute(
        f"""
        with daily as (
            select _partition_date as day,
                   avg(case when coalesce(customer_id, loyalty_id, email, phone) is not null
                       then 1.0 else 0.0 end) as identified_share,
                   avg(case when quantity < 0 then 1.0 else 0.0 end) as return_share,
                   sum(quantity * unit_price - coalesce(discount_amount, 0)) as net_revenue,
                   count(*) as lines
            from raw.pos_order_lines group by 1
        )
        select day, identified_share, return_share, net_revenue, lines,
               median(identified_share) over (order by day {window}) as median_identified,
               count(*) over (order by day {window}) as history_days
        from daily order by day
        """
    ).fetchall()
    in_scope = [r for r in rows if r[0] in set(days)]
    unidentified, returns = [], []
    observed: dict[str, dict[str, Any]] = {}
    for day, identified, return_share, net, lines, median_identified, history in in_scope:
        observed[str(day)] = {
            "identified_share": round(identified, 4),
            "return_share": round(return_share, 4),
            "net_revenue": round(float(net or 0), 2),
        }
        if history >= rules.row_count.min_history_days and median_identified is not None:
            observed[str(day)]["median_identified_share"] = round(median_identified, 4)
            drop = median_identified - identified
            # binomial standard errors: a small day's share wobbles without anything broken
            noise = rules.identified_share_min_standard_errors * math.sqrt(
                median_identified * (1 - median_identified) / lines
            )
            if drop > rules.identified_share_max_drop and drop > noise:
                unidentified.append(
                    f"{day}: {identified:.1%} of lines identify a customer vs median {median_identified:.1%}"
                )
        if return_share > rules.max_return_share or (net or 0) < rules.min_net_revenue:
            returns.append(
                f"{day}: return share {return_share:.1%}, net revenue {float(net or 0):.2f}"
            )
    observed = _last_days(observed)
    return [
        Outcome(
            expectation="share_of_lines_with_customer_reference_not_dropping",
            severity=rules.identified_share_severity,
            success=not unidentified,
            observed_value={d: v["identified_share"] for d, v in observed.items()},
            unexpected_count=len(unidentified),
            unexpected_sample=unidentified,
            detail=(
                "customer_id, loyalty_id, email or phone; fails when it falls more than "
                f"{rules.identified_share_max_drop:.0%} points and "
                f"{rules.identified_share_min_standard_errors:g} standard errors below the "
                "median of the previous days"
            ),
        ),
        Outcome(
            expectation="returns_share_and_net_revenue_plausible",
            severity=rules.returns_severity,
            success=not returns,
            observed_value={
                d: {k: v[k] for k in ("return_share", "net_revenue")} for d, v in observed.items()
            },
            unexpected_count=len(returns),
            unexpected_sample=returns,
            detail=(
                f"return lines at most {rules.max_return_share:.0%} of a day, net revenue at least "
                f"{rules.min_net_revenue:g}"
            ),
        ),
    ]


def feature_outcomes(
    con: duckdb.DuckDBPyConnection, table: str, rules: FeatureRules
) -> list[Outcome]:
    """Latest as_of_date against the previous one: customer count and feature distributions."""
    dates = [
        r[0]
        for r in con.sql(
            f"select distinct as_of_date from {table} order by 1 desc limit 2"
        ).fetchall()
    ]
    if len(dates) < 2:
        return [
            Outcome(
                expectation="feature_distribution_stable_vs_previous_as_of_date",
                severity=rules.drift.severity,
                success=True,
                observed_value={"as_of_dates": [str(d) for d in dates]},
                detail="no previous as_of_date to compare with",
            )
        ]
    latest, previous = dates
    counts = dict(
        con.execute(
            f"select as_of_date, count(*) from {table} where as_of_date in (?, ?) group by 1",
            [latest, previous],
        ).fetchall()
    )
    ratio = counts[latest] / counts[previous]
    outcomes = [
        Outcome(
            expectation="customer_count_not_shrinking_vs_previous_as_of_date",
            severity=rules.customers_severity,
            success=ratio >= rules.min_customers_ratio,
            observed_value={str(previous): counts[previous], str(latest): counts[latest]},
            detail=f"the latest snapshot keeps at least {rules.min_customers_ratio:.0%} of the customers",
        )
    ]
    present = set(table_columns(con, table))
    drift = rules.drift
    for feature in drift.features:
        if feature not in present:
            continue
        quantiles = ", ".join(
            f"quantile_cont({feature}, {q}) as p{round(q * 100)}" for q in drift.quantiles
        )
        stats = con.execute(
            f"select as_of_date, avg({feature}) as mean, {quantiles} from {table} "
            "where as_of_date in (?, ?) group by 1",
            [latest, previous],
        )
        names = [d[0] for d in stats.description][1:]
        by_date = {r[0]: dict(zip(names, r[1:], strict=True)) for r in stats.fetchall()}
        moved = []
        for stat in names:
            old, new = by_date[previous][stat], by_date[latest][stat]
            if old is None or new is None:
                continue
            change = abs(float(new) - float(old))
            if change > drift.min_absolute_change and change > drift.max_relative_change * abs(
                float(old)
            ):
                moved.append(f"{stat} {float(old):.4g} -> {float(new):.4g}")
        outcomes.append(
            Outcome(
                expectation=f"feature_distribution_stable_vs_previous_as_of_date({feature})",
                severity=drift.severity,
                success=not moved,
                observed_value={
                    stat: [_round(by_date[previous][stat]), _round(by_date[latest][stat])]
                    for stat in names
                },
                unexpected_count=len(moved),
                unexpected_sample=moved,
                detail=(
                    f"[{previous}, {latest}]; a mean or quantile may move by at most "
                    f"{drift.max_relative_change:.0%} of its previous value"
                ),
            )
        )
    return outcomes


def segment_outcomes(con: duckdb.DuckDBPyConnection, rules: SegmentRules) -> list[Outcome]:
    """Every customer in exactly one segment per type, segment counts in bounds, no empty segment."""
    table, features = rules.table, rules.features_table
    present = set(table_columns(con, table))
    outcomes = []
    if table_exists(con, features):
        missing, extra = con.sql(
            f"""
            with latest as (
                select customer_key from {features}
                where as_of_date = (select max(as_of_date) from {features})
            )
            select
                (select count(*) from latest anti join {table} s using (customer_key)),
                (select count(*) from {table} s anti join latest using (customer_key))
            """
        ).fetchall()[0]
        sample = [
            r[0]
            for r in con.sql(
                f"""
                with latest as (
                    select customer_key from {features}
                    where as_of_date = (select max(as_of_date) from {features})
                )
                select customer_key from latest anti join {table} s using (customer_key) limit 10
                """
            ).fetchall()
        ]
        outcomes.append(
            Outcome(
                expectation="every_customer_of_latest_features_is_segmented",
                severity=rules.severity,
                success=missing == 0 and extra == 0,
                observed_value={"customers_without_segment": missing, "unknown_customers": extra},
                unexpected_count=missing + extra,
                unexpected_sample=sample,
                detail=f"customers of the latest as_of_date in {features} vs {table}",
            )
        )
    for segment_type, bounds in rules.segment_types.items():
        if segment_type not in present:
            continue
        nulls, segments = con.sql(
            f"select count(*) filter (where {segment_type} is null), "
            f"count(distinct {segment_type}) from {table}"
        ).fetchall()[0]
        in_bounds = bounds.min_segments <= segments <= bounds.max_segments
        outcomes.append(
            Outcome(
                expectation=f"one_segment_per_customer_and_segment_count_in_bounds({segment_type})",
                severity=rules.severity,
                success=nulls == 0 and in_bounds,
                observed_value={"segments": segments, "customers_without_segment": nulls},
                unexpected_count=nulls,
                detail=f"{bounds.min_segments} to {bounds.max_segments} segments, no customer without one",
            )
        )
    if "cluster_id" in present:
        ids = [
            r[0]
            for r in con.sql(
                f"select distinct cluster_id from {table} where cluster_id >= 0 order by 1"
            ).fetchall()
        ]
        empty = sorted(set(range(max(ids) + 1)) - set(ids)) if ids else []
        outcomes.append(
            Outcome(
                expectation="no_empty_cluster",
                # WARN: clusters keep their ids across runs, so a gap may be a cluster that emptied
                # or one that was retired on purpose
                severity="WARN",
                success=not empty,
                observed_value={"cluster_ids": ids},
                unexpected_count=len(empty),
                unexpected_sample=empty,
                detail="cluster ids run 0..k-1; a missing id is a cluster without customers",
            )
        )
    profiles = f"{table.split('.')[0]}.segment_profiles"
    if table_exists(con, profiles) and "customers" in table_columns(con, profiles):
        empty_profiles = con.sql(
            f"select count(*) from {profiles} where coalesce(customers, 0) = 0"
        ).fetchall()[0][0]
        outcomes.append(
            Outcome(
                expectation="no_empty_segment_in_profiles",
                severity=rules.severity,
                success=empty_profiles == 0,
                observed_value={"segments_without_customers": empty_profiles},
                unexpected_count=empty_profiles,
                detail=f"every segment listed in {profiles} has customers",
            )
        )
    return outcomes


def _last_days(observed: dict[str, Any], days: int = 14) -> dict[str, Any]:
    """The latest days only: a year-long backfill would otherwise fill the check's metadata."""
    return dict(list(observed.items())[-days:])


def _round(value: Any) -> Any:
    return round(float(value), 4) if value is not None else None
