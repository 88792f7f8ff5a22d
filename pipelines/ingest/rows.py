"""Turning a vendor's text columns into typed canonical columns, and the row checks.

Every row either passes every check or gets the first failing reason, in the order of
`schema.REASONS`, with a detail naming the column and the bad value.
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from pipelines.ingest.mapping import ColumnRule, EntityMapping
from pipelines.ingest.schema import Entity

UNIT_PRICE_MAX = 10_000.0
CHANNELS = ("in_store", "online")
SATISFACTION_SCORES = (1, 5)
DEFAULT_TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M%#z",
)
POLARS_TYPES: dict[str, pl.DataType] = {
    "varchar": pl.String(),
    "integer": pl.Int32(),
    "double": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us"),
}
LINEAGE = ("_partition_date", "_source_file", "_source_row", "_original_values")


def _blank_to_null(text: pl.Expr) -> pl.Expr:
    text = text.str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _vendor(name: str, present: Collection[str]) -> pl.Expr:
    return _blank_to_null(pl.col(name)) if name in present else pl.lit(None, pl.String)


def _text(rule: ColumnRule, present: Collection[str]) -> pl.Expr:
    """The rule's value as trimmed text (null when empty), before any typing."""
    if rule.value is not None:
        text = pl.lit(rule.value, pl.String)
    elif rule.concat:
        text = pl.concat_str([_vendor(n, present) for n in rule.concat], separator=" ")
    else:
        text = pl.coalesce([_vendor(n, present) for n in rule.sources])
    if rule.extract:
        text = text.str.extract(rule.extract, 1)
    if rule.lowercase:
        text = text.str.to_lowercase()
    if rule.map:
        text = text.replace(rule.map)
    if rule.default is not None:
        text = text.fill_null(pl.lit(rule.default))
    return _blank_to_null(text)


# Most exports write ISO 8601 with a "T": parsed for every row; the other accepted layouts are
# tried only on the rows that fail it (see `_reparse_failed_timestamps`), which is much faster.
ISO_TIMESTAMP = "%Y-%m-%dT%H:%M:%S%.f"


def _parse_timestamp_fast(text: pl.Expr, rule: ColumnRule, column_type: str) -> pl.Expr:
    if rule.unit or rule.format:
        parsed = _parse_timestamp(text, rule)
        return parsed.dt.date() if column_type == "date" else parsed
    if column_type == "date":
        return text.str.to_date("%Y-%m-%d", strict=False, exact=True)
    return text.str.to_datetime(ISO_TIMESTAMP, strict=False, time_unit="us", exact=True)


def _parse_timestamp(text: pl.Expr, rule: ColumnRule) -> pl.Expr:
    if rule.unit:
        unit = {"seconds": "s", "milliseconds": "ms", "microseconds": "us"}[rule.unit]
        number = text.cast(pl.Float64, strict=False)
        if unit == "s":
            return pl.from_epoch((number * 1_000_000).cast(pl.Int64, strict=False), "us")
        return pl.from_epoch(number.cast(pl.Int64, strict=False), unit).cast(pl.Datetime("us"))
    if rule.format:
        formats: tuple[str, ...] = (rule.format,)
    else:
        text = text.str.replace("T", " ", literal=True).str.replace(r"Z$", "+00:00")
        formats = DEFAULT_TIMESTAMP_FORMATS
    parsed = []
    for fmt in formats:
        value = text.str.to_datetime(fmt, strict=False, time_unit="us", exact=True)
        if "%z" in fmt or "%#z" in fmt:
            value = value.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        parsed.append(value)
    if not rule.format:
        date_only = text.str.to_date("%Y-%m-%d", strict=False, exact=True)
        parsed.append(date_only.cast(pl.Datetime("us")))
    return pl.coalesce(parsed)


def _parse_number(text: pl.Expr, rule: ColumnRule, present: Collection[str]) -> pl.Expr:
    if rule.strip_currency:
        text = text.str.replace_all(r"[^0-9eE.+\-]", "")
    number = text.cast(pl.Float64, strict=False)
    number = pl.when(number.is_finite()).then(number).otherwise(None)
    if rule.absolute:
        number = number.abs()
    if rule.scale is not None:
        # rounded so that 380 cents * 0.01 is 3.8, not 3.8000000000000003
        number = (number * rule.scale).round(9)
    if rule.divide_by:
        divisor = _vendor(rule.divide_by, present)
        if rule.strip_currency:
            divisor = divisor.str.replace_all(r"[^0-9eE.+\-]", "")
        divisor = divisor.cast(pl.Float64, strict=False).abs()
        number = pl.when(divisor > 0).then(number / divisor).otherwise(None)
    return number


def _typed(entity: Entity, rule: ColumnRule, text: pl.Expr, present: Collection[str]) -> pl.Expr:
    column_type = entity.column(rule.canonical).type
    if column_type == "varchar":
        return text
    if column_type == "date" and rule.format:
        return text.str.to_date(rule.format, strict=False, exact=True)
    if column_type in ("timestamp", "date"):
        return _parse_timestamp_fast(text, rule, column_type)
    if column_type == "boolean":
        lowered = text.str.to_lowercase()
        return (
            pl.when(lowered.is_in(list(rule.true_values)))
            .then(True)
            .when(lowered.is_in(list(rule.false_values)))
            .then(False)
            .otherwise(None)
        )
    number = _parse_number(text, rule, present)
    if column_type == "integer":
        whole = (number == number.round(0)) & (number.abs() < 2**31)
        return pl.when(whole).then(number).otherwise(None).cast(pl.Int32, strict=False)
    return number


def to_canonical(frame: pl.DataFrame, mapping: EntityMapping) -> pl.DataFrame:
    """Canonical typed columns, `_text__<column>` texts for the checks, and the lineage columns."""
    entity = mapping.entity
    present = set(frame.columns)
    texts, typed = [], []
    for column in entity.columns:
        rule = mapping.rule(column.name)
        if rule is None:
            texts.append(pl.lit(None, pl.String).alias(f"_text__{column.name}"))
            typed.append(pl.lit(None, POLARS_TYPES[column.type]).alias(column.name))
            continue
        if rule.counter_within:
            continue
        text = _text(rule, present)
        texts.append(text.alias(f"_text__{column.name}"))
        typed.append(_typed(entity, rule, pl.col(f"_text__{column.name}"), present))
    out = frame.with_columns(texts).with_columns(
        [expr.alias(name) for expr, name in zip(typed, _named(entity, mapping), strict=True)]
    )
    out = _reparse_failed_timestamps(out, mapping)
    for rule in mapping.rules:
        if rule.counter_within:
            # the n-th line of the same order in this file is its line number
            counter = pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(
                ["_source_file", f"_text__{rule.counter_within}"]
            )
            out = out.with_columns(
                counter.alias(rule.canonical),
                counter.cast(pl.String).alias(f"_text__{rule.canonical}"),
            )
    keep = [
        *entity.column_names,
        *(f"_text__{c}" for c in entity.column_names),
        "_malformed",
        *LINEAGE,
    ]
    return out.select(keep)


def _reparse_failed_timestamps(frame: pl.DataFrame, mapping: EntityMapping) -> pl.DataFrame:
    """Rows whose timestamp is not plain ISO get every accepted layout (space, offset, date)."""
    for rule in mapping.rules:
        column_type = mapping.entity.column(rule.canonical).type
        if column_type not in ("timestamp", "date") or rule.unit or rule.format:
            continue
        text = f"_text__{rule.canonical}"
        failed = frame.select(
            pl.arg_where(pl.col(text).is_not_null() & pl.col(rule.canonical).is_null())
        ).to_series()
        if failed.is_empty():
            continue
        parsed = _parse_timestamp(pl.col(text), rule)
        if column_type == "date":
            parsed = parsed.dt.date()
        retried = frame[failed].select(parsed.alias(rule.canonical)).to_series()
        frame = frame.with_columns(frame[rule.canonical].scatter(failed, retried))
    return frame


def _named(entity: Entity, mapping: EntityMapping) -> list[str]:
    return [
        c.name
        for c in entity.columns
        if (rule := mapping.rule(c.name)) is None or not rule.counter_within
    ]


def _bad_value(column: str, expected: str) -> pl.Expr:
    return pl.format(f"column '{column}': '{{}}' is not {expected}", pl.col(f"_text__{column}"))


def row_problems(
    frame: pl.DataFrame,
    entity: Entity,
    category_codes: Collection[str],
    contact_ids: pl.Series | None,
) -> pl.DataFrame:
    """`_reason` and `_detail` of the first failing check per row (null where the row is fine).

    `contact_ids` are every CRM contact loaded so far; None skips the unknown_customer check
    (no CRM source at all).
    """
    checks: list[tuple[pl.Expr, str, pl.Expr]] = [
        (pl.col("_malformed").is_not_null(), "malformed_row", pl.col("_malformed")),
    ]
    for name in entity.required:
        checks.append(
            (
                pl.col(f"_text__{name}").is_null(),
                "missing_required",
                pl.lit(f"column '{name}': required, found an empty value"),
            )
        )
    for column in entity.columns:
        if column.type in ("timestamp", "date"):
            failed = pl.col(f"_text__{column.name}").is_not_null() & pl.col(column.name).is_null()
            expected = "an ISO 8601 timestamp" if column.type == "timestamp" else "a date"
            checks.append((failed, "invalid_timestamp", _bad_value(column.name, expected)))
    for column in entity.columns:
        if column.type in ("integer", "double", "boolean"):
            failed = pl.col(f"_text__{column.name}").is_not_null() & pl.col(column.name).is_null()
            expected = {"integer": "a whole number", "double": "a number"}.get(
                column.type, "a yes/no value"
            )
            checks.append((failed, "invalid_value", _bad_value(column.name, expected)))
    names = set(entity.column_names)
    if "channel" in names:
        checks.append(
            (
                ~pl.col("channel").is_in(list(CHANNELS)),
                "invalid_value",
                _bad_value("channel", f"one of {', '.join(CHANNELS)}"),
            )
        )
    if "satisfaction_score" in names:
        low, high = SATISFACTION_SCORES
        checks.append(
            (
                ~pl.col("satisfaction_score").is_between(low, high),
                "invalid_value",
                _bad_value("satisfaction_score", f"between {low} and {high}"),
            )
        )
    if "unit_price" in names:
        checks.append(
            (
                (pl.col("unit_price") < 0) | (pl.col("unit_price") > UNIT_PRICE_MAX),
                "invalid_amount",
                _bad_value("unit_price", f"between 0 and {UNIT_PRICE_MAX:,.0f}"),
            )
        )
    if "discount_amount" in names:
        checks.append(
            (
                pl.col("discount_amount") < 0,
                "invalid_amount",
                _bad_value("discount_amount", "0 or more"),
            )
        )
    if "category_code" in names:
        codes = sorted(category_codes)
        checks.append(
            (
                pl.col("category_code").is_not_null() & ~pl.col("category_code").is_in(codes),
                "unknown_category",
                _bad_value("category_code", "a category of catalog.yaml"),
            )
        )
    if "customer_id" in names and contact_ids is not None:
        checks.append(
            (
                pl.col("customer_id").is_not_null()
                & ~pl.col("customer_id").is_in(contact_ids.implode()),
                "unknown_customer",
                _bad_value("customer_id", "the contact_id of a loaded CRM contact"),
            )
        )
    reason: pl.Expr = pl.lit(None, pl.String)
    detail: pl.Expr = pl.lit(None, pl.String)
    for condition, name, message in reversed(checks):
        hit = condition.fill_null(False)
        reason = pl.when(hit).then(pl.lit(name)).otherwise(reason)
        detail = pl.when(hit).then(message).otherwise(detail)
    return frame.with_columns(reason.alias("_reason"), detail.alias("_detail"))
