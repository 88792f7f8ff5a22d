"""A generated sample loaded by the ingest loader and built by dbt, and its planted personas."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from pipelines.sample_data import generate
from tests.transform.dbt_runner import run_dbt
from tests.transform.test_identity_on_sample import load_sample


def load_generated_sample(
    root: Path, customers: int, days: int, end_date: date, seed: int = 42
) -> Path:
    """Generate a sample into root/data and load it into root/warehouse.duckdb; no dbt yet."""
    generate(root / "data", customers=customers, days=days, end_date=end_date, seed=seed)
    warehouse = root / "warehouse.duckdb"
    load_sample(root / "data", warehouse)
    return warehouse


def build_marts(warehouse: Path, work_dir: Path, *dbt_args: str) -> None:
    """`dbt run` on `warehouse` (every model, tests left to the transform suite)."""
    run_dbt(warehouse, work_dir, ["run", *dbt_args])


def personas_by_customer_key(con: duckdb.DuckDBPyConnection, truth_dir: Path) -> pl.DataFrame:
    """(customer_key, person_id, persona, churn_date): each key's person by most of its orders.

    Orders carry the truth's person_id, so every buying customer_key gets the person behind most
    of its orders (identity resolution merges the wrong people for well under 1% of keys).
    """
    return con.sql(
        f"""
        with truth_orders as (
            select * from read_parquet('{truth_dir / "orders.parquet"}')
        ),
        persons as (
            select * from read_parquet('{truth_dir / "persons.parquet"}')
        ),
        owners as (
            select orders.customer_key, mode(truth_orders.person_id) as person_id
            from marts.orders as orders
            inner join truth_orders on truth_orders.order_id = orders.order_id
            where orders.customer_key is not null
            group by orders.customer_key
        )
        select owners.customer_key, owners.person_id, persons.persona, persons.churn_date
        from owners
        inner join persons on persons.person_id = owners.person_id
        """
    ).pl()
