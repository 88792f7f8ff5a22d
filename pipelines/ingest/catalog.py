"""The product catalogue (`pipelines/config/catalog.yaml`) and its table `raw.product_categories`."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import yaml

from pipelines.settings import CONFIG_DIR

CATALOG_PATH = CONFIG_DIR / "catalog.yaml"


def load_categories(path: Path = CATALOG_PATH) -> pl.DataFrame:
    """`code, name, preference_segment` per category, validated."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    categories = document.get("categories") if isinstance(document, dict) else None
    if not isinstance(categories, list) or not categories:
        raise ValueError(f"{path}: expected a non-empty 'categories:' list")
    rows = []
    for i, entry in enumerate(categories, start=1):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) and entry[k] for k in ("code", "name")
        ):
            raise ValueError(f"{path}: category {i} needs text 'code' and 'name', found {entry!r}")
        rows.append(
            {
                "code": entry["code"],
                "name": entry["name"],
                "preference_segment": entry.get("preference_segment"),
            }
        )
    codes = [r["code"] for r in rows]
    duplicated = sorted({c for c in codes if codes.count(c) > 1})
    if duplicated:
        raise ValueError(f"{path}: category code(s) {', '.join(duplicated)} appear twice")
    return pl.DataFrame(
        rows, schema={"code": pl.String, "name": pl.String, "preference_segment": pl.String}
    )


def write_product_categories(con: duckdb.DuckDBPyConnection, categories: pl.DataFrame) -> int:
    """Replace `raw.product_categories` with the catalogue; returns the number of categories."""
    con.execute("create schema if not exists raw")
    con.register("catalogue_rows", categories)
    try:
        con.execute(
            "create or replace table raw.product_categories as "
            "select code, name, preference_segment from catalogue_rows"
        )
    finally:
        con.unregister("catalogue_rows")
    return categories.height
