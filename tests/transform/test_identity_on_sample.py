"""Identity resolution on the generated sample, scored against its ground truth (sample_truth/).

The default sample (2,000 customers, 365 days) is generated, loaded by the ingest stage's loader
and built with dbt; the pair precision and recall over orders, CRM contacts and cookies are
printed and must both reach 0.98.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.conftest import sample_end
from tests.transform.dbt_runner import run_dbt
from tests.transform.identity_score import score_against_truth

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


def test_identity_resolution_precision_and_recall_on_default_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    sample_data.generate(
        data_dir,
        customers=CUSTOMERS,
        days=DAYS,
        end_date=sample_end(),
        seed=42,
    )
    warehouse = tmp_path / "warehouse.duckdb"
    load_sample(data_dir, warehouse)
    run_dbt(warehouse, tmp_path, ["run"])

    score, unscored = score_against_truth(warehouse, data_dir / "sample_truth")
    with capsys.disabled():
        print(f"\n{score}; {unscored} orders without a usable identifier not scored")
    assert score.precision >= MIN_PRECISION, str(score)
    assert score.recall >= MIN_RECALL, str(score)
