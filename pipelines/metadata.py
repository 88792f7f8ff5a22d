"""Small helpers that turn results into what a person reads in the Dagster UI."""

from __future__ import annotations

import polars as pl


def markdown_table(frame: pl.DataFrame, max_rows: int = 20) -> str:
    """A Markdown table of the first `max_rows` rows (floats rounded), for MetadataValue.md."""
    shown = frame.head(max_rows).with_columns(pl.selectors.float().round(3))
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "---|" * len(shown.columns)
    rows = [
        "| " + " | ".join("" if v is None else str(v) for v in row) + " |"
        for row in shown.iter_rows()
    ]
    more = [f"\n_{len(frame) - max_rows} more rows_"] if len(frame) > max_rows else []
    return "\n".join([header, rule, *rows, *more])
