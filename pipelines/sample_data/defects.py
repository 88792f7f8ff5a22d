"""Planting defects in the generated exports, one defect per defective row, and recording each.

Row defects are planted per block of customers (`plant_row_defects`, marking `_defect`,
`_defect_column`, `_dup` and the row's place `_seq`). The file-level defects (a late file, a
renamed column) are chosen once for the whole sample (`choose_file_defects`), and when a day's
rows are written, `assign_files` gives each row its file (`_path`, relative to `incoming/`) and
its 1-based data row in that file (`_row`), from which `defect_records` are the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


def plant_row_defects(
    rng: np.random.Generator, frame: pl.DataFrame, entity: str, rate: float
) -> pl.DataFrame:
    """The frame with one defect planted in about `rate` of its rows, marked in `_defect`.

    Rows keep their place in `_seq`; a duplicated row's copy (`_dup` 1) is appended, so the
    files' order is `_seq`, `_dup`.
    """
    kinds = ROW_DEFECTS[entity]
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
    kind_names = [None, *kinds]
    column_names: list[str | None] = [None]
    kind_code = np.zeros(frame.height, dtype=np.int64)
    column_code = np.zeros(frame.height, dtype=np.int64)
    damage: dict[str, list[tuple[np.ndarray, list]]] = {}
    for k, ((kind, columns), lo, hi) in enumerate(
        zip(kinds.items(), offsets[:-1], offsets[1:], strict=True), start=1
    ):
        rows = chosen[lo : min(hi, total)]
        if len(rows) == 0:
            continue
        if columns is None:  # the copy carries the defect, the original loads
            duplicates = rows
            continue
        kind_code[rows] = k
        which = rng.integers(0, len(columns), len(rows))
        for c, column in enumerate(columns):
            hit = rows[which == c]
            if len(hit) == 0:
                continue
            if column not in column_names:
                column_names.append(column)
            column_code[hit] = column_names.index(column)
            damage.setdefault(column, []).append((hit, _bad_values(rng, kind, column, len(hit))))
    damaged = []
    for column, hits in damage.items():
        series = frame[column]
        for hit, values in hits:
            if values[0] is not None and isinstance(values[0], str):
                series = series.cast(pl.String)
            series = series.scatter(hit, values)
        damaged.append(series.alias(column))
    frame = frame.with_columns(
        *damaged,
        pl.Series("_defect", kind_names, pl.String).gather(kind_code),
        pl.Series("_defect_column", column_names, pl.String).gather(column_code),
        pl.lit(0, pl.Int8).alias("_dup"),
    ).with_row_index("_seq")
    if len(duplicates):
        copies = frame[np.sort(duplicates)].with_columns(
            pl.lit("duplicate_row").alias("_defect"), pl.lit(1, pl.Int8).alias("_dup")
        )
        frame = pl.concat([frame, copies])
    return frame


@dataclass
class FileDefects:
    """The day (offset) whose POS file arrives late, the day whose contacts file renames a column."""

    late_day: int | None = None
    renamed_day: int | None = None
    records: list[dict] = field(default_factory=list)

    def path(self, source: str, entity: str, day: int, start: date, file_name: str) -> str:
        """The file (relative to `incoming/`) that holds `day`'s rows of this entity."""
        if entity == "order_lines" and day == self.late_day:
            arrived = start + timedelta(days=day + 2)
            late_name = file_name.replace(
                "order_lines", f"order_lines_late_{start + timedelta(days=day)}", 1
            )
            return f"{source}/{arrived}/{late_name}"
        return f"{source}/{start + timedelta(days=day)}/{file_name}"

    def renamed(self, source: str, entity: str, day: int) -> dict[str, str]:
        """Columns renamed in that day's file of this entity (old name -> name written)."""
        if entity == "contacts" and day == self.renamed_day:
            return {"phone": "phone_number"}
        return {}


def choose_file_defects(
    rng: np.random.Generator,
    days_present: dict[tuple[str, str], np.ndarray],
    rate: float,
    start: date,
    file_names: dict[tuple[str, str], str],
) -> FileDefects:
    """One late POS file and one contacts file with a renamed column (none when `rate` is 0)."""
    chosen = FileDefects()
    if rate <= 0:
        return chosen
    lines_days = days_present.get(("pos", "order_lines"))
    if lines_days is not None and len(lines_days):
        # one day's POS file arrives two days late; its rows keep their own timestamps
        candidates = lines_days[lines_days + 2 <= lines_days.max()]
        if len(candidates):
            chosen.late_day = int(rng.choice(candidates))
            path = chosen.path(
                "pos", "order_lines", chosen.late_day, start, file_names[("pos", "order_lines")]
            )
            chosen.records.append(
                {"source": "pos", "entity": "order_lines", "file": path, "defect_kind": "late_file"}
            )
    contact_days = days_present.get(("crm", "contacts"))
    if contact_days is not None and len(contact_days) > 1:
        # one CRM export calls the phone column `phone_number` (the mapping has the alias)
        chosen.renamed_day = int(rng.choice(contact_days[1:]))
        path = chosen.path(
            "crm", "contacts", chosen.renamed_day, start, file_names[("crm", "contacts")]
        )
        chosen.records.append(
            {"source": "crm", "entity": "contacts", "file": path, "defect_kind": "renamed_column"}
        )
    return chosen


def assign_files(
    frame: pl.DataFrame,
    source: str,
    entity: str,
    start: date,
    file_name: str,
    file_defects: FileDefects,
) -> pl.DataFrame:
    """`_path` and the 1-based `_row` in that file; the frame must be in the files' row order."""
    days = frame["_day"].unique().sort().to_list()
    paths = pl.DataFrame(
        {
            "_day": days,
            "_path": [file_defects.path(source, entity, d, start, file_name) for d in days],
        },
        schema={"_day": frame.schema["_day"], "_path": pl.String},
    )
    frame = frame.join(paths, on="_day", how="left", maintain_order="left")
    return frame.with_columns(pl.int_range(1, pl.len() + 1).over("_path").alias("_row"))


def defect_records(frame: pl.DataFrame, source: str, entity: str) -> pl.DataFrame:
    """The rows of `frame` (with `_path`/`_row`) that carry a defect, in `DEFECTS_SCHEMA`."""
    return (
        frame.filter(pl.col("_defect").is_not_null())
        .select(
            pl.lit(source).alias("source"),
            pl.lit(entity).alias("entity"),
            pl.col("_path").alias("file"),
            pl.col("_row").cast(pl.Int64).alias("row"),
            pl.col("_defect_column").alias("column"),
            pl.col("_defect").alias("defect_kind"),
            pl.col("_defect").alias("expected_reason"),
        )
        .cast(DEFECTS_SCHEMA)  # type: ignore[arg-type]
    )


def file_defect_records(file_defects: FileDefects) -> pl.DataFrame:
    """The late file and the renamed column, one row each, with no row and no expected reason."""
    return pl.DataFrame(
        [
            {
                **event,
                "row": None,
                "column": "phone" if event["defect_kind"] == "renamed_column" else None,
                "expected_reason": None,
            }
            for event in file_defects.records
        ],
        schema=DEFECTS_SCHEMA,
    )
