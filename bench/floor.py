"""The floor: the least work that turns the landed files into RFM segments.

Plain DuckDB `read_csv` / `read_json` / `read_parquet` of every file into tables, the RFM
features in one SQL statement, MiniBatchKMeans on them. No quarantine, identity resolution,
feature history, checks or publication: that is what the pipeline adds on top of this.

    python -m bench.floor --incoming DIR --first D --last D --database floor.duckdb --out floor.json
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np

from bench.landing import landed_files

# union_by_name over all 730 gzipped files of a tier at once took 18.8 GiB and failed: read in batches
FILES_PER_READ = 100

READERS = {
    "csv": "read_csv({files}, union_by_name = true, ignore_errors = true)",
    "json": "read_json({files}, format = 'newline_delimited', union_by_name = true, "
    "ignore_errors = true)",
    "parquet": "read_parquet({files}, union_by_name = true)",
}

# One statement: order lines -> orders -> recency, frequency, monetary per known customer.
RFM_SQL = """
create or replace table rfm as
with lines as (
    select
        cast(customer_id as varchar) as customer_id,
        cast(order_id as varchar) as order_id,
        try_cast(ordered_at as timestamp) as ordered_at,
        try_cast(quantity as double) as quantity,
        try_cast(unit_price as double) as unit_price,
        coalesce(try_cast(discount_amount as double), 0) as discount_amount
    from pos_order_lines
    where customer_id is not null
),
orders as (
    select
        customer_id,
        order_id,
        min(ordered_at) as ordered_at,
        sum(quantity * unit_price - discount_amount) as net_revenue,
        bool_and(quantity < 0) as is_return
    from lines
    group by customer_id, order_id
),
as_of as (select max(ordered_at)::date + 1 as as_of_date from orders)
select
    customer_id,
    date_diff('day', max(ordered_at)::date, any_value(as_of.as_of_date)) as recency_days,
    count(*) filter (where not is_return) as frequency,
    sum(net_revenue) as monetary
from orders, as_of
where ordered_at is not null
group by customer_id
"""


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def load(con: duckdb.DuckDBPyConnection, files: dict[str, dict[str, list[Path]]]) -> dict[str, int]:
    """Every file into one table per source entity; returns rows per table."""
    rows = {}
    for table, by_format in sorted(files.items()):
        chunks = [
            (fmt, paths[i : i + FILES_PER_READ])
            for fmt, paths in sorted(by_format.items())
            for i in range(0, len(paths), FILES_PER_READ)
        ]
        for i, (fmt, paths) in enumerate(chunks):
            # batches sniff different types ("yesterday" in a timestamp column): land text, cast in SQL
            select = "select columns(*)::varchar from " + READERS[fmt].format(
                files=_sql_list(paths)
            )
            if i == 0:
                con.execute(f"create or replace table {table} as {select}")
                continue
            # a batch may bring a column the earlier ones lacked (a renamed column in one file)
            known = set(con.table(table).columns)
            for column in con.sql(select).columns:
                if column not in known:
                    con.execute(f'alter table {table} add column "{column}" varchar')
            con.execute(f"insert into {table} by name {select}")
        rows[table] = con.sql(f"select count(*) from {table}").fetchall()[0][0]
    return rows


def rfm(con: duckdb.DuckDBPyConnection) -> int:
    """The RFM features in one statement; returns the customers scored."""
    con.execute(RFM_SQL)
    return con.sql("select count(*) from rfm").fetchall()[0][0]


def cluster(con: duckdb.DuckDBPyConnection, clusters: int = 4) -> np.ndarray:
    """MiniBatchKMeans on log-scaled, standardised R, F and M; returns the cluster of each row."""
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.preprocessing import StandardScaler

    arrays = con.sql(
        "select recency_days, frequency, monetary from rfm order by customer_id"
    ).fetchnumpy()
    matrix = np.column_stack([np.asarray(arrays[c], dtype=float) for c in arrays])
    matrix = StandardScaler().fit_transform(np.log1p(np.clip(np.nan_to_num(matrix), 0, None)))
    model = MiniBatchKMeans(
        n_clusters=min(clusters, len(matrix)), random_state=0, n_init=3, batch_size=4096
    )
    return model.fit_predict(matrix)


def run_floor(incoming: Path, first: date, last: date, database: Path) -> dict[str, object]:
    """Time the three floor stages on the files of days first..last."""
    database.unlink(missing_ok=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    files = landed_files(incoming, first, last)
    with duckdb.connect(str(database)) as con:
        tick = time.perf_counter()
        rows = load(con, files)
        timings["load"] = time.perf_counter() - tick
        tick = time.perf_counter()
        customers = rfm(con)
        timings["rfm_sql"] = time.perf_counter() - tick
        tick = time.perf_counter()
        labels = cluster(con)
        timings["kmeans"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - started
    return {
        "stages_s": {k: round(v, 3) for k, v in timings.items()},
        "rows": rows,
        "files": sum(len(p) for by_format in files.values() for p in by_format.values()),
        "customers_scored": customers,
        "clusters": len(set(labels.tolist())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The floor: DuckDB read, RFM SQL, KMeans.")
    parser.add_argument("--incoming", type=Path, required=True)
    parser.add_argument("--first", type=date.fromisoformat, required=True)
    parser.add_argument("--last", type=date.fromisoformat, required=True)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    result = run_floor(args.incoming, args.first, args.last, args.database)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
