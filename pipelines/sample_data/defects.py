"""Planting defects in the generated exports, one defect per defective row, and recording each.

Every frame arrives with `_day` (the row's day offset); this module gives each row its file
(`_path`, relative to `incoming/`) and its 1-based data row in that file (`_row`).
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import polars as pl

BAD_TIMESTAMPS = ("2026-13-45 25:61", "yesterday", "2026-02-30T10:00:00", "31/02/2026 08:00")
BAD_PRICES = (-4.5, -0.01, 99_999.0, 1_250_000.0)
UNKNOWN_CATEGORIES = ("snacks", "seasonal_special", "coffe")

# kind -> columns it may hit; `None` marks a duplicated row
ROW_DEFECTS: dict[str, dict[str, list[str] | None]] = {
    "contacts": {
        "missing_required": ["created_at", "updated_at"],
        "invalid_timestamp": ["updated_at", "created_at"],
        "duplicate_row": None,
    },
    "tickets": {
        "missing_required": ["ticket_id", "created_at"],
        "invalid_timestamp": ["created_at"],
        "duplicate_row": None,
    },
    "email_events": {
        "missing_required": ["email", "event_type", "occurred_at"],
        "invalid_timestamp": ["occurred_at"],
        "duplicate_row": None,
    },
    "order_lines": {
        "missing_required": ["order_id", "sku", "ordered_at", "category_code", "unit_price"],
        "invalid_amount": ["unit_price"],
        "invalid_timestamp": ["ordered_at"],
        "unknown_category": ["category_code"],
        "unknown_customer": ["customer_id"],
        "duplicate_row": None,
    },
    "events": {
        "missing_required": ["event_name", "user_pseudo_id", "session_id", "event_timestamp"],
        "invalid_timestamp": ["event_timestamp"],
        "unknown_category": ["category_code"],
        "duplicate_row": None,
    },
}
DEFECTS_SCHEMA = {
    "source": pl.String,
    "entity": pl.String,
    "file": pl.String,
    "row": pl.Int64,
    "column": pl.String,
    "defect_kind": pl.String,
    "expected_reason": pl.String,
}


def _bad_values(rng: np.random.Generator, kind: str, column: str, n: int) -> list:
    if kind == "missing_required":
        return [None] * n
    if kind == "invalid_timestamp":
        return list(np.array(BAD_TIMESTAMPS)[rng.integers(0, len(BAD_TIMESTAMPS), n)])
    if kind == "invalid_amount":
        return list(np.array(BAD_PRICES)[rng.integers(0, len(BAD_PRICES), n)])
    if kind == "unknown_category":
        return list(np.array(UNKNOWN_CATEGORIES)[rng.integers(0, len(UNKNOWN_CATEGORIES), n)])
    if kind == "unknown_customer":
        return [f"CX{v:06d}" for v in rng.integers(0, 1_000_000, n)]
    raise ValueError(f"no bad value for defect kind {kind!r} in column {column!r}")


def _plant_row_defects(
    rng: np.random.Generator, frame: pl.DataFrame, entity: str, rate: float
) -> pl.DataFrame:
    kinds = ROW_DEFECTS[entity]
    frame = frame.with_columns(
        pl.lit(None, pl.String).alias("_defect"),
        pl.lit(None, pl.String).alias("_defect_column"),
        pl.lit(0, pl.Int8).alias("_dup"),
    ).with_row_index("_seq")
    # a contact's first record must load, or its orders would turn into unknown customers
    if entity == "contacts":
        eligible = np.flatnonzero(~frame["_first_record"].to_numpy())
    else:
        eligible = np.arange(frame.height)
    counts = (
        rng.binomial(len(eligible), min(1.0, rate / len(kinds)), len(kinds))
        if rate > 0
        else np.zeros(len(kinds), int)
    )
    # at least one row of every kind, so a small sample still shows them all
    if rate > 0:
        counts = np.maximum(counts, 1)
    total = min(int(counts.sum()), len(eligible))
    chosen = (
        rng.choice(eligible, size=total, replace=False) if total else np.array([], dtype=np.int64)
    )
    offsets = np.concatenate([[0], np.cumsum(counts)])
    duplicates = np.array([], dtype=np.int64)
    for (kind, columns), lo, hi in zip(kinds.items(), offsets[:-1], offsets[1:], strict=True):
        rows = chosen[lo : min(hi, total)]
        if len(rows) == 0:
            continue
        if columns is None:
            duplicates = rows
            continue
        which = rng.integers(0, len(columns), len(rows))
        for c, column in enumerate(columns):
            hit = rows[which == c]
            if len(hit) == 0:
                continue
            values = _bad_values(rng, kind, column, len(hit))
            series = frame[column].clone()
            if kind == "missing_required":
                series = series.scatter(hit, None)
            else:
                series = series.cast(
                    pl.String if isinstance(values[0], str) else series.dtype
                ).scatter(hit, values)
            frame = frame.with_columns(
                series.alias(column),
                frame["_defect"].scatter(hit, kind),
                frame["_defect_column"].scatter(hit, column),
            )
    if len(duplicates):
        copies = frame[np.sort(duplicates)].with_columns(
            pl.lit("duplicate_row").alias("_defect"), pl.lit(1, pl.Int8).alias("_dup")
        )
        frame = pl.concat([frame, copies]).sort("_seq", "_dup")
    return frame


def inject_defects(
    rng: np.random.Generator,
    frames: dict[tuple[str, str], pl.DataFrame],
    rate: float,
    start: date,
    file_names: dict[tuple[str, str], str],
) -> tuple[dict[tuple[str, str], pl.DataFrame], pl.DataFrame]:
    """Frames with `_path`/`_row` (and `_rename` for the renamed file) and the defect records."""
    out: dict[tuple[str, str], pl.DataFrame] = {}
    records: list[pl.DataFrame] = []
    file_events: list[dict] = []
    for (source, entity), frame in frames.items():
        if frame.is_empty():
            out[(source, entity)] = frame
            continue
        frame = _plant_row_defects(rng, frame, entity, rate)
        folder = pl.col("_day")
        name = pl.lit(file_names[(source, entity)])
        days_present = np.unique(frame["_day"].to_numpy())
        if rate > 0 and entity == "order_lines":
            # one day's POS file arrives two days late; its rows keep their own timestamps
            last_day = int(frame["_day"].max())
            late_candidates = days_present[days_present + 2 <= last_day]
            if len(late_candidates):
                late = int(rng.choice(late_candidates))
                folder = pl.when(pl.col("_day") == late).then(pl.lit(late + 2)).otherwise(folder)
                name = (
                    pl.when(pl.col("_day") == late)
                    .then(pl.lit(f"order_lines_late_{start + timedelta(days=late)}.csv.gz"))
                    .otherwise(name)
                )
                file_events.append(
                    {
                        "source": source,
                        "entity": entity,
                        "file": f"pos/{start + timedelta(days=late + 2)}/order_lines_late_{start + timedelta(days=late)}.csv.gz",
                        "defect_kind": "late_file",
                    }
                )
        frame = frame.with_columns(
            pl.format(
                "{}/{}/{}",
                pl.lit(source),
                pl.lit(start).dt.offset_by(pl.format("{}d", folder)).cast(pl.String),
                name,
            ).alias("_path")
        )
        if rate > 0 and entity == "contacts" and len(days_present) > 1:
            # one CRM export calls the phone column `phone_number` (the mapping has the alias)
            renamed_day = int(rng.choice(days_present[1:]))
            path = f"crm/{start + timedelta(days=renamed_day)}/{file_names[(source, entity)]}"
            frame = frame.with_columns(
                pl.when(pl.col("_path") == path)
                .then(pl.lit(json.dumps({"phone": "phone_number"})))
                .alias("_rename")
            )
            file_events.append(
                {"source": source, "entity": entity, "file": path, "defect_kind": "renamed_column"}
            )
        frame = frame.with_columns(pl.int_range(1, pl.len() + 1).over("_path").alias("_row"))
        records.append(
            frame.filter(pl.col("_defect").is_not_null()).select(
                pl.lit(source).alias("source"),
                pl.lit(entity).alias("entity"),
                pl.col("_path").alias("file"),
                pl.col("_row").cast(pl.Int64).alias("row"),
                pl.col("_defect_column").alias("column"),
                pl.col("_defect").alias("defect_kind"),
                pl.col("_defect").alias("expected_reason"),
            )
        )
        out[(source, entity)] = frame
    for event in file_events:
        records.append(
            pl.DataFrame(
                [
                    {
                        **event,
                        "row": None,
                        "column": "phone" if event["defect_kind"] == "renamed_column" else None,
                        "expected_reason": None,
                    }
                ],
                schema=DEFECTS_SCHEMA,
            )
        )
    defects = (
        pl.concat([r.cast(DEFECTS_SCHEMA).select(list(DEFECTS_SCHEMA)) for r in records])
        if records
        else pl.DataFrame(schema=DEFECTS_SCHEMA)
    )
    return out, defects
