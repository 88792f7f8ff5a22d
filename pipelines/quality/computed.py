"""Checks that compare a table with its own history or with another table, computed in DuckDB.

Great Expectations sees one slice at a time; these need the previous days, the previous as_of_date
or the features table, so they run as SQL where the data lives and report as `Outcome`s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from typing import Any

import duckdb

from pipelines.catalog import table_columns, table_exists
from pipelines.quality.config import FeatureRules, PredictionRules, RawRules, SegmentRules
from pipelines.quality.results import Outcome

# raw table -> (source, entity) as `raw.quarantine` names them
RAW_ENTITIES = {
    "crm_contacts": ("crm", "contacts"),
    "crm_tickets": ("crm", "tickets"),
    "crm_email_events": ("crm", "email_events"),
    "pos_order_lines": ("pos", "order_lines"),
    "web_events": ("web", "events"),
}


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


def judge_days(
    per_day: dict[date, tuple[dict[str, float], dict[str, float]]],
    rules: RawRules,
    verdict: Callable[[dict[str, float]], str | None],
    notes: dict[date, str] | None = None,
) -> tuple[list[str], list[str]]:
    """Apply a share rule per day, minding small days: (failures, small-day warnings).

    `per_day` holds, per day, its totals and those of its trailing window (the day and the
    previous `lookback_days` loaded days); each has `rows` (what the share is taken of) and the
    counts the rule needs. `verdict` says what is wrong, or None. A day of at least
    `min_rows_per_day` rows is judged alone. A smaller day that fails alone (one bad row of three
    is 33%) fails only if its trailing window, once it holds that many rows, fails too: a broken
    export that persists blocks, a single bad row in a tiny drop only warns.
    """
    notes = notes or {}
    failures: list[str] = []
    small_warnings: list[str] = []
    for day, (totals, window) in per_day.items():
        found = verdict(totals)
        if not found:
            continue
        why = f" ({notes[day]})" if notes.get(day) else ""
        if totals["rows"] >= rules.min_rows_per_day:
            failures.append(f"{day}: {found}{why}")
            continue
        in_window = verdict(window) if window["rows"] >= rules.min_rows_per_day else None
        if in_window:
            failures.append(
                f"{day} ({totals['rows']:g} rows) with the previous "
                f"{rules.row_count.lookback_days} loaded days: {in_window}"
            )
        else:
            small_warnings.append(
                f"{day} ({totals['rows']:g} rows, under {rules.min_rows_per_day}): {found}{why}"
            )
    return failures, small_warnings


def share_rule_outcomes(
    expectation: str,
    severity: str,
    observed_value: dict[str, Any],
    judged: tuple[list[str], list[str]],
    detail: str,
    small_day_detail: str,
) -> list[Outcome]:
    """A share rule judged per day, as two outcomes from `judged` = (failures, small-day warnings).

    `expectation` at `severity` lists the days that fail; `<expectation>_on_a_small_day`, a
    warning, the small days that fail alone only (see `judge_days`).
    """
    failures, small_warnings = judged
    return [
        Outcome.of_failures(
            expectation=expectation,
            severity=severity,
            observed_value=observed_value,
            failures=failures,
            detail=detail,
        ),
        Outcome.of_failures(
            expectation=f"{expectation}_on_a_small_day",
            severity="WARN",
            observed_value=observed_value,
            failures=small_warnings,
            detail=small_day_detail,
        ),
    ]


def raw_volume_outcomes(
    con: duckdb.DuckDBPyConnection, table: str, days: list[date], rules: RawRules
) -> list[Outcome]:
    """Per validated day: rows vs the median of previous loaded days, and the quarantined share."""
    source, entity = RAW_ENTITIES[table]
    has_quarantine = table_exists(con, "raw.quarantine")
    quarantine_counts = (
        # a re-sent file's rows are quarantined as duplicate_row: harmless, so not counted
        """
        select day, sum(n)::bigint as quarantined,
               string_agg(reason || ' ' || n, ', ' order by n desc, reason) as reasons
        from (
            select partition_date as day, reason, count(*) as n from raw.quarantine
            where source = $source and entity = $entity and reason != 'duplicate_row'
            group by 1, 2
        ) group by 1
        """
        if has_quarantine
        else "select null::date as day, 0 as quarantined, null as reasons where false"
    )
    window = f"rows between {rules.row_count.lookback_days} preceding and 1 preceding"
    trailing = f"rows between {rules.row_count.lookback_days} preceding and current row"
    stats = con.execute(
        f"""
        with loaded as (
            select _partition_date as day, count(*) as loaded from raw.{table} group by 1
        ),
        quarantined as ({quarantine_counts}),
        daily as (
            select coalesce(l.day, q.day) as day, coalesce(l.loaded, 0) as loaded,
                   coalesce(q.quarantined, 0) as quarantined, q.reasons
            from loaded l full join quarantined q on l.day = q.day
        )
        select day, loaded, quarantined, reasons,
               median(loaded) over (order by day {window}) as median_loaded,
               count(*) over (order by day {window}) as history_days,
               sum(loaded + quarantined) over (order by day {trailing}) as window_read,
               sum(quarantined) over (order by day {trailing}) as window_quarantined
        from daily order by day
        """,
        {"source": source, "entity": entity} if has_quarantine else {},
    ).fetchall()
    in_scope = [row for row in stats if row[0] in set(days)]
    rule = rules.row_count
    collapsed, dropped, observed = [], [], {}
    read_per_day: dict[date, tuple[dict[str, float], dict[str, float]]] = {}
    reasons_per_day: dict[date, str] = {}
    for (
        day,
        loaded,
        quarantined,
        reasons,
        median_loaded,
        history_days,
        window_read,
        window_quarantined,
    ) in in_scope:
        observed[str(day)] = {"rows": loaded, "quarantined": quarantined}
        comparable = history_days >= rule.min_history_days and median_loaded
        if comparable and median_loaded >= rule.min_median_rows:
            observed[str(day)]["median_previous_days"] = float(median_loaded)
            line = f"{day}: {loaded} rows vs median {median_loaded:g}"
            if loaded < rule.collapse_ratio_to_median * median_loaded:
                collapsed.append(line)
            elif loaded < rule.drop_ratio_to_median * median_loaded:
                dropped.append(line)
        read_per_day[day] = (
            {"rows": loaded + quarantined, "quarantined": quarantined},
            {"rows": float(window_read), "quarantined": float(window_quarantined)},
        )
        reasons_per_day[day] = reasons or ""

    def too_many_quarantined(totals: dict[str, float]) -> str | None:
        read, quarantined = totals["rows"], totals["quarantined"]
        if not read or quarantined / read <= rules.max_quarantine_share:
            return None
        return f"{quarantined:g} of {read:g} rows quarantined"

    observed = _last_days(observed)
    history = (
        f"median of the previous {rule.lookback_days} loaded days (at least "
        f"{rule.min_history_days} days, median of {rule.min_median_rows} rows or more)"
    )
    share = f"at most {rules.max_quarantine_share:.0%} of a day's rows read may be quarantined"
    return [
        Outcome.of_failures(
            expectation=f"row_count_not_collapsing_vs_median_of_previous_{rule.lookback_days}_days",
            severity="ERROR",
            observed_value=observed,
            failures=collapsed,
            detail=f"a day below {rule.collapse_ratio_to_median:.0%} of the {history} fails",
        ),
        Outcome.of_failures(
            expectation=f"row_count_not_dropping_vs_median_of_previous_{rule.lookback_days}_days",
            severity="WARN",
            observed_value=observed,
            failures=dropped,
            detail=f"a day below {rule.drop_ratio_to_median:.0%} of the {history} warns",
        ),
        *share_rule_outcomes(
            "quarantined_share_of_rows_read_at_most",
            rules.quarantine_severity,
            {d: v["quarantined"] for d, v in observed.items()},
            judge_days(read_per_day, rules, too_many_quarantined, reasons_per_day),
            detail=(
                f"{share}; a day of fewer than {rules.min_rows_per_day} rows fails only together "
                f"with its previous {rules.row_count.lookback_days} loaded days"
            ),
            small_day_detail=(
                f"{share}; a day of fewer than {rules.min_rows_per_day} rows over it, whose "
                "previous days are fine, only warns (its rows are in raw.quarantine with their "
                "reason)"
            ),
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


def identified_share_dropped(
    identified: int,
    orders: int,
    median_share: float,
    previous_orders: int,
    rules: RawRules,
    days_judged: int = 1,
) -> bool:
    """Whether a day's orders with a customer reference fell below the usual share beyond chance.

    Fails when the share is more than `max_drop_vs_median` below the median of the previous days
    and a day that low is less likely than `min_standard_errors` (one-sided normal tail) under a
    binomial at the median share. The median is kept off 0 and 1 by half an order of the previous
    days: a shop whose every order was identified so far still has a quiet day with one anonymous
    order of two without an alarm. Exact binomial: the normal approximation fails near 0 and 1.
    When `days_judged` days are judged together (a backfill), the tail is divided among them
    (Bonferroni): a two-year backfill of ordinary days is no likelier to raise a false alarm than
    one daily run, which judges one day at the full tail.
    """
    from scipy.stats import binom

    share = identified / orders
    if median_share - share <= rules.identified_share_max_drop:
        return False
    margin = 0.5 / (previous_orders + 1)
    usual = min(max(median_share, margin), 1 - margin)
    alpha = 0.5 * math.erfc(rules.identified_share_min_standard_errors / math.sqrt(2))
    return float(binom.cdf(identified, orders, usual)) < alpha / max(days_judged, 1)


def order_line_outcomes(
    con: duckdb.DuckDBPyConnection, days: list[date], rules: RawRules
) -> list[Outcome]:
    """POS days: share of orders with a customer reference, returns share and net revenue."""
    lookback = rules.row_count.lookback_days
    window = f"rows between {lookback} preceding and 1 preceding"
    trailing = f"rows between {lookback} preceding and current row"
    # The windows reach back `lookback` loaded days from the first day judged, and no further: the
    # orders of older days are not grouped (at tier L two years of lines took 1.3 s). No day to
    # judge selects no rows.
    first, last = (min(days), max(days)) if days else (None, None)
    (reach,) = con.execute(
        """
        select coalesce(min(day), $first) from (
            select distinct _partition_date as day from raw.pos_order_lines
            where _partition_date < $first order by day desc limit $lookback
        )
        """,
        {"first": first, "lookback": lookback},
    ).fetchall()[0]
    rows = con.execute(
        f"""
        with orders as (
            -- lines of one order share their customer: the order is the independent unit
            select _partition_date as day, order_id,
                   bool_or(coalesce(customer_id, loyalty_id, email, phone) is not null)
                       as identified,
                   count(*) as lines,
                   count(*) filter (where quantity < 0) as return_lines,
                   sum(quantity * unit_price - coalesce(discount_amount, 0)) as net_revenue
            from raw.pos_order_lines
            where _partition_date between $reach and $last
            group by 1, 2
        ),
        daily as (
            select day, count(*) as orders, count(*) filter (where identified) as identified,
                   sum(lines) as lines, sum(return_lines) as return_lines,
                   sum(net_revenue) as net_revenue
            from orders group by 1
        )
        select day, orders, identified, lines, return_lines, net_revenue,
               median(identified / orders) over (order by day {window}) as median_identified,
               sum(orders) over (order by day {window}) as previous_orders,
               count(*) over (order by day {window}) as history_days,
               sum(lines) over (order by day {trailing}) as window_lines,
               sum(return_lines) over (order by day {trailing}) as window_return_lines,
               sum(orders) over (order by day {trailing}) as window_orders,
               sum(identified) over (order by day {trailing}) as window_identified
        from daily order by day
        """,
        {"reach": reach, "last": last},
    ).fetchall()
    in_scope = [r for r in rows if r[0] in set(days)]
    unidentified, small_unidentified, negative_net = [], [], []
    returns_per_day: dict[date, tuple[dict[str, float], dict[str, float]]] = {}
    observed: dict[str, dict[str, Any]] = {}
    for (
        day,
        orders,
        identified,
        lines,
        return_lines,
        net,
        median_identified,
        previous_orders,
        history,
        window_lines,
        window_return_lines,
        window_orders,
        window_identified,
    ) in in_scope:
        net = float(net or 0)
        observed[str(day)] = {
            "orders": orders,
            "identified_share": round(identified / orders, 4),
            "lines": lines,
            "return_share": round(return_lines / lines, 4),
            "net_revenue": round(net, 2),
        }
        returns_per_day[day] = (
            {"rows": lines, "returns": return_lines},
            {"rows": float(window_lines), "returns": float(window_return_lines)},
        )
        if net < rules.min_net_revenue:
            negative_net.append(f"{day}: net revenue {net:.2f} over {lines} lines")
        if history >= rules.row_count.min_history_days and median_identified is not None:
            observed[str(day)]["median_identified_share"] = round(median_identified, 4)
            if identified_share_dropped(
                identified, orders, median_identified, int(previous_orders), rules, len(in_scope)
            ):
                found = (
                    f"{day}: {identified / orders:.1%} of {orders} orders identify a customer "
                    f"vs median {median_identified:.1%}"
                )
                # a quiet day (two anonymous orders of two) blocks only if its trailing window,
                # once it holds enough orders, has lost its references too
                window_dropped = window_orders >= rules.min_rows_per_day and (
                    identified_share_dropped(
                        int(window_identified),
                        int(window_orders),
                        median_identified,
                        int(previous_orders),
                        rules,
                        len(in_scope),
                    )
                )
                if orders >= rules.min_rows_per_day or window_dropped:
                    unidentified.append(found)
                else:
                    small_unidentified.append(f"{found} (under {rules.min_rows_per_day} orders)")

    def too_many_returns(totals: dict[str, float]) -> str | None:
        return_share = totals["returns"] / totals["rows"]
        if return_share > rules.max_return_share:
            return f"{totals['returns']:g} of {totals['rows']:g} lines are returns"
        return None

    observed = _last_days(observed)
    returns_detail = f"return lines at most {rules.max_return_share:.0%} of a day's lines"
    return [
        *share_rule_outcomes(
            "share_of_orders_with_customer_reference_not_dropping",
            rules.identified_share_severity,
            {d: v["identified_share"] for d, v in observed.items()},
            (unidentified, small_unidentified),
            detail=(
                "orders with a customer_id, loyalty_id, email or phone; fails when the share "
                f"falls more than {rules.identified_share_max_drop:.0%} points below the median of "
                f"the previous days and beyond {rules.identified_share_min_standard_errors:g} "
                "standard errors of chance (binomial at the median share, the tail shared among the days "
                "judged together)"
            ),
            small_day_detail=(
                f"as above, on a day of fewer than {rules.min_rows_per_day} orders whose previous "
                f"{rules.row_count.lookback_days} loaded days together keep their references"
            ),
        ),
        *share_rule_outcomes(
            "returns_share_plausible",
            rules.returns_severity,
            {d: v["return_share"] for d, v in observed.items()},
            judge_days(returns_per_day, rules, too_many_returns),
            detail=(
                f"{returns_detail}; a day of fewer than {rules.min_rows_per_day} lines fails only "
                f"together with its previous {rules.row_count.lookback_days} loaded days"
            ),
            small_day_detail=(
                f"{returns_detail}, on a day of fewer than {rules.min_rows_per_day} lines"
            ),
        ),
        Outcome.of_failures(
            expectation="net_revenue_of_the_day_not_negative",
            # one refunded coffee machine outweighs a quiet day's sales: worth a look, not a block
            severity="WARN",
            observed_value={d: v["net_revenue"] for d, v in observed.items()},
            failures=negative_net,
            detail=f"the day's net revenue at least {rules.min_net_revenue:g}",
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
    present = set(table_columns(con, table))
    drift = rules.drift
    features = [f for f in drift.features if f in present]
    # one pass over the two snapshots: the customer counts and every feature's mean and quantiles
    # (a statement per feature read them once each: at tier L 0.7 s against 0.4 s)
    stats = [
        f"{aggregate} as {feature}__{stat}"
        for feature in features
        for stat, aggregate in (
            ("mean", f"avg({feature})"),
            *((f"p{round(q * 100)}", f"quantile_cont({feature}, {q})") for q in drift.quantiles),
        )
    ]
    result = con.execute(
        f"select as_of_date, count(*) as customers{''.join(', ' + stat for stat in stats)} "
        f"from {table} where as_of_date in (?, ?) group by 1",
        [latest, previous],
    )
    names = [d[0] for d in result.description]
    by_date = {r[0]: dict(zip(names, r, strict=True)) for r in result.fetchall()}
    counts = {day: row["customers"] for day, row in by_date.items()}
    ratio = counts[latest] / counts[previous]
    small_shop = counts[previous] < rules.min_customers
    outcomes = [
        Outcome(
            expectation="customer_count_not_shrinking_vs_previous_as_of_date",
            # in a small shop one identity merge is a large share: warn, do not block
            severity="WARN" if small_shop else rules.customers_severity,
            success=ratio >= rules.min_customers_ratio,
            observed_value={str(previous): counts[previous], str(latest): counts[latest]},
            detail=(
                f"the latest snapshot keeps at least {rules.min_customers_ratio:.0%} of the "
                f"customers (only warns under {rules.min_customers} customers)"
            ),
        )
    ]
    if small_shop:
        outcomes.append(
            Outcome(
                expectation="feature_distribution_stable_vs_previous_as_of_date",
                severity=drift.severity,
                success=True,
                observed_value={str(previous): counts[previous]},
                detail=(
                    f"not compared: fewer than {rules.min_customers} customers, whose quantiles "
                    "move with every purchase"
                ),
            )
        )
        return outcomes
    for feature in features:
        prefix = f"{feature}__"
        stat_names = [n.removeprefix(prefix) for n in names if n.startswith(prefix)]
        moved = []
        for stat in stat_names:
            old, new = by_date[previous][prefix + stat], by_date[latest][prefix + stat]
            if old is None or new is None:
                continue
            change = abs(float(new) - float(old))
            if change > drift.min_absolute_change and change > drift.max_relative_change * abs(
                float(old)
            ):
                moved.append(f"{stat} {float(old):.4g} -> {float(new):.4g}")
        outcomes.append(
            Outcome.of_failures(
                expectation=f"feature_distribution_stable_vs_previous_as_of_date({feature})",
                severity=drift.severity,
                observed_value={
                    stat: [
                        _round(by_date[previous][prefix + stat]),
                        _round(by_date[latest][prefix + stat]),
                    ]
                    for stat in stat_names
                },
                failures=moved,
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
            Outcome.of_failures(
                expectation="no_empty_cluster",
                # WARN: clusters keep their ids across runs, so a gap may be a cluster that emptied
                # or one that was retired on purpose
                severity="WARN",
                observed_value={"cluster_ids": ids},
                failures=empty,
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


# the fixed labels of pipelines/predictive/segments.py (the other two come from predictive.yaml);
# churn bands are fixed too (low/medium/high) and checked by the suite's value set
PREDICTIVE_RULE_LABELS = ("High value at risk", "Likely lost", "Rising stars")


def prediction_outcomes(
    con: duckdb.DuckDBPyConnection, rules: PredictionRules, predictive: dict[str, Any]
) -> list[Outcome]:
    """Predictions a shop owner can act on: one per latest customer, labels the config defines,
    bands that match their probabilities, and value only where the customer has bought."""
    table, features = rules.table, rules.features_table
    present = set(table_columns(con, table))
    outcomes: list[Outcome] = []
    if table_exists(con, features) and {"customer_key", "as_of_date"} <= present:
        missing, unknown, other_date, latest = con.sql(
            f"""
            with latest as (
                select customer_key, as_of_date from {features}
                where as_of_date = (select max(as_of_date) from {features})
            )
            select
                (select count(*) from latest anti join {table} p using (customer_key)),
                (select count(*) from {table} p anti join latest using (customer_key)),
                (select count(*) from {table}
                 where as_of_date is distinct from (select max(as_of_date) from latest)),
                (select max(as_of_date) from latest)::varchar
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
                (select customer_key from latest anti join {table} p using (customer_key) limit 5)
                union all
                (select customer_key from {table} p anti join latest using (customer_key) limit 5)
                """
            ).fetchall()
        ]
        outcomes.append(
            Outcome(
                expectation="every_customer_of_latest_features_has_a_prediction",
                severity=rules.severity,
                success=missing == 0 and unknown == 0 and other_date == 0,
                observed_value={
                    "customers_without_prediction": missing,
                    "unknown_customers": unknown,
                    "rows_of_another_as_of_date": other_date,
                    "latest_features_as_of_date": latest,
                },
                unexpected_count=missing + unknown + other_date,
                unexpected_sample=sample,
                detail=f"customers of the latest as_of_date in {features} vs {table}",
            )
        )
    clv, churn, segments = predictive["clv"], predictive["churn"], predictive["segments"]
    accepted = {
        "value_tier": [*clv["value_tiers"], clv["rest_label"]],
        "predictive_segment": [
            segments["no_purchase_label"],
            *PREDICTIVE_RULE_LABELS,
            segments["steady_label"],
        ],
    }
    for column, labels in accepted.items():
        if column not in present:
            continue
        unexpected = con.execute(
            f"select {column}, count(*) from {table} "
            f"where {column} is not null and {column} not in (select unnest(?::varchar[])) "
            "group by 1 order by 2 desc",
            [labels],
        ).fetchall()
        outcomes.append(
            Outcome(
                expectation=f"labels_defined_in_predictive_config({column})",
                severity=rules.severity,
                success=not unexpected,
                observed_value={"accepted": labels},
                unexpected_count=sum(n for _, n in unexpected),
                unexpected_sample=[label for label, _ in unexpected],
                detail="labels from pipelines/config/predictive.yaml and predictive/segments.py",
            )
        )
    needed = {"churn_probability", "churn_risk_band", "clv_12m", "value_tier", "p_alive"}
    if not needed <= present:
        return outcomes
    bands = churn["risk_bands"]
    band_mismatch, band_sample = con.execute(
        f"""
        with judged as (
            select customer_key, churn_probability, churn_risk_band,
                   case when churn_probability >= $high then 'high'
                        when churn_probability >= $medium then 'medium'
                        when churn_probability is not null then 'low' end as expected_band
            from {table}
        )
        select count(*),
               list(customer_key || ': ' || coalesce(churn_probability::varchar, 'null') || ' -> '
                    || coalesce(churn_risk_band, 'null'))[1:5]
        from judged where churn_risk_band is distinct from expected_band
        """,
        {"high": bands["high_from"], "medium": bands["medium_from"]},
    ).fetchall()[0]
    outcomes.append(
        Outcome(
            expectation="churn_risk_band_matches_churn_probability",
            severity=rules.severity,
            success=band_mismatch == 0,
            observed_value={"medium_from": bands["medium_from"], "high_from": bands["high_from"]},
            unexpected_count=band_mismatch,
            unexpected_sample=band_sample or [],
            detail="high from high_from, medium from medium_from, else low; null with no probability",
        )
    )
    if not table_exists(con, features) or "frequency" not in table_columns(con, features):
        return outcomes
    (
        buyers,
        valued_buyers,
        scored_buyers,
        inconsistent,
        inconsistent_sample,
    ) = con.execute(
        f"""
        with latest as (
            select customer_key, coalesce(frequency, 0) > 0 as bought from {features}
            where as_of_date = (select max(as_of_date) from {features})
        ),
        judged as (
            select p.*, coalesce(l.bought, false) as bought,
                   -- never bought: no value, no churn risk, the no-purchase segment; bought: a
                   -- buyer's segment; value, tier and p_alive come together or not at all
                   case when not coalesce(l.bought, false) then
                            coalesce(p.clv_12m, p.p_alive, p.churn_probability) is not null
                            or p.value_tier is not null
                            or p.predictive_segment is distinct from $no_purchase
                        else p.predictive_segment = $no_purchase end
                   or (p.clv_12m is null) != (p.value_tier is null)
                   or (p.clv_12m is null) != (p.p_alive is null) as inconsistent
            from {table} p left join latest l using (customer_key)
        )
        select count(*) filter (where bought),
               count(*) filter (where bought and clv_12m is not null),
               count(*) filter (where bought and churn_probability is not null),
               count(*) filter (where inconsistent),
               list(customer_key) filter (where inconsistent)[1:5]
        from judged
        """,
        {"no_purchase": segments["no_purchase_label"]},
    ).fetchall()[0]
    young = "or, while the history is too short to fit the model, for none (the asset says why)"
    outcomes += [
        Outcome(
            expectation="predictions_agree_with_purchase_history",
            severity=rules.severity,
            success=inconsistent == 0,
            observed_value={"customers_who_bought": buyers},
            unexpected_count=inconsistent,
            unexpected_sample=inconsistent_sample or [],
            detail=(
                f"a customer without purchases in the latest {features} has no value, tier, "
                f"p_alive or churn risk and the segment '{segments['no_purchase_label']}'; one "
                "with purchases has another segment; clv_12m, value_tier and p_alive come together"
            ),
        ),
        Outcome(
            expectation="lifetime_value_for_every_buyer_or_none",
            severity=rules.severity,
            success=valued_buyers in (0, buyers),
            observed_value={"customers_who_bought": buyers, "with_clv_12m": valued_buyers},
            unexpected_count=buyers - valued_buyers if 0 < valued_buyers < buyers else 0,
            detail=f"clv_12m set for every customer who bought {young}",
        ),
        Outcome(
            expectation="churn_risk_for_every_buyer_or_none",
            severity=rules.severity,
            success=scored_buyers in (0, buyers),
            observed_value={"customers_who_bought": buyers, "with_churn_risk": scored_buyers},
            unexpected_count=buyers - scored_buyers if 0 < scored_buyers < buyers else 0,
            detail=f"churn_probability set for every customer who bought {young}",
        ),
    ]
    return outcomes
