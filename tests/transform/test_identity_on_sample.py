"""Identity resolution on the generated sample, scored against its ground truth (sample_truth/).

The default sample (2,000 customers, 365 days) is generated, loaded by the ingest stage's loader
and built with dbt; the pair precision and recall over orders, CRM contacts and cookies are
printed and must both reach 0.98.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.transform.dbt_runner import run_dbt
from tests.transform.identity_score import PairScore, pair_score

sample_data = pytest.importorskip("pipelines.sample_data")

CUSTOMERS = 2000
DAYS = 365
MIN_PRECISION = MIN_RECALL = 0.98


def load_sample(data_dir: Path, warehouse: Path) -> None:
    """Load every landed day with the ingest stage's own loader, CRM first (POS checks contacts)."""
    from pipelines.ingest.catalog import load_categories, write_product_categories
    from pipelines.ingest.loader import load_days

    incoming = data_dir / "incoming"
    days = sorted({date.fromisoformat(d.name) for d in incoming.glob("*/*") if d.is_dir()})
    with duckdb.connect(str(warehouse)) as con:
        for source in ("crm", "pos", "web"):
            load_days(con, source, days, incoming)
        write_product_categories(con, load_categories())


def score_against_truth(warehouse: Path, truth: Path) -> tuple[PairScore, int]:
    """The pair score, and how many orders were left out because they carry no identifier."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(
            f"create temp view truth_identifiers as select * from '{truth / 'identifiers.parquet'}'"
        )
        con.execute(f"create temp view truth_orders as select * from '{truth / 'orders.parquet'}'")
        # an order without customer id, card, email, phone or web purchase cannot be linked to
        # anybody by any method: it is not scored
        identifiable_orders = """
            select distinct order_id from intermediate.int_order_lines_deduplicated
            where coalesce(customer_id, loyalty_id, email_hash, phone_hash) is not null
            union
            select transaction_id from intermediate.int_web_events_deduplicated
            where transaction_id is not null
        """
        unscored = con.execute(
            f"""
            select count(*) from truth_orders
            where person_id is not null and order_id not in ({identifiable_orders})
            """
        ).fetchone()[0]
        assignments = f"""
            select 'order:' || truth_orders.order_id as record_id, truth_orders.person_id,
                   orders.customer_key
            from truth_orders
            left join marts.orders using (order_id)
            where truth_orders.person_id is not null
                and truth_orders.order_id in ({identifiable_orders})
            union all
            -- contacts and cookies; a shared identifier belongs to nobody in particular
            select truth_identifiers.identifier_type || ':' || truth_identifiers.identifier_value,
                   any_value(truth_identifiers.person_id), any_value(identifiers.customer_key)
            from truth_identifiers
            left join marts.customer_identifiers as identifiers
                on identifiers.identifier_type = case truth_identifiers.identifier_type
                    when 'user_pseudo_id' then 'cookie' else truth_identifiers.identifier_type end
                and identifiers.identifier_value = trim(truth_identifiers.identifier_value)
            where truth_identifiers.identifier_type in ('contact_id', 'user_pseudo_id', 'cookie')
                and not truth_identifiers.is_shared
            group by 1
        """
        return pair_score(con, assignments), unscored


def test_identity_resolution_precision_and_recall_on_default_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    sample_data.generate(
        data_dir,
        customers=CUSTOMERS,
        days=DAYS,
        end_date=date.today() - timedelta(days=1),
        seed=42,
    )
    warehouse = tmp_path / "warehouse.duckdb"
    load_sample(data_dir, warehouse)
    run_dbt(warehouse, tmp_path, ["run"])

    score, unscored = score_against_truth(warehouse, data_dir / "sample_truth")
    with capsys.disabled():
        print(f"\n{score}; {unscored} orders without any identifier not scored")
    assert score.precision >= MIN_PRECISION, str(score)
    assert score.recall >= MIN_RECALL, str(score)
