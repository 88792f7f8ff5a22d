"""The models' compiled SQL reads a table it names twice without copying it first.

DuckDB materializes a CTE that is referenced more than once: an import CTE such as
`orders as (select * from {{ ref('orders') }})` read by two later CTEs becomes a full copy of the
table before either reads it. At tier L that copy took `int_web_events_deduplicated` from 42.5 s
to 97.9 s (34.7M events) and cost `customer_features` 26 s (docs/performance.md), so an import
CTE read more than once is declared `as not materialized`, and each reader scans the table with
its own filters.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.transform.dbt_runner import run_dbt

CTE = re.compile(r"^(\w+) as (not materialized )?\(\n(.*?)^\),?$", re.M | re.S)
# a relation as dbt compiles a ref or source for DuckDB: "database"."schema"."name"
IMPORT = re.compile(r'select \* from "[^"]+"\."[^"]+"\."[^"]+"( where .*)?', re.S)


def import_ctes_read_twice_and_materialized(sql: str) -> list[str]:
    """The import CTEs in `sql` read by more than one FROM or JOIN and not marked
    `not materialized`."""
    code = re.sub(r"--[^\n]*", "", sql)  # without comments
    found = []
    for match in CTE.finditer(code):
        name, not_materialized, body = match.groups()
        if not IMPORT.fullmatch(" ".join(body.split())):
            continue
        reads = len(re.findall(rf"\b(?:from|join)\s+{name}\b", code))
        if reads > 1 and not not_materialized:
            found.append(f"{name} (read {reads} times)")
    return found


def test_the_check_finds_an_import_read_twice() -> None:
    sql = (
        'with\n\norders as (\n    select * from "warehouse"."marts"."orders"\n),\n\n'
        "firsts as (\n    select min(ordered_at) from orders\n),\n\n"
        "lasts as (\n    select max(ordered_at) from orders\n)\n\n"
        "select * from firsts cross join lasts\n"
    )
    assert import_ctes_read_twice_and_materialized(sql) == ["orders (read 2 times)"]
    marked = sql.replace("orders as (", "orders as not materialized (")
    assert import_ctes_read_twice_and_materialized(marked) == []
    once = sql.replace("select max(ordered_at) from orders", "select 1")
    assert import_ctes_read_twice_and_materialized(once) == []


def test_no_model_copies_a_table_it_reads_twice(tmp_path: Path) -> None:
    # compiled for a first build (no relation exists yet), so every Jinja loop is unrolled
    run_dbt(tmp_path / "warehouse.duckdb", tmp_path, ["compile", "--full-refresh"])
    compiled = tmp_path / "target" / "compiled"
    models = sorted(compiled.rglob("*.sql"))
    assert len(models) > 20, f"dbt compile wrote {len(models)} models under {compiled}"
    found = {
        path.name: ctes
        for path in models
        if (ctes := import_ctes_read_twice_and_materialized(path.read_text()))
    }
    assert not found, (
        "import CTEs read more than once are copied whole by DuckDB; declare them "
        f"`as not materialized`: {found}"
    )
